/**
 * The /v2 API: one handler that matches the URL's tail (server/v2/urls.ts) and
 * dispatches on the resource and method. It runs on Node's request and response
 * objects, not through express: the pull path's GETs are the registry's hottest code,
 * and express's per-request work (prototype swaps, its router, query parsing) was most
 * of their cost in the profile. No body parser: bodies are streamed by the handlers
 * that want them. Errors go to the one renderer (server/http/error-handler.ts).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { parse as parseQuery } from 'node:querystring';
import { matchV2Path, type V2Route } from './urls.js';
import { EVERYTHING, openAccess } from '../auth/authorizer.js';
import { requirementOf } from '../auth/requirement.js';
import { renderError } from '../http/error-handler.js';
import { RegistryError } from '../http/errors.js';
import type { Logger } from '../http/logging.js';
import { blobRoutes } from './blobs.js';
import { catalogRoutes } from './catalog.js';
import { manifestRoutes } from './manifests.js';
import { referrerRoutes } from './referrers.js';
import { tagRoutes } from './tags.js';
import { API_VERSION, sendJson, type Handlers, type RouteDeps, type V2Request } from './types.js';
import { uploadRoutes } from './uploads.js';

type AnyHandlers = Handlers<V2Route['route']>;

const EMPTY_QUERY = Object.freeze({}) as Record<string, string | string[] | undefined>;

export function v2Router(deps: RouteDeps, logger: Logger) {
  const uploads = uploadRoutes(deps);
  const table: Record<V2Route['route'], AnyHandlers> = {
    base: {
      GET: async (_req, res) => sendJson(res, '{}'),
      HEAD: async (_req, res) => void res.end(),
    },
    catalog: catalogRoutes(deps) as AnyHandlers,
    tags: tagRoutes(deps) as AnyHandlers,
    manifest: manifestRoutes(deps) as AnyHandlers,
    uploads: uploads.collection as AnyHandlers,
    upload: uploads.session as AnyHandlers,
    blob: blobRoutes(deps) as AnyHandlers,
    referrers: referrerRoutes(deps) as AnyHandlers,
  };

  const open = deps.authorizer === openAccess;

  async function dispatch(req: V2Request, res: ServerResponse): Promise<void> {
    // Relative to /v2 (express's mount, or the fast lane, cut it off) and still
    // percent-encoded: urls.ts matches raw paths. A raw '#' ends the URL as a fragment would.
    const url = req.url!;
    const hash = url.indexOf('#');
    const q = url.indexOf('?');
    const pathEnd = q >= 0 && (hash < 0 || q < hash) ? q : hash;
    const path = pathEnd < 0 ? url : url.slice(0, pathEnd);
    req.search = q < 0 || pathEnd !== q ? EMPTY_QUERY : (parseQuery(url.slice(q + 1, hash > q ? hash : undefined)) as V2Request['search']);
    const route = matchV2Path(path);
    if (!route) throw new RegistryError('NOT_FOUND', `no registry endpoint at ${(req.originalUrl ?? url).slice(0, 300)}`);
    // Manifest GETs and HEADs set it with the rest of their headers (server/v2/manifests.ts).
    if (route.route !== 'manifest' || (req.method !== 'GET' && req.method !== 'HEAD')) res.setHeader(API_VERSION[0], API_VERSION[1]);
    const handler = table[route.route][req.method as keyof AnyHandlers];
    if (!handler) {
      const allowed = Object.keys(table[route.route]).join(', ');
      throw new RegistryError('UNSUPPORTED', `${req.method} is not supported here; use ${allowed}`, undefined, 405, { Allow: allowed });
    }
    // Open access decides nothing: skip working out what the request needs (the pull path stays lean).
    req.principal = open ? EVERYTHING : await deps.authorizer.authorize(req, requirementOf(route, req.method!));
    await handler(req, res, route as never);
  }

  return function serveV2(req: IncomingMessage, res: ServerResponse): void {
    dispatch(req as V2Request, res).catch((err: unknown) => {
      if (!res.headersSent) res.setHeader(API_VERSION[0], API_VERSION[1]);
      renderError(logger, err, req, res);
    });
  };
}
