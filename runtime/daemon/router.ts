/**
 * The Engine API's router: paths with an optional `/v1.NN` prefix (moby
 * api/server/router: every route is served with and without it), `{param}` segments
 * and one greedy `{name*}` for image names (they contain slashes). Routes run for plain
 * requests and for `Upgrade: tcp` requests alike (Node hands the latter to the server's
 * 'upgrade' event; attach and exec start hijack them).
 *
 * Route modules are functions `(router, deps)` that add their routes; errors thrown by a
 * handler (EngineError, or anything else as a 500) are rendered as `{"message": ...}`.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex, Readable, Writable } from 'node:stream';
import type { Logger } from 'pino';
import { EngineError, badParameter } from './errors.js';

/** The API versions this daemon speaks (moby: DefaultVersion, MinSupportedAPIVersion). */
export const API_VERSION = '1.41';
export const MIN_API_VERSION = '1.12';

export interface Call {
  readonly req: IncomingMessage;
  readonly method: string;
  /** the path without the version prefix, e.g. /containers/abc/json */
  readonly path: string;
  readonly params: Record<string, string>;
  readonly query: URLSearchParams;
  /** the API version the client asked for (its prefix), else API_VERSION */
  readonly version: string;
  /** set for plain requests */
  readonly res: ServerResponse | undefined;
  /** set when the client asked to upgrade the connection (hijack) */
  /** `head` holds what the client sent past the headers; readJson consumes it */
  readonly upgrade: { socket: Duplex; head: Buffer } | undefined;
  readonly log: Logger;
}

export type Handler = (call: Call) => Promise<void> | void;

interface Route {
  method: string;
  pattern: RegExp;
  names: string[];
  handler: Handler;
}

function compile(path: string): { pattern: RegExp; names: string[] } {
  const names: string[] = [];
  const source = path
    .split('/')
    .map((seg) => {
      const m = /^\{(\w+)(\*?)\}$/.exec(seg);
      if (!m) return seg.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
      names.push(m[1]!);
      return m[2] ? '(.+)' : '([^/]+)';
    })
    .join('/');
  return { pattern: new RegExp(`^${source}$`), names };
}

export function compareVersions(a: string, b: string): number {
  const [a1 = 0, a2 = 0] = a.split('.').map(Number);
  const [b1 = 0, b2 = 0] = b.split('.').map(Number);
  return a1 - b1 || a2 - b2;
}

export class Router {
  private routes: Route[] = [];

  add(method: string, path: string, handler: Handler): void {
    this.routes.push({ method, ...compile(path), handler });
  }
  get(path: string, handler: Handler): void {
    this.add('GET', path, handler);
  }
  post(path: string, handler: Handler): void {
    this.add('POST', path, handler);
  }
  put(path: string, handler: Handler): void {
    this.add('PUT', path, handler);
  }
  head(path: string, handler: Handler): void {
    this.add('HEAD', path, handler);
  }
  delete(path: string, handler: Handler): void {
    this.add('DELETE', path, handler);
  }

  /** Serves one request (plain: res set; upgrade: socket set). Never throws. */
  async dispatch(req: IncomingMessage, res: ServerResponse | undefined, upgrade: Call['upgrade'], log: Logger): Promise<void> {
    const started = process.hrtime.bigint();
    const url = new URL(req.url ?? '/', 'http://docker');
    let path = url.pathname;
    let version = API_VERSION;
    const prefixed = /^\/v(\d+\.\d+)(\/.*)$/.exec(path);
    const method = req.method ?? 'GET';
    let status = 0;
    try {
      if (prefixed) {
        version = prefixed[1]!;
        path = prefixed[2]!;
        if (compareVersions(version, API_VERSION) > 0) {
          throw badParameter(`client version ${version} is too new. Maximum supported API version is ${API_VERSION}`);
        }
        if (compareVersions(version, MIN_API_VERSION) < 0) {
          throw badParameter(`client version ${version} is too old. Minimum supported API version is ${MIN_API_VERSION}, please upgrade your client to a newer version`);
        }
      }
      const route = this.match(method === 'HEAD' ? ['HEAD', 'GET'] : [method], path);
      if (!route) throw new EngineError('notFound', 'page not found');
      const params: Record<string, string> = {};
      route.route.names.forEach((n, i) => {
        params[n] = decodeURIComponent(route.values[i]!);
      });
      const call: Call = { req, method, path, params, query: url.searchParams, version, res, upgrade, log };
      await route.route.handler(call);
      status = res?.statusCode ?? 101;
    } catch (e) {
      status = renderError(e, res, upgrade, log, method, path);
    }
    const ms = Number(process.hrtime.bigint() - started) / 1e6;
    log.debug({ method, path, status, ms }, 'request');
  }

  private match(methods: string[], path: string): { route: Route; values: string[] } | undefined {
    for (const method of methods) {
      for (const route of this.routes) {
        if (route.method !== method) continue;
        const m = route.pattern.exec(path);
        if (m) return { route, values: m.slice(1) };
      }
    }
    return undefined;
  }
}

function renderError(e: unknown, res: ServerResponse | undefined, upgrade: Call['upgrade'], log: Logger, method: string, path: string): number {
  const err = e instanceof EngineError ? e : new EngineError('system', (e as Error)?.message ?? String(e), { cause: e });
  if (err.status >= 500) log.error({ err: e, method, path }, 'request failed');
  const body = JSON.stringify({ message: err.message });
  if (res) {
    if (res.headersSent) {
      // A stream already started: all we can do is end it.
      res.destroy();
      return err.status;
    }
    res.writeHead(err.status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
    res.end(body);
  } else if (upgrade && upgrade.socket.writable) {
    upgrade.socket.end(`HTTP/1.1 ${err.status} ${reason(err.status)}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
  }
  return err.status;
}

function reason(status: number): string {
  return { 400: 'Bad Request', 404: 'Not Found', 409: 'Conflict', 500: 'Internal Server Error', 501: 'Not Implemented' }[status] ?? 'Error';
}

/* ---------- replies ---------- */

export function sendJson(call: Call, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  const res = requirePlain(call);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
  res.end(call.method === 'HEAD' ? undefined : text);
}

export function sendEmpty(call: Call, status = 204): void {
  const res = requirePlain(call);
  res.writeHead(status);
  res.end();
}

export function sendText(call: Call, status: number, text: string, contentType = 'text/plain; charset=utf-8'): void {
  const res = requirePlain(call);
  res.writeHead(status, { 'Content-Type': contentType, 'Content-Length': Buffer.byteLength(text) });
  res.end(call.method === 'HEAD' ? undefined : text);
}

function requirePlain(call: Call): ServerResponse {
  if (!call.res) throw badParameter(`${call.path} does not upgrade the connection`);
  return call.res;
}

const MAX_JSON_BODY = 16 << 20;

/** The request's JSON body (an empty body reads as `empty`); bad JSON is a 400, as dockerd. */
export async function readJson<T>(call: Call, empty?: T): Promise<T> {
  const chunks: Buffer[] = [];
  let size = 0;
  const source: Readable = call.req;
  if (call.upgrade && call.upgrade.head.length > 0) {
    chunks.push(call.upgrade.head);
    call.upgrade.head = Buffer.alloc(0);
  }
  // With an Upgrade the body (if any, Content-Length) is read from the socket by hand.
  const length = Number(call.req.headers['content-length'] ?? 0);
  if (call.upgrade) {
    if (length > MAX_JSON_BODY) throw badParameter('request body is too large');
    if (length > 0) await readExact(call.upgrade.socket, length, chunks);
    // What came past the body (in the same packet) is the stream: give it back.
    const all = Buffer.concat(chunks);
    if (all.length > length) {
      call.upgrade.socket.unshift(all.subarray(length));
      chunks.splice(0, chunks.length, all.subarray(0, length));
    }
  } else {
    for await (const c of source) {
      size += (c as Buffer).length;
      if (size > MAX_JSON_BODY) throw badParameter('request body is too large');
      chunks.push(c as Buffer);
    }
  }
  const text = Buffer.concat(chunks).toString('utf8');
  if (text.trim() === '') {
    if (empty !== undefined) return empty;
    throw badParameter('request body is empty: a JSON object is expected');
  }
  try {
    return JSON.parse(text) as T;
  } catch (e) {
    throw badParameter(`invalid JSON in the request body: ${(e as Error).message}`);
  }
}

function readExact(socket: Duplex, n: number, into: Buffer[]): Promise<void> {
  let have = into.reduce((a, b) => a + b.length, 0);
  if (have >= n) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const onData = (c: Buffer) => {
      const need = n - have;
      if (c.length > need) {
        into.push(c.subarray(0, need));
        socket.unshift(c.subarray(need));
      } else into.push(c);
      have += Math.min(c.length, need);
      if (have >= n) done();
    };
    const onEnd = () => done();
    const done = () => {
      socket.off('data', onData);
      socket.off('end', onEnd);
      socket.off('error', reject);
      socket.pause();
      resolve();
    };
    socket.on('data', onData);
    socket.on('end', onEnd);
    socket.on('error', reject);
  });
}

export interface Hijacked {
  /** what the client sends after the headers (stdin) */
  input: Readable;
  /** the stream to the client */
  output: Writable;
  /** the connection itself when upgraded (for half-close), else undefined */
  socket: Duplex | undefined;
}

/**
 * Takes over the connection for a raw stream (attach, exec start): `101 UPGRADED` when
 * the client asked for `Upgrade: tcp` (the docker CLI always does), else a 200 with a
 * streamed body (one direction only, as curl uses it).
 */
export function hijack(call: Call, contentType: string): Hijacked {
  if (call.upgrade) {
    const { socket, head } = call.upgrade;
    if (head.length > 0) socket.unshift(head);
    // Not resumed here: what the client sends waits until the stream is wired (pipeAttach).
    socket.pause();
    socket.write(`HTTP/1.1 101 UPGRADED\r\nContent-Type: ${contentType}\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n`);
    return { input: socket, output: socket, socket };
  }
  const res = call.res!;
  res.writeHead(200, { 'Content-Type': contentType });
  res.flushHeaders();
  return { input: call.req, output: res, socket: undefined };
}
