/**
 * The request listener, built from a RegistryService (the embedded Registry, or the
 * proxy cache decorating it). The /v2 API is its own router on Node's request and
 * response objects (server/v2/router.ts); the rest (the token endpoint, /v1 search,
 * /healthz, what later features mount) is an express app. Middlewares are mounted in one
 * visible order, each only where needed. When no express middleware applies to /v2 (no
 * CORS, no proxy cache), /v2 requests go straight to its router, skipping express's
 * per-request work, which was most of a manifest GET's cost in the profile. The express
 * app and what it mounts (cors, the UI, search, admin, the proxy's name rewriting) are
 * loaded on the first request that needs them: a registry that only serves /v2,
 * /healthz and /metrics never pays their memory (express alone is ~16 MiB of RSS).
 * Tests build the same listener over a temp dir.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { RegistryService } from '../storage/types.js';
import { parsePlatform, type Platform } from '../oci/manifest.js';
import { openAccess } from './auth/authorizer.js';
import type { AuthSetup } from './auth/setup.js';
import { renderError } from './http/error-handler.js';
import { RegistryError } from './http/errors.js';
import { logRequest, type Logger } from './http/logging.js';
import type { SessionCodec } from './ui/session.js';
import { v2Router } from './v2/router.js';
import type { CachingRegistry } from './proxy/cached-registry.js';
import type { GcService } from './gc-service.js';
import type { Metrics } from './metrics.js';

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
  /** garbage collection, for the admin endpoint */
  gc?: GcService;
  /** /metrics, and the per-request counters behind it */
  metrics?: Metrics;
  /** origins allowed by CORS on /v2 and /v1; empty or absent: no CORS middleware at all */
  corsOrigins?: string[];
  /** the web catalog at /ui/; absent: not served */
  ui?: { sessions: SessionCodec; importDir: string; importMaxBytes: number };
  /** served from a multi-platform tag to clients that do not accept indexes; default linux/amd64 */
  defaultPlatform?: Platform;
}

export type RequestListener = (req: IncomingMessage, res: ServerResponse) => void;

/** RFC 9112: an HTTP/1.1 request without Host is a 400 (checked here so it gets the error JSON). */
function missingHost(req: IncomingMessage): RegistryError | undefined {
  if (req.headers.host === undefined && req.httpVersionMajor === 1 && req.httpVersionMinor === 1) {
    return new RegistryError('UNSUPPORTED', 'an HTTP/1.1 request needs a Host header', undefined, 400, { Connection: 'close' });
  }
  return undefined;
}

function isV2(url: string): boolean {
  return url.startsWith('/v2') && (url.length === 3 || url[3] === '/' || url[3] === '?' || url[3] === '#');
}

export function createApp(options: AppOptions): RequestListener {
  const { logger } = options;
  const v2 = v2Router(
    {
      registry: options.cache ?? options.registry,
      deleteEnabled: options.deleteEnabled,
      baseUrl: options.baseUrl ?? '',
      authorizer: options.auth?.authorizer ?? openAccess,
      defaultPlatform: options.defaultPlatform ?? parsePlatform('linux/amd64')!,
    },
    logger,
  );

  let expressApp: Promise<RequestListener> | undefined;
  const viaExpress = (req: IncomingMessage, res: ServerResponse): void => {
    expressApp ??= buildExpressApp(options, v2);
    expressApp.then(
      (app) => app(req, res),
      (err: unknown) => renderError(logger, err, req, res),
    );
  };
  const metrics = options.metrics;

  const fastLane = !options.corsOrigins?.length && !options.cache;

  return function wharf(req, res) {
    if (metrics) metrics.track(req, res);
    if (options.logRequests) logRequest(logger, req, res);
    const refused = missingHost(req);
    if (refused) return renderError(logger, refused, req, res);
    const url = req.url ?? '';
    if (fastLane && isV2(url)) {
      // As express's mount does: the original URL kept, the router's URL relative to /v2.
      (req as IncomingMessage & { originalUrl: string }).originalUrl = url;
      req.url = url[3] === '/' ? url.slice(3) : `/${url.slice(3)}`;
      v2(req, res);
    } else if (url === '/healthz' && (req.method === 'GET' || req.method === 'HEAD')) {
      res.setHeader('Content-Type', 'application/json; charset=utf-8');
      res.setHeader('Content-Length', 15);
      res.end('{"status":"ok"}');
    } else if (metrics && url === '/metrics' && req.method === 'GET') {
      metrics.render().then(
        ({ contentType, body }) => {
          res.setHeader('Content-Type', contentType);
          res.end(body);
        },
        (err: unknown) => renderError(logger, err, req, res),
      );
    } else {
      viaExpress(req, res);
    }
  };
}

/** Everything but /v2's fast lane, /healthz and /metrics: loaded when first needed. */
async function buildExpressApp(options: AppOptions, v2: RequestListener): Promise<RequestListener> {
  const { logger } = options;
  const { default: express } = await import('express');
  const { errorHandler } = await import('./http/error-handler.js');
  const { searchRouter } = await import('./v1/search.js');
  const app = express();
  app.disable('x-powered-by');
  app.disable('etag');
  app.set('query parser', 'simple');
  app.get('/healthz', (_req, res) => void res.json({ status: 'ok' }));
  const metrics = options.metrics;
  if (metrics) {
    app.get('/metrics', async (_req, res, next) => {
      try {
        const { contentType, body } = await metrics.render();
        res.setHeader('Content-Type', contentType);
        res.end(body);
      } catch (err) {
        next(err);
      }
    });
  }
  if (options.auth?.tokenRouter) app.use('/auth', options.auth.tokenRouter);
  if (options.gc) app.use('/admin', (await import('./admin.js')).adminRouter(options.gc, options.auth));
  if (options.corsOrigins?.length) {
    const cors = (await import('./http/cors.js')).corsMiddleware(options.corsOrigins);
    app.use('/v2', cors);
    app.use('/v1', cors);
  }
  // The cache's names are rewritten before the router, so auth and routes see local names.
  if (options.cache) app.use('/v2', (await import('./proxy/namespaces.js')).cacheNamespaces(options.cache));
  if (options.ui) {
    const { uiRouter } = await import('./ui/router.js');
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
  // Mounted at /v2, express hands the router the URL relative to /v2, as the fast lane does.
  app.use('/v2', (req, res) => v2(req, res));
  // Outside the API too, a stranger gets the error JSON, not express's HTML page.
  app.use((req, _res, next) => next(new RegistryError('NOT_FOUND', `no registry endpoint at ${req.method} ${req.originalUrl.slice(0, 300)}`)));
  app.use(errorHandler(logger));

  return app;
}
