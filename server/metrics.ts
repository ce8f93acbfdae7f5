/**
 * `/metrics` in Prometheus' text format (prom-client), one registry per server so that
 * several Wharfs in one process (tests) never share counters.
 *
 * Cheap on the hot path: a request costs one 'finish' listener (a shared function, no
 * closure), a lookup of pre-built label children in nested objects, a counter increment
 * and a histogram observe. The route label comes from the URL's tail by string search,
 * not a second parse; bytes in and out are the socket's counters, as deltas.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { Counter, Gauge, Histogram, Registry as PromRegistry } from 'prom-client';
import type { BlobInfo, MetadataStore, BlobStore } from '../storage/types.js';
import type { CacheObserver } from './proxy/cached-registry.js';
import type { GcRun } from './gc-service.js';
import { bytesWrittenOn } from './http/send-file.js';

/** The route of a /v2 URL, by its tail; the names are those of server/v2/urls.ts. */
export function routeOf(url: string): string {
  if (!url.startsWith('/v2')) {
    if (url.startsWith('/metrics')) return 'metrics';
    if (url.startsWith('/admin')) return 'admin';
    if (url.startsWith('/auth')) return 'auth';
    if (url.startsWith('/ui')) return 'ui';
    if (url.startsWith('/v1')) return 'v1';
    return 'other';
  }
  const q = url.indexOf('?');
  const end = q < 0 ? url.length : q;
  if (end <= 4) return 'base';
  if (url.startsWith('/v2/_catalog')) return 'catalog';
  if (url.lastIndexOf('/manifests/', end) > 0) return 'manifest';
  const uploads = url.lastIndexOf('/blobs/uploads', end);
  if (uploads > 0) return uploads + 16 < end ? 'upload' : 'uploads';
  if (url.lastIndexOf('/blobs/', end) > 0) return 'blob';
  if (url.lastIndexOf('/tags/list', end) > 0) return 'tags';
  if (url.lastIndexOf('/referrers/', end) > 0) return 'referrers';
  return 'other';
}

type Child<T> = Record<string, Record<string, Record<number, T>>>;

interface Tracked extends ServerResponse {
  wharfStart?: number;
  wharfRoute?: string;
  wharfMethod?: string;
  /** kept: by 'close' a keep-alive response has let go of its socket */
  wharfSocket?: CountedSocket | null;
}

interface CountedSocket extends Socket {
  wharfRead?: number;
  wharfWritten?: number;
}

export class Metrics implements CacheObserver {
  readonly registry = new PromRegistry();
  private readonly requests = new Counter({
    name: 'wharf_http_requests_total',
    help: 'HTTP requests answered, by route, method and status',
    labelNames: ['route', 'method', 'status'] as const,
    registers: [this.registry],
  });
  private readonly duration = new Histogram({
    name: 'wharf_http_request_duration_seconds',
    help: 'Time from the request to its answer being finished, by route and method',
    labelNames: ['route', 'method'] as const,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
    registers: [this.registry],
  });
  private readonly bytesIn = new Counter({ name: 'wharf_http_received_bytes_total', help: 'Bytes received from clients (socket level)', registers: [this.registry] });
  private readonly bytesOut = new Counter({ name: 'wharf_http_sent_bytes_total', help: 'Bytes sent to clients (socket level)', registers: [this.registry] });
  private readonly hits = new Counter({
    name: 'wharf_proxy_cache_hits_total',
    help: 'Cached content served without an upstream fetch, by upstream and kind (manifest or blob)',
    labelNames: ['upstream', 'kind'] as const,
    registers: [this.registry],
  });
  private readonly misses = new Counter({
    name: 'wharf_proxy_cache_misses_total',
    help: 'Fetches from an upstream, by upstream and kind',
    labelNames: ['upstream', 'kind'] as const,
    registers: [this.registry],
  });
  private readonly upstreamErrors = new Counter({
    name: 'wharf_proxy_upstream_errors_total',
    help: 'Upstream failures (refused, timeout, 5xx, 429, 401), by upstream',
    labelNames: ['upstream'] as const,
    registers: [this.registry],
  });
  private readonly joins = new Counter({
    name: 'wharf_proxy_singleflight_joins_total',
    help: 'Blob requests that joined a fill already running instead of fetching again, by upstream',
    labelNames: ['upstream'] as const,
    registers: [this.registry],
  });
  private readonly cachedBytes = new Counter({
    name: 'wharf_proxy_stored_bytes_total',
    help: 'Bytes stored into the cache from upstreams, by upstream',
    labelNames: ['upstream'] as const,
    registers: [this.registry],
  });
  private readonly gcRuns = new Counter({
    name: 'wharf_gc_runs_total',
    help: 'Garbage collections, by dry_run',
    labelNames: ['dry_run'] as const,
    registers: [this.registry],
  });
  private readonly gcFreed = new Counter({ name: 'wharf_gc_freed_bytes_total', help: 'Bytes freed by garbage collection', registers: [this.registry] });
  /** label children by route, method (and status): built once, then found without allocating */
  private readonly children: { requests: Child<ReturnType<Counter<'route' | 'method' | 'status'>['labels']>>; duration: Record<string, Record<string, ReturnType<Histogram<'route' | 'method'>['labels']>>> } = {
    requests: {},
    duration: {},
  };

  /** when wharf_storage_blob_bytes was last counted (a walk of the blob store) */
  private storedCountedAt = 0;

  constructor(stores?: { blobs: BlobStore; meta: MetadataStore }) {
    // prom-client's default process metrics are left out: three of them (nodejs_active_*_total
    // gauges) fail promtool's lint, and a registry's metrics should pass it clean.
    if (!stores) return;
    let storedBytes = 0;
    const metrics = this;
    new Gauge({
      name: 'wharf_storage_blob_bytes',
      help: 'Bytes of blobs in the blob store (recounted at most once a minute, and after each GC)',
      registers: [this.registry],
      collect: async function (this: Gauge) {
        if (Date.now() - metrics.storedCountedAt > 60_000) {
          let total = 0;
          for await (const d of stores.blobs.list()) total += (await stores.blobs.stat(d))?.size ?? 0;
          storedBytes = total;
          metrics.storedCountedAt = Date.now();
        }
        this.set(storedBytes);
      },
    });
    new Gauge({
      name: 'wharf_uploads_open',
      help: 'Upload sessions open (started, neither finished nor expired)',
      registers: [this.registry],
      collect: async function (this: Gauge) {
        this.set((await stores.meta.listUploadSessions()).length);
      },
    });
  }

  /** Called first thing for every request. */
  track(req: IncomingMessage, res: ServerResponse): void {
    const t = res as Tracked;
    t.wharfStart = performance.now();
    t.wharfRoute = routeOf(req.url ?? '');
    t.wharfMethod = req.method ?? 'OTHER';
    t.wharfSocket = req.socket;
    // 'close' comes once, for answered and abandoned requests alike; one shared listener
    // (`on`: `once` would wrap it in a new function per request).
    res.on('close', this.onClose);
  }

  private readonly onClose: (this: ServerResponse) => void = (() => {
    const metrics = this;
    return function (this: ServerResponse) {
      metrics.finished(this);
    };
  })();

  private finished(res: ServerResponse): void {
    const t = res as Tracked;
    if (t.wharfStart === undefined) return;
    const route = t.wharfRoute!;
    const method = t.wharfMethod!;
    const status = res.statusCode;
    const seconds = (performance.now() - t.wharfStart) / 1000;
    t.wharfStart = undefined;
    const byRoute = (this.children.requests[route] ??= {});
    const byMethod = (byRoute[method] ??= {});
    (byMethod[status] ??= this.requests.labels(route, method, String(status))).inc();
    const hRoute = (this.children.duration[route] ??= {});
    (hRoute[method] ??= this.duration.labels(route, method)).observe(seconds);
    const socket = t.wharfSocket;
    t.wharfSocket = null;
    if (socket) {
      const read = socket.bytesRead;
      const written = bytesWrittenOn(socket as unknown as Socket);
      this.bytesIn.inc(read - (socket.wharfRead ?? 0));
      this.bytesOut.inc(written - (socket.wharfWritten ?? 0));
      socket.wharfRead = read;
      socket.wharfWritten = written;
    }
  }

  // ---- the cache's observer

  hit(upstream: string, kind: 'manifest' | 'blob'): void {
    this.hits.labels(upstream, kind).inc();
  }

  miss(upstream: string, kind: 'manifest' | 'blob'): void {
    this.misses.labels(upstream, kind).inc();
  }

  upstreamError(upstream: string): void {
    this.upstreamErrors.labels(upstream).inc();
  }

  join(upstream: string): void {
    this.joins.labels(upstream).inc();
  }

  stored(upstream: string, _repo: string, blob: BlobInfo): void {
    this.cachedBytes.labels(upstream).inc(blob.size);
  }

  gcRun(run: GcRun): void {
    this.gcRuns.labels(String(run.dryRun)).inc();
    if (!run.dryRun) {
      this.gcFreed.inc(run.bytesFreed);
      this.storedCountedAt = 0;
    }
  }

  async render(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}
