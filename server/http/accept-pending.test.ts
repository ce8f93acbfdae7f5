/**
 * acceptPendingConnections over real sockets: connections that wait in the accept queue
 * together are all taken in the turn Node accepts the first (libuv alone takes one per
 * turn), each is a working HTTP connection, and server.close() waits for them as for
 * its own.
 */
import assert from 'node:assert/strict';
import { createServer, request } from 'node:http';
import { connect, type Socket, type AddressInfo } from 'node:net';
import { test } from 'node:test';
import { acceptPendingConnections } from './accept-pending.js';

const CLIENTS = 20;

/** Block this thread (the event loop with it) while the kernel completes the clients' handshakes. */
function blockLoop(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

test('connections waiting together are all accepted in one turn, answered, and counted for close()', async () => {
  let release!: () => void;
  const released = new Promise<void>((r) => (release = r));
  const server = createServer((_req, res) => {
    // Every answer waits for the test: the requests are in flight when close() is called.
    void released.then(() => {
      res.setHeader('Content-Length', 2);
      res.end('ok');
    });
  });
  assert.equal(acceptPendingConnections(server, { noDelay: true }), true, 'the addon build/Release/wharf_accept.node loads');
  // Read once the turn that accepted the first connection is over (the drain runs in it).
  let countAfterFirstTurn: number | undefined;
  let scheduled = false;
  server.on('connection', () => {
    if (scheduled) return;
    scheduled = true;
    process.nextTick(() => server.getConnections((_err, n) => (countAfterFirstTurn = n)));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  const sockets: Socket[] = [];
  for (let i = 0; i < CLIENTS; i++) sockets.push(connect(port, '127.0.0.1'));
  // connect(2) was issued for each; the server's loop is blocked while the kernel queues them all.
  blockLoop(300);
  await Promise.all(sockets.map((s) => new Promise((r) => (s.connecting ? s.once('connect', r) : r(undefined)))));
  await new Promise((r) => setImmediate(r));
  assert.equal(countAfterFirstTurn, CLIENTS, 'every queued connection was taken in the turn of the first accept');

  // Each is an HTTP connection like any other: a request on every socket gets its answer.
  const answers = sockets.map(
    (socket) =>
      new Promise<string>((resolve, reject) => {
        const req = request({ createConnection: () => socket, path: '/', headers: { Host: `127.0.0.1:${port}` } }, (res) => {
          let body = '';
          res.setEncoding('utf8').on('data', (d: string) => (body += d)).on('end', () => resolve(body));
        });
        req.on('error', reject);
        req.end();
      }),
  );
  await new Promise((r) => setTimeout(r, 100)); // the requests reach the server
  // close() waits for every connection with a request in flight, injected ones included.
  let closed = false;
  const closing = new Promise<void>((resolve) => server.close(() => ((closed = true), resolve())));
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(closed, false, 'close() waits while requests are in flight');
  release();
  assert.deepEqual(await Promise.all(answers), Array(CLIENTS).fill('ok'));
  for (const s of sockets) s.destroy();
  await closing;
  assert.equal(closed, true);
  const left = await new Promise<number>((resolve) => server.getConnections((_e, n) => resolve(n)));
  assert.equal(left, 0, 'each connection uncounted itself when it went');
});
