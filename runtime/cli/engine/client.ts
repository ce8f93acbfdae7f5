/**
 * The one Docker Engine API client of the `wharf` verbs: HTTP/1.1 over a unix socket (or a
 * loopback TCP port), the API version negotiated once through `/_ping` as the docker CLI
 * does, errors as `EngineApiError` carrying the daemon's status and `{"message"}`, and
 * hijacked connections (attach, exec start) for streams.
 *
 *   resolveHost(flag, env)   -H, else WHARF_HOST, else unix:///run/wharf/wharf.sock
 *   new EngineClient(host)   .json(method, path, opts) .request(...) .stream(...) .hijack(...)
 *
 * Only node:http is loaded: the verbs pay for nothing else.
 */
import http from 'node:http';
import type { Duplex } from 'node:stream';

export { DEFAULT_WHARF_HOST, resolveHost, type HostChoice } from './host.js';

/** The newest Engine API version these verbs speak; an older daemon is met at its version. */
export const CLIENT_API_VERSION = '1.45';
/** What the CLI sends before it has negotiated (the docker CLI's floor is the same). */
const MIN_API_VERSION = '1.24';

/** A failure a user acts on: exits with `exitCode` (1, as docker; 125 for run/create). */
export class CliError extends Error {
  override name = 'CliError';
  constructor(
    message: string,
    readonly exitCode = 1,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** The daemon answered with an error status: `Error response from daemon: <message>`. */
export class EngineApiError extends CliError {
  override name = 'EngineApiError';
  constructor(
    readonly status: number,
    readonly daemonMessage: string,
  ) {
    super(`Error response from daemon: ${daemonMessage}`);
  }
}

/** Nothing listens where the host points. */
export class DaemonUnreachableError extends CliError {
  override name = 'DaemonUnreachableError';
  constructor(
    readonly host: string,
    cause: unknown,
  ) {
    super(`Cannot connect to the Wharf daemon at ${host}. Is the wharf daemon running? (start it with \`wharf daemon\`)`, 1, { cause });
  }
}

type Target = { socketPath: string } | { host: string; port: number };

function parseHost(host: string): Target {
  if (host.startsWith('unix://')) {
    const socketPath = host.slice('unix://'.length);
    if (!socketPath.startsWith('/')) throw new CliError(`invalid host ${host}: a unix socket path must be absolute (unix:///path)`);
    return { socketPath };
  }
  const m = /^tcp:\/\/(127\.0\.0\.1|localhost|\[::1\]):(\d+)\/?$/.exec(host);
  if (m) return { host: m[1]!.replace(/^\[|\]$/g, ''), port: Number(m[2]) };
  if (host.startsWith('tcp://')) {
    throw new CliError(`host ${host}: plain TCP is accepted only on loopback (tcp://127.0.0.1:PORT); use the unix socket`);
  }
  throw new CliError(`invalid host ${host}: expected unix:///path/to/socket or tcp://127.0.0.1:PORT`);
}

export type Query = Record<string, string | number | boolean | undefined>;

export interface RequestOptions {
  query?: Query;
  /** JSON-encoded unless a Buffer or a stream */
  body?: unknown;
  headers?: Record<string, string>;
}

export interface EngineResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

function versionLess(a: string, b: string): boolean {
  const [am, an] = a.split('.').map(Number) as [number, number];
  const [bm, bn] = b.split('.').map(Number) as [number, number];
  return am < bm || (am === bm && an < bn);
}

function queryString(q: Query | undefined): string {
  if (!q) return '';
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(q)) {
    if (v === undefined) continue;
    p.set(k, v === true ? '1' : v === false ? '0' : String(v));
  }
  const s = p.toString();
  return s ? `?${s}` : '';
}

/** The daemon's `{"message": …}`, or the body as text when it is not JSON. */
function errorMessage(body: Buffer): string {
  const text = body.toString('utf8').trim();
  try {
    const parsed = JSON.parse(text) as { message?: unknown };
    if (typeof parsed.message === 'string') return parsed.message;
  } catch {
    /* plain text */
  }
  return text || 'empty error response';
}

export class EngineClient {
  private readonly target: Target;
  private version: Promise<string> | undefined;
  /** keep-alive: a verb making several calls reuses one connection */
  private readonly agent = new http.Agent({ keepAlive: true, maxSockets: 4 });

  constructor(readonly host: string) {
    this.target = parseHost(host);
  }

  close(): void {
    this.agent.destroy();
  }

  /**
   * `/_ping` once: the daemon's API-Version header, capped at ours (docker CLI's negotiation).
   * Calls while it is under way share it; a failed one is tried again by the next call.
   */
  apiVersion(): Promise<string> {
    this.version ??= this.negotiate().catch((e: unknown) => {
      this.version = undefined;
      throw e;
    });
    return this.version;
  }

  private async negotiate(): Promise<string> {
    const res = await this.raw('GET', '/_ping', {});
    const server = String(res.headers['api-version'] ?? '');
    if (res.status !== 200 || !/^\d+\.\d+$/.test(server)) return MIN_API_VERSION;
    return versionLess(server, CLIENT_API_VERSION) ? server : CLIENT_API_VERSION;
  }

  async path(path: string, query?: Query): Promise<string> {
    return `/v${await this.apiVersion()}${path}${queryString(query)}`;
  }

  private options(method: string, path: string, headers: Record<string, string>): http.RequestOptions {
    // servername '': no TLS here, and without it node's agent asks net.isIP() of the Host
    // header on the first request, whose IPv6 pattern takes ~6 ms to compile.
    const options: http.RequestOptions & { servername: string } = { ...this.target, method, path, headers: { Host: 'wharf', 'User-Agent': 'wharf-cli', ...headers }, agent: this.agent, servername: '' };
    return options;
  }

  private send(req: http.ClientRequest, body: unknown): void {
    if (body === undefined) return void req.end();
    if (Buffer.isBuffer(body)) return void req.end(body);
    if (typeof (body as NodeJS.ReadableStream).pipe === 'function') return void (body as NodeJS.ReadableStream).pipe(req);
    req.end(JSON.stringify(body));
  }

  private headersFor(opts: RequestOptions): Record<string, string> {
    const h: Record<string, string> = { ...opts.headers };
    if (opts.body !== undefined && !Buffer.isBuffer(opts.body) && typeof (opts.body as NodeJS.ReadableStream).pipe !== 'function') {
      h['Content-Type'] = 'application/json';
    }
    return h;
  }

  /** A response with its status kept as is (no error on 4xx/5xx). */
  private raw(method: string, fullPath: string, opts: RequestOptions): Promise<EngineResponse> {
    return new Promise((resolve, reject) => {
      const req = http.request(this.options(method, fullPath, this.headersFor(opts)), (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
        res.on('error', reject);
      });
      req.on('error', (e) => reject(this.connectError(e)));
      this.send(req, opts.body);
    });
  }

  private connectError(e: unknown): unknown {
    const code = (e as NodeJS.ErrnoException).code;
    return code === 'ENOENT' || code === 'ECONNREFUSED' || code === 'EACCES' ? new DaemonUnreachableError(this.host, e) : e;
  }

  /** A versioned request; an error status becomes EngineApiError. */
  async request(method: string, path: string, opts: RequestOptions = {}): Promise<EngineResponse> {
    const res = await this.raw(method, await this.path(path, opts.query), opts);
    if (res.status >= 400) throw new EngineApiError(res.status, errorMessage(res.body));
    return res;
  }

  async json<T = unknown>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
    const res = await this.request(method, path, opts);
    const text = res.body.toString('utf8');
    return (text.trim() === '' ? undefined : JSON.parse(text)) as T;
  }

  /** A response body to read as it arrives (logs, events, pull progress, archives). */
  async stream(method: string, path: string, opts: RequestOptions = {}): Promise<http.IncomingMessage> {
    const full = await this.path(path, opts.query);
    return new Promise((resolve, reject) => {
      const req = http.request(this.options(method, full, this.headersFor(opts)), (res) => {
        if ((res.statusCode ?? 0) < 400) return resolve(res);
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => reject(new EngineApiError(res.statusCode ?? 0, errorMessage(Buffer.concat(chunks)))));
      });
      req.on('error', (e) => reject(this.connectError(e)));
      this.send(req, opts.body);
    });
  }

  /**
   * A hijacked connection (attach, exec start): `Upgrade: tcp`, answered `101 UPGRADED`. What the daemon sent after
   * its headers is pushed back onto the socket, so the caller reads the stream from byte 0.
   */
  async hijack(method: string, path: string, opts: RequestOptions = {}): Promise<Duplex> {
    const full = await this.path(path, opts.query);
    const headers = { ...this.headersFor(opts), Connection: 'Upgrade', Upgrade: 'tcp' };
    return new Promise((resolve, reject) => {
      const req = http.request({ ...this.options(method, full, headers), agent: false });
      req.on('upgrade', (_res, socket, head) => {
        if (head.length > 0) socket.unshift(head);
        resolve(socket);
      });
      req.on('response', (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const status = res.statusCode ?? 0;
          reject(status >= 400 ? new EngineApiError(status, errorMessage(Buffer.concat(chunks))) : new CliError(`the daemon answered ${method} ${path} with ${status} instead of upgrading the connection`));
        });
      });
      req.on('error', (e) => reject(this.connectError(e)));
      this.send(req, opts.body);
    });
  }

  /** Is a daemon answering at this host? (for verbs that may also work without one) */
  async reachable(): Promise<boolean> {
    try {
      await this.apiVersion();
      return true;
    } catch (e) {
      if (e instanceof DaemonUnreachableError) return false;
      throw e;
    }
  }
}
