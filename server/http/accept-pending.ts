/**
 * Every connection waiting in the accept queue is taken at once, not one per event-loop
 * turn. libuv (since 1.45, libuv/libuv#3696) accepts a single connection per turn, and
 * on a busy server a turn serves every connection it already has: when 64 clients
 * connected together (wrk -c64, a CI farm starting its pulls), the last waited 64 turns
 * for its first answer, over a second under load, and those waits were the manifest
 * GET's p99. registry:2 (Go) accepts them all at once.
 *
 * How: whenever Node accepted one connection ('connection'), the server's tiny addon
 * (server/http/native/accept.cc -> build/Release/wharf_accept.node) accept4(2)s the rest
 * of the queue on the listening fd, and each fd becomes a net.Socket handed to the server
 * as Node's own accept does (the 'connection' event, which Node documents for injecting
 * connections; for HTTPS it starts the TLS handshake). The socket is counted in the
 * server's connections as Node's accept counts it, so server.close() waits for it too.
 * Without the addon, or on a listener that is not a TCP socket, nothing changes.
 */
import { closeSync } from 'node:fs';
import { createRequire } from 'node:module';
import { Socket, type Server } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

interface AcceptAddon {
  acceptPending(listenFd: number, max: number): number[];
}

/** At most this many per Node accept: the listen backlog is 511, and each costs a socket object. */
const MAX_PER_TURN = 512;

let addon: AcceptAddon | null | undefined;

function loadAddon(): AcceptAddon | null {
  if (addon !== undefined) return addon;
  // dist/server/http/accept-pending.js -> <checkout>/build/Release/wharf_accept.node
  const path = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'build', 'Release', 'wharf_accept.node');
  try {
    addon = createRequire(import.meta.url)(path) as AcceptAddon;
  } catch {
    addon = null;
  }
  return addon;
}

/** What net.Server keeps to count its connections (Node's own accept sets the same). */
interface CountingServer extends Server {
  _handle?: { fd?: number } | null;
  _connections: number;
}

interface CountedSocket extends Socket {
  server: Server;
  _server: Server;
}

/** Install the drain on `server` (before listen or after). False when the addon is missing. */
export function acceptPendingConnections(server: Server, options: { noDelay?: boolean; keepAlive?: boolean } = {}): boolean {
  const native = loadAddon();
  if (!native) return false;
  const counting = server as CountingServer;
  let draining = false;
  server.on('connection', () => {
    // The sockets injected below emit 'connection' too: one drain at a time.
    if (draining) return;
    const fd = counting._handle?.fd;
    if (typeof fd !== 'number' || fd < 0) return;
    draining = true;
    try {
      for (const clientFd of native.acceptPending(fd, MAX_PER_TURN)) {
        let socket: Socket;
        try {
          socket = new Socket({ fd: clientFd, readable: true, writable: true });
        } catch {
          closeSync(clientFd); // not a socket Node can open (accept4 gives none such): refused, not leaked
          continue;
        }
        if (options.noDelay !== false) socket.setNoDelay(true);
        if (options.keepAlive) socket.setKeepAlive(true);
        // As net.Server's onconnection: counted, and uncounted by the socket's destroy.
        counting._connections++;
        (socket as CountedSocket).server = server;
        (socket as CountedSocket)._server = server;
        server.emit('connection', socket);
      }
    } finally {
      draining = false;
    }
  });
  return true;
}
