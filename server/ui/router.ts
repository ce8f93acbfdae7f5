/**
 * The web catalog at /ui/ (server-rendered pages, no client framework):
 *
 *   GET  /ui/                          repositories (filter ?q=, pages ?last=)
 *   GET  /ui/r/<name>/                 a repository's tags (digest, size, created, platforms)
 *   GET  /ui/r/<name>/_/m/<ref>        a manifest: config, layers, referrers, docker pull line
 *   POST /ui/r/<name>/_/delete         delete a tag or a manifest (csrf + Origin checked)
 *   GET|POST /ui/login, POST /ui/logout
 *   GET|POST /ui/import                the archive upload form (multer, to disk, size limit)
 *   GET  /ui/static/ui.{js,css}
 *
 * It shows only what the access rules let the session's user pull, and deletes only
 * what they let it delete: the same AccessPolicy as the registry's. `_` is not a valid
 * path component of a repository name, so `/_/` ends the name unambiguously.
 * Every page carries a strict Content-Security-Policy; errors are pages, not JSON.
 */
import { createReadStream } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import express, { type NextFunction, type Request, type Response, type Router } from 'express';
import multer from 'multer';
import { ArchiveError, DEFAULT_LIMITS } from '../../oci/archive-read.js';
import { importArchive } from '../../oci/archive-import.js';
import { parseRepositoryName, parseTag, parseDigest, type RepositoryName, type Tag, type Digest } from '../../oci/names.js';
import type { RegistryService } from '../../storage/types.js';
import { ALL_ACTIONS, type Action } from '../auth/access-policy.js';
import type { AuthSetup } from '../auth/setup.js';
import { toRegistryError } from '../http/errors.js';
import type { Logger } from '../http/logging.js';
import { ImageInfo, parseReference, type TagSummary } from '../image-info.js';
import { Html } from './html.js';
import { RegistryImportTarget } from './import-target.js';
import { csrfMatches, type Session, type SessionCodec } from './session.js';
import { serveStatic } from './static.js';
import * as views from './views.js';

export interface UiDeps {
  registry: RegistryService;
  auth?: AuthSetup;
  deleteEnabled: boolean;
  sessions: SessionCodec;
  /** where uploaded archives wait while they are imported (under the data root) */
  importDir: string;
  importMaxBytes: number;
  logger: Logger;
  /** the configured external base URL, if any (its host goes in docker pull lines) */
  baseUrl: string;
}

const PAGE = 50;
const SCAN_BATCH = 1000;

export const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "form-action 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
].join('; ');

class UiError extends Error {
  constructor(
    readonly status: number,
    readonly title: string,
    message: string,
  ) {
    super(message);
  }
}

const notFound = (what: string) => new UiError(404, 'Not found', what);

function securityHeaders(_req: Request, res: Response, next: NextFunction): void {
  res.setHeader('Content-Security-Policy', CONTENT_SECURITY_POLICY);
  res.setHeader('X-Content-Type-Options', 'nosniff');
  res.setHeader('X-Frame-Options', 'DENY');
  res.setHeader('Referrer-Policy', 'same-origin');
  res.setHeader('Cache-Control', 'no-store');
  next();
}

export function uiRouter(deps: UiDeps): Router {
  const router = express.Router();
  const info = new ImageInfo(deps.registry);
  const open = !deps.auth || deps.auth.mode === 'none';
  const policy = deps.auth?.policy;
  const users = deps.auth?.users;
  const form = express.urlencoded({ extended: false, limit: '16kb', parameterLimit: 20 });
  const upload = multer({
    storage: multer.diskStorage({ destination: deps.importDir }),
    limits: { fileSize: deps.importMaxBytes, files: 1, fields: 10, fieldSize: 4096, parts: 12 },
  }).single('archive');

  const session = (res: Response): Session => res.locals.session as Session;
  const allowed = (res: Response, repo: string): Set<Action> =>
    open ? new Set(ALL_ACTIONS) : (policy?.allowed(session(res).sub, repo) ?? new Set());
  const context = (req: Request, res: Response): views.PageContext => {
    const s = session(res);
    const ctx: views.PageContext = {
      csrf: s.csrf,
      loginAvailable: users !== undefined,
      registryHost: deps.baseUrl ? new URL(deps.baseUrl).host : (req.headers.host ?? 'localhost'),
      importAvailable: open || s.sub !== undefined,
    };
    if (s.sub !== undefined) ctx.user = s.sub;
    return ctx;
  };
  const send = (res: Response, page: Html, status = 200) => {
    res.status(status).setHeader('Content-Type', 'text/html; charset=utf-8');
    res.send(page.value);
  };

  /** A form post must come from this site: the Origin header, and the session's CSRF token. */
  const checkOrigin = (req: Request) => {
    const origin = req.headers.origin;
    const expected = [`${req.protocol}://${req.headers.host}`];
    if (deps.baseUrl) expected.push(new URL(deps.baseUrl).origin);
    if (origin === undefined ? req.headers['sec-fetch-site'] !== 'same-origin' : !expected.includes(origin)) {
      throw new UiError(403, 'Forbidden', 'This form was not sent from this site (the Origin header does not match); reload the page and try again.');
    }
  };
  const checkCsrf = (req: Request, res: Response) => {
    if (!csrfMatches(session(res), (req.body as Record<string, unknown> | undefined)?.csrf)) {
      throw new UiError(403, 'Forbidden', 'The form has expired (its CSRF token does not match your session); reload the page and try again.');
    }
  };

  router.use(securityHeaders);
  router.use((req, res, next) => {
    if (req.method === 'GET' && req.path.startsWith('/static/')) {
      if (serveStatic(req, res)) return;
    }
    let s = deps.sessions.read(req);
    if (!s) {
      s = deps.sessions.create();
      deps.sessions.write(req, res, s);
    }
    res.locals.session = s;
    next();
  });

  router.get('/', async (req, res) => {
    const query = req.query as Record<string, unknown>;
    const q = typeof query.q === 'string' ? query.q.trim().toLowerCase().slice(0, 200) : '';
    let last = typeof query.last === 'string' && query.last !== '' ? query.last : undefined;
    const names: string[] = [];
    let more = false;
    scan: for (;;) {
      const batch = await deps.registry.catalog(last === undefined ? { n: SCAN_BATCH } : { n: SCAN_BATCH, last });
      for (const name of batch) {
        if (!name.includes(q) || !allowed(res, name).has('pull')) continue;
        if (names.length === PAGE) {
          more = true;
          break scan;
        }
        names.push(name);
      }
      if (batch.length < SCAN_BATCH) break;
      last = batch[batch.length - 1];
    }
    send(res, views.repositoriesPage(context(req, res), names, q, more ? names[names.length - 1] : undefined));
  });

  router.get('/login', (req, res) => {
    if (!users) throw new UiError(404, 'Not found', open ? 'This registry has no users: everything is open, no login is needed.' : 'This registry takes tokens from an external issuer; the UI has no login form for it.');
    send(res, views.loginPage(context(req, res)));
  });

  router.post('/login', form, async (req, res) => {
    if (!users) throw notFound('This registry has no login.');
    checkOrigin(req);
    checkCsrf(req, res);
    const body = req.body as Record<string, unknown>;
    const user = typeof body.username === 'string' ? body.username : '';
    const password = typeof body.password === 'string' ? body.password : '';
    const next = typeof body.next === 'string' && /^\/ui\/[^/\\]/.test(body.next + 'x') && !body.next.startsWith('//') ? body.next : '/ui/';
    if (user === '' || !(await users.verify({ user, password }))) {
      send(res, views.loginPage(context(req, res), 'Wrong user name or password.', next), 401);
      return;
    }
    // A new session (and CSRF token) on login: a session fixed before login is worth nothing after.
    const s = deps.sessions.create(user);
    deps.sessions.write(req, res, s);
    res.redirect(303, next);
  });

  router.post('/logout', form, (req, res) => {
    checkOrigin(req);
    checkCsrf(req, res);
    deps.sessions.write(req, res, deps.sessions.create());
    res.redirect(303, '/ui/');
  });

  router.get('/import', (req, res) => {
    const ctx = context(req, res);
    if (!ctx.importAvailable) throw new UiError(401, 'Log in first', 'Importing needs a user who may push: log in first.');
    send(res, views.importPage(ctx, deps.importMaxBytes));
  });

  router.post('/import', async (req, res) => {
    checkOrigin(req);
    const ctx = context(req, res);
    if (!ctx.importAvailable) throw new UiError(401, 'Log in first', 'Importing needs a user who may push: log in first.');
    await mkdir(deps.importDir, { recursive: true });
    try {
      await new Promise<void>((resolve, reject) => upload(req, res, (err?: unknown) => (err ? reject(err) : resolve())));
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (code === 'LIMIT_FILE_SIZE') throw new UiError(413, 'Archive too large', `The archive is larger than ${views.formatBytes(deps.importMaxBytes)} (ui.importMaxBytes).`);
      if (typeof code === 'string' && code.startsWith('LIMIT_')) throw new UiError(400, 'Bad form', `The form is not what the import expects (${(err as Error).message}).`);
      throw new UiError(400, 'Bad form', `The upload could not be read: ${(err as Error).message}`);
    }
    const file = req.file;
    try {
      checkCsrf(req, res);
      const body = req.body as Record<string, unknown>;
      const repo = parseRepositoryName(typeof body.repository === 'string' ? body.repository.trim() : '');
      if (!repo) throw new UiError(400, 'Bad repository name', 'The repository name must be lower-case letters and digits, separated by . _ - and /.');
      const tagText = typeof body.tag === 'string' ? body.tag.trim() : '';
      const tag = tagText === '' ? undefined : parseTag(tagText);
      if (tagText !== '' && !tag) throw new UiError(400, 'Bad tag', `“${tagText}” is not a valid tag.`);
      if (!file) throw new UiError(400, 'No archive', 'Choose an archive file to import.');
      const may = allowed(res, repo);
      if (!may.has('push') || !may.has('pull')) throw new UiError(403, 'Forbidden', `You may not push to ${repo}.`);
      let images;
      try {
        images = await importArchive(() => createReadStream(file.path), new RegistryImportTarget(deps.registry, repo), {
          ...(tag !== undefined ? { tag } : {}),
          limits: { ...DEFAULT_LIMITS, maxExpandedBytes: Math.max(8 * deps.importMaxBytes, 1024 ** 3) },
        });
      } catch (err) {
        if (err instanceof ArchiveError) {
          send(res, views.importPage(ctx, deps.importMaxBytes, `The archive was refused and nothing was imported: ${err.message}`), 400);
          return;
        }
        throw err;
      }
      send(res, views.importedPage(ctx, repo, images));
    } finally {
      if (file) await rm(file.path, { force: true });
    }
  });

  // /r/<name>/ , /r/<name>/_/m/<ref> , /r/<name>/_/delete
  router.use('/r', async (req, res, next) => {
    const path = req.path.slice(1);
    const sep = path.indexOf('/_/');
    const rawName = sep >= 0 ? path.slice(0, sep) : path.replace(/\/$/, '');
    const rest = sep >= 0 ? path.slice(sep + 3) : '';
    const repo = parseRepositoryName(rawName);
    // Not pullable and not there look the same (listTags and getManifest answer 404 for the latter).
    if (!repo || !allowed(res, repo).has('pull')) {
      throw notFound(`There is no repository “${rawName.slice(0, 200)}” that you may see.`);
    }
    if (sep < 0 && req.method === 'GET') {
      if (!path.endsWith('/')) return res.redirect(301, views.repoUrl(repo));
      return showTags(req, res, repo);
    }
    if (rest.startsWith('m/') && req.method === 'GET') return showManifest(req, res, repo, rest.slice(2));
    if (rest === 'delete' && req.method === 'POST') return form(req, res, (err?: unknown) => (err ? next(err) : deleteFromForm(req, res, repo).catch(next)));
    throw notFound('No such page.');
  });

  async function showTags(req: Request, res: Response, repo: RepositoryName): Promise<void> {
    const query = req.query as Record<string, unknown>;
    const last = typeof query.last === 'string' && parseTag(query.last) ? query.last : undefined;
    const tags = await deps.registry.listTags(repo, last === undefined ? { n: PAGE + 1 } : { n: PAGE + 1, last });
    const shown = tags.slice(0, PAGE);
    const summaries = (await Promise.all(shown.map((t) => info.tagSummary(repo, t as Tag).catch(() => undefined)))).filter((s): s is TagSummary => s !== undefined);
    const deleted = typeof query.deleted === 'string' ? `Deleted ${query.deleted.slice(0, 200)}.` : undefined;
    send(res, views.tagsPage(context(req, res), repo, summaries, tags.length > PAGE ? shown[shown.length - 1] : undefined, deleted));
  }

  async function showManifest(req: Request, res: Response, repo: RepositoryName, rawRef: string): Promise<void> {
    const ref = parseReference(rawRef);
    if (!ref) throw notFound(`“${rawRef.slice(0, 200)}” is neither a tag nor a digest.`);
    const manifest = await info.manifest(repo, ref);
    const config = manifest.kind === 'image' ? await info.config(repo, manifest) : undefined;
    const referrers = await deps.registry.referrers(repo, manifest.digest as Digest);
    const data: views.ManifestPageData = { repo, manifest, referrers, canDelete: deps.deleteEnabled && allowed(res, repo).has('delete') };
    if (ref.tag !== undefined) data.tag = ref.tag;
    if (config) data.config = config;
    send(res, views.manifestPage(context(req, res), data));
  }

  async function deleteFromForm(req: Request, res: Response, repo: RepositoryName): Promise<void> {
    checkOrigin(req);
    checkCsrf(req, res);
    if (!deps.deleteEnabled) throw new UiError(405, 'Deletes are disabled', 'This registry does not delete (storage.delete.enabled is false).');
    if (!allowed(res, repo).has('delete')) throw new UiError(403, 'Forbidden', `You may not delete in ${repo}.`);
    const body = req.body as Record<string, unknown>;
    const tag = typeof body.tag === 'string' ? parseTag(body.tag) : undefined;
    const digest = typeof body.digest === 'string' ? parseDigest(body.digest) : undefined;
    if (tag) await deps.registry.deleteTag(repo, tag);
    else if (digest) await deps.registry.deleteManifest(repo, digest);
    else throw new UiError(400, 'Bad form', 'Say which tag or manifest to delete.');
    const what = tag ? `tag ${tag}` : `manifest ${views.shortDigest(digest!)}`;
    res.redirect(303, `${views.repoUrl(repo)}?deleted=${encodeURIComponent(what)}`);
  }

  router.use(() => {
    throw notFound('No such page.');
  });

  router.use((err: unknown, req: Request, res: Response, _next: NextFunction) => {
    if (res.headersSent) {
      res.destroy();
      return;
    }
    if (!res.locals.session) res.locals.session = deps.sessions.create();
    let status: number;
    let title: string;
    let message: string;
    const known = err instanceof UiError ? undefined : toRegistryError(err);
    if (err instanceof UiError) ({ status, title, message } = err);
    else if (known) ({ status, message } = known), (title = status === 404 ? 'Not found' : 'Refused');
    else if ((err as { status?: number }).status === 400 || (err as { type?: string }).type === 'entity.too.large') {
      status = (err as { status?: number }).status ?? 400;
      title = 'Bad request';
      message = (err as Error).message;
    } else {
      deps.logger.error({ err, url: req.originalUrl }, 'ui: internal error');
      status = 500;
      title = 'Internal error';
      message = 'Something went wrong on the server; the log has the details.';
    }
    if (!req.complete) res.setHeader('Connection', 'close');
    send(res, views.errorPage(context(req, res), status, title, message), status);
  });
  return router;
}
