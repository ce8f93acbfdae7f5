/**
 * The express app, built from a RegistryService (the embedded Registry, or the proxy cache decorating it). Middlewares are mounted in
 * one visible order, each only where needed. Tests build the same app over a temp dir.
 */
import express from 'express';
import type { RegistryService } from '../storage/types.js';
import { openAccess } from './auth/authorizer.js';
import type { AuthSetup } from './auth/setup.js';
import { corsMiddleware } from './http/cors.js';
import { errorHandler } from './http/error-handler.js';
import { RegistryError } from './http/errors.js';
import { requestLogger, type Logger } from './http/logging.js';
import { uiRouter } from './ui/router.js';
import type { SessionCodec } from './ui/session.js';
import { searchRouter } from './v1/search.js';
import { v2Router } from './v2/router.js';
import type { CachingRegistry } from './proxy/cached-registry.js';
import { cacheNamespaces } from './proxy/namespaces.js';

export interface AppOptions {
  registry: RegistryService;
  logger: Logger;
  deleteEnabled: boolean;
  logRequests: boolean;
  baseUrl?: string;
  /** default: open access (the insecure localhost mode) */
  auth?: AuthSetup;
  /** the pull-through cache decorating `registry`, when upstreams are configured */
  cache?: CachingRegistry;
  /** origins allowed by CORS on /v2 and /v1; empty or absent: no CORS middleware at all */
  corsOrigins?: string[];
  /** the web catalog at /ui/; absent: not served */
  ui?: { sessions: SessionCodec; importDir: string; importMaxBytes: number };
}

/** RFC 9112: an HTTP/1.1 request without Host is a 400 (checked here so it gets the error JSON). */
function requireHostHeader(req: express.Request, _res: express.Response, next: express.NextFunction): void {
  if (req.headers.host === undefined && req.httpVersionMajor === 1 && req.httpVersionMinor === 1) {
    next(new RegistryError('UNSUPPORTED', 'an HTTP/1.1 request needs a Host header', undefined, 400, { Connection: 'close' }));
  } else {
    next();
  }
}

export function createApp(options: AppOptions): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.disable('etag');
  app.set('query parser', 'simple');

  if (options.logRequests) app.use(requestLogger(options.logger));
  app.use(requireHostHeader);
  app.get('/healthz', (_req, res) => void res.json({ status: 'ok' }));
  if (options.auth?.tokenRouter) app.use('/auth', options.auth.tokenRouter);
  if (options.corsOrigins?.length) {
    const cors = corsMiddleware(options.corsOrigins);
    app.use('/v2', cors);
    app.use('/v1', cors);
  }
  // The cache's names are rewritten before the router, so auth and routes see local names.
  if (options.cache) app.use('/v2', cacheNamespaces(options.cache));
  if (options.ui) {
    app.get('/', (_req, res) => res.redirect(302, '/ui/'));
    app.use(
      '/ui',
      uiRouter({
        registry: options.registry,
        ...(options.auth ? { auth: options.auth } : {}),
        deleteEnabled: options.deleteEnabled,
        logger: options.logger,
        baseUrl: options.baseUrl ?? '',
        ...options.ui,
      }),
    );
  }
  app.use(
    '/v1',
    searchRouter({
      registry: options.registry,
      authorizer: options.auth?.authorizer ?? openAccess,
      ...(options.auth ? { policy: options.auth.policy } : {}),
    }),
  );
  app.use(
    '/v2',
    v2Router({
      registry: options.cache ?? options.registry,
      deleteEnabled: options.deleteEnabled,
      baseUrl: options.baseUrl ?? '',
      authorizer: options.auth?.authorizer ?? openAccess,
    }),
  );
  // Outside the API too, a stranger gets the error JSON, not express's HTML page.
  app.use((req, _res, next) => next(new RegistryError('NOT_FOUND', `no registry endpoint at ${req.method} ${req.originalUrl.slice(0, 300)}`)));
  app.use(errorHandler(options.logger));
  return app;
}
