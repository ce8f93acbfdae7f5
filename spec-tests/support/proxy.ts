/**
 * For the proxy-cache tests: a Wharf whose upstreams are given, and a counting HTTP
 * forwarder put in front of an upstream so a test can count what the cache asked of it
 * (e.g. how many times a blob was downloaded) on the upstream's side of the wire.
 */
import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { startTestWharf, type TestWharf, type TestWharfOptions } from './wharf.js';

export interface UpstreamSpec {
  name: string;
  url: string;
  revalidate?: string;
  username?: string;
  password?: string;
  tokenRealm?: string;
}

export async function startCachingWharf(
  upstreams: UpstreamSpec[],
  options: { default?: string; maxBytes?: string; env?: Record<string, string> } & Omit<TestWharfOptions, 'env'> = {},
): Promise<TestWharf> {
  const { default: dflt, maxBytes, env, ...rest } = options;
  return startTestWharf({
    ...rest,
    env: {
      WHARF_PROXY_UPSTREAMS: JSON.stringify(upstreams),
      ...(dflt ? { WHARF_PROXY_DEFAULT: dflt } : {}),
      ...(maxBytes ? { WHARF_PROXY_MAX_BYTES: maxBytes } : {}),
      ...env,
    },
  });
}

export interface CountingForwarder {
  url: string;
  /** `METHOD path` (no query) -> requests seen */
  requests: Map<string, number>;
  /** response body bytes sent back to the cache */
  bytesOut: number;
  count(method: string, path: string): number;
  /** from now on, response bodies stop after `bytes` each, until release() */
  stallAfter(bytes: number): void;
  release(): void;
  close(): Promise<void>;
}

/** Forward every request to `target`, counting requests and bytes. */
export async function startCountingForwarder(target: string): Promise<CountingForwarder> {
  const base = new URL(target);
  const sockets = new Set<Socket>();
  let stall: number | undefined;
  const stalled: (() => void)[] = [];
  const fwd: CountingForwarder = {
    url: '',
    requests: new Map(),
    bytesOut: 0,
    count: (method, path) => fwd.requests.get(`${method} ${path}`) ?? 0,
    stallAfter: (bytes) => {
      stall = bytes;
    },
    release: () => {
      stall = undefined;
      for (const resume of stalled.splice(0)) resume();
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
  const server: Server = createServer((req, res) => {
    const key = `${req.method} ${(req.url ?? '').split('?')[0]}`;
    fwd.requests.set(key, (fwd.requests.get(key) ?? 0) + 1);
    const headers = { ...req.headers, host: base.host };
    const up = httpRequest({ host: base.hostname, port: base.port, method: req.method, path: req.url, headers }, (upRes) => {
      res.writeHead(upRes.statusCode ?? 502, upRes.headers);
      let sent = 0;
      let held = false;
      const limit = stall;
      upRes.on('data', (c: Buffer) => {
        fwd.bytesOut += c.length;
        sent += c.length;
        if (!res.write(c)) {
          upRes.pause();
          res.once('drain', () => held || upRes.resume());
        }
        if (limit !== undefined && stall !== undefined && sent >= limit && !held) {
          held = true;
          upRes.pause();
          stalled.push(() => {
            held = false;
            upRes.resume();
          });
        }
      });
      upRes.on('end', () => res.end());
      upRes.on('error', () => res.destroy());
    });
    up.on('error', () => res.destroy());
    req.pipe(up);
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  fwd.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return fwd;
}
