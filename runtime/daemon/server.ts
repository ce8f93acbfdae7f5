/**
 * `wharf daemon`: the Engine API on unix sockets (0660, root and --group) and, only with
 * TLS client verification, on TCP. One Router; plain requests and `Upgrade: tcp`
 * requests (hijacked attach / exec start) go through it alike.
 *
 * The daemon owns no container process: each container's shim is its parent
 * (runtime/native/shim), so SIGTERM (or a crash) of the daemon leaves containers
 * running; the next start reconciles (runtime/containers/manager.ts).
 */
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { chmod, chown, mkdir, readFile, unlink } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { dirname } from 'node:path';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import type { DaemonDeps } from './deps.js';
import { Router } from './router.js';

export interface TlsFiles {
  ca: string;
  cert: string;
  key: string;
}

export type ListenAddress = { kind: 'unix'; path: string } | { kind: 'tcp'; host: string; port: number };

export class DaemonConfigError extends Error {
  override name = 'DaemonConfigError';
}

/** `-H` values, as dockerd takes them: unix:///path, tcp://host:port (fd:// is not supported). */
export function parseHost(h: string, tls: TlsFiles | undefined): ListenAddress {
  if (h.startsWith('unix://')) {
    const path = h.slice('unix://'.length);
    if (!path.startsWith('/')) throw new DaemonConfigError(`-H ${h}: the socket path must be absolute`);
    return { kind: 'unix', path };
  }
  if (h.startsWith('tcp://')) {
    const u = new URL(h.replace(/^tcp:/, 'http:'));
    if (!tls) {
      throw new DaemonConfigError(
        `-H ${h}: refusing to listen on TCP without TLS client verification: anyone who can reach it would be root on this machine. ` +
          'Use --tlsverify --tlscacert CA --tlscert CERT --tlskey KEY, or a unix socket with --group.',
      );
    }
    return { kind: 'tcp', host: u.hostname.replace(/^\[|\]$/g, ''), port: Number(u.port || 2376) };
  }
  throw new DaemonConfigError(`-H ${h}: expected unix:///path or tcp://host:port`);
}

export async function groupId(group: string): Promise<number> {
  if (/^\d+$/.test(group)) return Number(group);
  const text = await readFile('/etc/group', 'utf8').catch(() => '');
  for (const line of text.split('\n')) {
    const f = line.split(':');
    if (f[0] === group && f[2] !== undefined) return Number(f[2]);
  }
  throw new DaemonConfigError(`--group ${group}: no such group in /etc/group`);
}

function isListening(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s: Socket = connect(path);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

export interface Listener {
  address: ListenAddress;
  close(): Promise<void>;
}

/** Listens on one address with the router; a unix socket gets mode 0660 and the group. */
export async function listen(
  address: ListenAddress,
  router: Router,
  log: Logger,
  opts: { gid?: number; tls?: TlsFiles; /** told of every request and upgrade */ onRequest?: () => void } = {},
): Promise<Listener> {
  const seen = opts.onRequest ?? (() => undefined);
  const onRequest = (req: IncomingMessage, res: ServerResponse) => {
    seen();
    void router.dispatch(req, res, undefined, log);
  };
  const onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    seen();
    socket.on('error', () => socket.destroy());
    void router.dispatch(req, undefined, { socket, head }, log);
  };
  let server: Server;
  if (address.kind === 'tcp') {
    const t = opts.tls!;
    const [ca, cert, key] = await Promise.all([readFile(t.ca), readFile(t.cert), readFile(t.key)]);
    const { createServer: createHttpsServer } = await import('node:https'); // TLS only for tcp://
    // allowHalfOpen, as http.Server has it: a docker CLI without stdin half-closes its attach
    // (a TLS close_notify) and still reads the container's output.
    server = createHttpsServer({ ca, cert, key, requestCert: true, rejectUnauthorized: true, allowHalfOpen: true }, onRequest) as unknown as Server;
  } else {
    server = createHttpServer(onRequest);
  }
  server.on('upgrade', onUpgrade);
  // Streams (logs -f, events, attach) stay open as long as the client wants.
  server.requestTimeout = 0;
  server.headersTimeout = 60_000;
  server.keepAliveTimeout = 30_000;
  const sockets = new Set<Duplex>();
  server.on('connection', (s: Duplex) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  if (address.kind === 'unix') {
    await mkdir(dirname(address.path), { recursive: true });
    if (await isListening(address.path)) throw new DaemonConfigError(`${address.path}: another daemon is listening on this socket`);
    await unlink(address.path).catch(() => undefined);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(address.path, () => resolve());
    });
    await chmod(address.path, 0o660);
    if (opts.gid !== undefined) await chown(address.path, 0, opts.gid);
  } else {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(address.port, address.host, () => resolve());
    });
    const a = server.address();
    if (a && typeof a === 'object') address.port = a.port;
  }
  return {
    address,
    async close() {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const s of sockets) s.destroy();
      });
      if (address.kind === 'unix') await unlink(address.path).catch(() => undefined);
    },
  };
}

/** The router with every route module (containers, exec, images, system). */
export function buildRouter(deps: DaemonDeps, register: ((router: Router, deps: DaemonDeps) => void)[]): Router {
  const router = new Router();
  for (const r of register) r(router, deps);
  return router;
}
