/**
 * The built-in token endpoint of the Docker token authentication spec:
 *   GET  /auth/token?service=&scope=&account=&offline_token=   (Basic credentials or anonymous)
 *   POST /auth/token   (OAuth2 form: grant_type=password | refresh_token), as docker login uses
 *   GET  /auth/jwks.json   the public key, for registries that trust this issuer
 * It grants the intersection of what was asked and what the access rules allow, never more.
 */
import express, { type Request, type Response, type Router } from 'express';
import type { SigningKey } from '../../storage/signing-key.js';
import { RegistryError } from '../http/errors.js';
import type { AccessPolicy } from './access-policy.js';
import { parseBasic, type HtpasswdUsers } from './basic-credentials.js';
import { InvalidTokenError, type AccessEntry, type TokenSigner } from './tokens.js';

export interface TokenServerOptions {
  signer: TokenSigner;
  key: SigningKey;
  users?: HtpasswdUsers;
  policy: AccessPolicy;
  service: string;
  expiration: number;
  refreshExpiration: number;
}

/** "repository:name:pull,push" (the name may hold colons: host:port/name), "registry:catalog:*". */
export function parseScope(scope: string): AccessEntry | undefined {
  const first = scope.indexOf(':');
  const last = scope.lastIndexOf(':');
  if (first <= 0 || last === first) return undefined;
  const type = scope.slice(0, first).replace(/\(.*\)$/, '');
  const name = scope.slice(first + 1, last);
  const actions = scope.slice(last + 1).split(',').filter((a) => a !== '');
  if (name === '' || actions.length === 0) return undefined;
  return { type, name, actions };
}

function scopesOf(raw: unknown): string[] {
  const values = Array.isArray(raw) ? raw : raw === undefined ? [] : [raw];
  return values.filter((v): v is string => typeof v === 'string').flatMap((v) => v.split(' ')).filter((v) => v !== '');
}

export function tokenRouter(options: TokenServerOptions): Router {
  const { signer, users, policy, service } = options;
  const router = express.Router();

  const unauthorized = (message: string) =>
    new RegistryError('UNAUTHORIZED', message, undefined, 401, { 'WWW-Authenticate': `Basic realm="${service}"` });

  const checkService = (value: unknown) => {
    if (value !== undefined && value !== service) {
      throw new RegistryError('DENIED', `this token server issues tokens for service "${service}", not "${String(value).slice(0, 100)}"`, undefined, 400);
    }
  };

  /** Intersection of the asked scopes and what the rules allow `subject`. */
  const grant = (subject: string | undefined, scopes: string[]): AccessEntry[] => {
    const granted: AccessEntry[] = [];
    for (const s of scopes) {
      const asked = parseScope(s);
      if (!asked) continue;
      if (asked.type === 'registry' && asked.name === 'catalog') {
        // The catalog itself only lists what the subject may pull; its one action is `*`, granted only when asked.
        // `search` (docker search): results are filtered by the rules too.
        const actions = asked.actions.filter((a) => a === '*' || a === 'search');
        if (actions.length > 0 && (subject !== undefined || policy.anonymousHasAccess)) granted.push({ type: 'registry', name: 'catalog', actions });
      } else if (asked.type === 'registry' && asked.name === 'admin') {
        // The admin endpoints (GC): only for a subject who may delete everywhere.
        if (asked.actions.some((a) => a === 'delete' || a === '*') && policy.mayEverywhere(subject, 'delete')) {
          granted.push({ type: 'registry', name: 'admin', actions: ['delete'] });
        }
      } else if (asked.type === 'repository') {
        const allowed = policy.allowed(subject, asked.name);
        const actions = asked.actions.flatMap((a) => (a === '*' ? [...allowed] : allowed.has(a as never) ? [a] : []));
        if (actions.length > 0) granted.push({ type: 'repository', name: asked.name, actions: [...new Set(actions)] });
      }
    }
    return granted;
  };

  const issue = async (res: Response, subject: string | undefined, scopes: string[], withRefresh: boolean) => {
    const access = grant(subject, scopes);
    const { token, issuedAt } = await signer.accessToken(subject ?? '', access, options.expiration);
    const body: Record<string, unknown> = {
      token,
      access_token: token,
      expires_in: options.expiration,
      issued_at: issuedAt.toISOString(),
    };
    if (withRefresh && subject !== undefined) body.refresh_token = await signer.refreshToken(subject, options.refreshExpiration);
    res.setHeader('Cache-Control', 'no-store');
    res.json(body);
  };

  const authenticate = async (user: string, password: string): Promise<string> => {
    if (!users || !(await users.verify({ user, password }))) throw unauthorized('wrong user name or password');
    return user;
  };

  router.get('/token', async (req: Request, res: Response) => {
    const query = req.query as Record<string, unknown>;
    checkService(query.service);
    const credentials = parseBasic(req.headers.authorization);
    if (credentials === 'malformed') throw unauthorized('the Authorization header is not valid Basic credentials');
    const subject = credentials ? await authenticate(credentials.user, credentials.password) : undefined;
    await issue(res, subject, scopesOf(query.scope), query.offline_token === 'true');
  });

  router.post('/token', express.urlencoded({ extended: false, limit: '16kb' }), async (req: Request, res: Response) => {
    const form = (req.body ?? {}) as Record<string, unknown>;
    checkService(form.service);
    const scopes = scopesOf(form.scope);
    if (form.grant_type === 'password') {
      if (typeof form.username !== 'string' || typeof form.password !== 'string') throw unauthorized('username and password are required');
      await issue(res, await authenticate(form.username, form.password), scopes, true);
    } else if (form.grant_type === 'refresh_token') {
      if (typeof form.refresh_token !== 'string') throw unauthorized('refresh_token is required');
      let subject: string;
      try {
        subject = await signer.refreshSubject(form.refresh_token);
      } catch (err) {
        if (err instanceof InvalidTokenError) throw unauthorized(err.message);
        throw err;
      }
      if (!users?.has(subject)) throw unauthorized(`user ${subject} no longer exists`);
      await issue(res, subject, scopes, true);
    } else {
      throw new RegistryError('UNSUPPORTED', `grant_type must be password or refresh_token`, undefined, 400);
    }
  });

  router.get('/jwks.json', (_req, res) => void res.json({ keys: [options.key.publicJwk] }));
  return router;
}
