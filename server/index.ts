/** Start the registry over the configured storage: the embedded store, an HTTP(S) server. */
import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { readTls } from '../config/auth-files.js';
import { parseListenAddress, type WharfConfig } from '../config/config.js';
import { parsePlatform } from '../oci/manifest.js';
import { Registry } from '../storage/registry.js';
import { rm } from 'node:fs/promises';
import { Layout } from '../storage/layout.js';
import { loadOrCreateSessionSecret } from '../storage/session-secret.js';
import { createApp } from './app.js';
import { setupAuth } from './auth/setup.js';
import { createLogger, type Logger } from './http/logging.js';
import { answerMalformedRequest } from './http/malformed-requests.js';
import { acceptPendingConnections } from './http/accept-pending.js';
import type { CachingRegistry } from './proxy/cached-registry.js';
import { GcService } from './gc-service.js';
import { Metrics } from './metrics.js';

export interface RunningRegistry {
  /** e.g. http://127.0.0.1:41234 */
  url: string;
  port: number;
  registry: Registry;
  gc: GcService;
  /** the pull-through cache, when upstreams are configured */
  cache?: CachingRegistry;
  /**
   * Graceful stop: accept nothing new, let in-flight requests finish for up to
   * http.shutdownTimeout (then cut them), close LevelDB (releasing the data dir's lock),
   * flush the log.
   */
  close(): Promise<void>;
}

/** The UI's session key (configured or generated under the data root) and its upload dir, emptied. */
async function uiOptions(config: WharfConfig) {
  const secret = config.ui.sessionSecret ? Buffer.from(config.ui.sessionSecret, 'utf8') : await loadOrCreateSessionSecret(config.storage.root);
  const importDir = new Layout(config.storage.root).importsDir;
  await rm(importDir, { recursive: true, force: true });
  const { SessionCodec } = await import('./ui/session.js');
  return { sessions: new SessionCodec(secret, config.ui.sessionLifetime), importDir, importMaxBytes: config.ui.importMaxBytes };
}

export async function startRegistry(config: WharfConfig, logger: Logger = createLogger(config.log)): Promise<RunningRegistry> {
  const registry = await Registry.openEmbedded(config.storage.root, {
    manifestCacheBytes: config.storage.manifestCacheBytes,
    uploadExpiryMs: config.storage.uploads.expireAfter * 1000,
  });
  const baseUrl = config.http.host.replace(/\/$/, '');
  const auth = await setupAuth(config.auth, config.storage.root, baseUrl);
  const metrics = new Metrics({ blobs: registry.blobs, meta: registry.meta });
  let cache: CachingRegistry | undefined;
  if (config.proxy.upstreams.length > 0) {
    // Loaded only for a proxy cache: its HTTP client (undici) is ~19 MiB of RSS.
    const [{ CachingRegistry }, { Upstreams }, { Evictor }] = await Promise.all([
      import('./proxy/cached-registry.js'),
      import('./proxy/upstream.js'),
      import('./proxy/eviction.js'),
    ]);
    const upstreams = new Upstreams(config.proxy.upstreams, config.proxy.default);
    const evictor = config.proxy.maxBytes > 0 ? new Evictor(registry.blobs, registry.meta, registry.gcBarrier, upstreams, config.proxy.maxBytes) : undefined;
    cache = new CachingRegistry(registry, upstreams, metrics, evictor);
  }
  const gc = new GcService(registry, config.gc, logger, (run) => metrics.gcRun(run));
  const app = createApp({
    auth,
    registry,
    gc,
    metrics,
    ...(cache ? { cache } : {}),
    logger,
    deleteEnabled: config.storage.delete.enabled,
    logRequests: config.log.requests,
    baseUrl,
    corsOrigins: config.http.cors.origins,
    ...(config.ui.enabled ? { ui: await uiOptions(config) } : {}),
    defaultPlatform: parsePlatform(config.compatibility.defaultPlatform)!,
  });
  const tls = config.http.tls.certificate !== '';
  // Node checks headersTimeout/requestTimeout only every connectionsCheckingInterval
  // (30 s by default): without a shorter one, a slowloris outlives a 1 s headers timeout.
  const guardMs = Math.min(config.http.headersTimeout || Infinity, config.http.requestTimeout || Infinity);
  const connectionsCheckingInterval = Math.max(100, Math.min(5_000, Math.floor(guardMs / 2)));
  // A missing Host header is refused by the app (server/app.ts), in the error JSON.
  const serverOptions = { connectionsCheckingInterval, requireHostHeader: false };
  const server: Server = tls
    ? createHttpsServer({ ...readTls(config.http.tls.certificate, config.http.tls.key), ...serverOptions }, app)
    : createHttpServer(serverOptions, app);
  // Slowloris guards: a client must send its headers (and, if set, its whole request) in time.
  server.headersTimeout = config.http.headersTimeout;
  server.requestTimeout = config.http.requestTimeout;
  server.timeout = config.http.idleTimeout;
  server.keepAliveTimeout = 65_000;
  server.on('clientError', answerMalformedRequest);
  // A burst of connections is answered together, not one more per event-loop turn.
  acceptPendingConnections(server, { noDelay: true });

  const { host, port } = parseListenAddress(config.http.addr);
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (err) {
    await registry.close();
    throw err;
  }
  gc.start();
  const bound = (server.address() as AddressInfo).port;
  const shownHost = host.includes(':') ? `[${host}]` : host === '0.0.0.0' ? '127.0.0.1' : host;
  const url = `${tls ? 'https' : 'http'}://${shownHost}:${bound}`;
  logger.info({ url, root: config.storage.root, auth: auth.mode }, `wharf registry listening on ${url}`);
  logger.flush();
  // Abandoned upload sessions expire while the server runs, not only at the next start.
  const expiry = registry.startUploadExpiry((err) => logger.error({ err }, 'removing expired upload sessions failed'));

  let closing: Promise<void> | undefined;
  return {
    url,
    port: bound,
    registry,
    gc,
    ...(cache ? { cache } : {}),
    close() {
      closing ??= (async () => {
        clearInterval(expiry);
        gc.stop();
        const drained = new Promise<void>((resolve) => server.close(() => resolve()));
        // Idle keep-alive connections would hold close() open; in-flight requests get the grace
        // period, and each connection is closed as soon as its answer is out.
        server.closeIdleConnections();
        const sweep = setInterval(() => server.closeIdleConnections(), 50);
        let timer: NodeJS.Timeout | undefined;
        const cut = new Promise<void>((resolve) => {
          timer = setTimeout(() => {
            server.closeAllConnections();
            resolve();
          }, config.http.shutdownTimeout);
        });
        await Promise.race([drained, cut]);
        clearTimeout(timer);
        clearInterval(sweep);
        server.closeAllConnections();
        await cache?.close();
        await registry.close();
        logger.flush();
      })();
      return closing;
    },
  };
}
