/**
 * The /v2 API: one handler that matches the URL's tail (server/v2/urls.ts) and
 * dispatches on the resource and method. No body parser is mounted: bodies are
 * streamed by the handlers that want them.
 */
import type { NextFunction, Request, Response } from 'express';
import { matchV2Path, type V2Route } from './urls.js';
import { EVERYTHING, openAccess } from '../auth/authorizer.js';
import { requirementOf } from '../auth/requirement.js';
import { RegistryError } from '../http/errors.js';
import { blobRoutes } from './blobs.js';
import { catalogRoutes } from './catalog.js';
import { manifestRoutes } from './manifests.js';
import { referrerRoutes } from './referrers.js';
import { tagRoutes } from './tags.js';
import type { Handlers, RouteDeps } from './types.js';
import { uploadRoutes } from './uploads.js';

type AnyHandlers = Handlers<V2Route['route']>;

export function v2Router(deps: RouteDeps) {
  const uploads = uploadRoutes(deps);
  const table: Record<V2Route['route'], AnyHandlers> = {
    base: {
      GET: async (_req, res) => void res.json({}),
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

  return async function dispatchV2(req: Request, res: Response, _next: NextFunction): Promise<void> {
    res.setHeader('Docker-Distribution-API-Version', 'registry/2.0');
    const route = matchV2Path(req.path);
    if (!route) throw new RegistryError('NOT_FOUND', `no registry endpoint at ${req.originalUrl.slice(0, 300)}`);
    const handler = table[route.route][req.method as keyof AnyHandlers];
    if (!handler) {
      const allowed = Object.keys(table[route.route]).join(', ');
      throw new RegistryError('UNSUPPORTED', `${req.method} is not supported here; use ${allowed}`, undefined, 405, { Allow: allowed });
    }
    // Open access decides nothing: skip working out what the request needs (the pull path stays lean).
    res.locals.principal = open ? EVERYTHING : await deps.authorizer.authorize(req, requirementOf(route, req.method));
    await handler(req, res, route as never);
  };
}
