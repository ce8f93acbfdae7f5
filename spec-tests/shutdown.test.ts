/**
 * Stopping the registry however a user stops it (issue 15): SIGTERM to `npm start`'s PID
 * (npm does not pass it on; the server notices its parent is gone), SIGTERM, SIGINT or
 * SIGHUP to the server itself. Each time the port is free and LevelDB is closed (a new
 * server opens the same data dir) within 5 s. In-flight requests finish within the grace
 * period, or are cut when it ends. Log lines arrive while the server runs, not at exit.
 */
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { eventually, portAccepts, startServeProcess, type ServeProcess } from './support/serve-process.js';
import { startTestWharf } from './support/wharf.js';

let dir: string;
let n = 0;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'wharf-shutdown-'));
});

after(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** The data dir's LevelDB lock is released: a registry opens it (and is closed again). */
async function dataDirIsFree(root: string): Promise<boolean> {
  try {
    const again = await startTestWharf({ root });
    await again.close();
    return true;
  } catch {
    return false;
  }
}

async function stoppedWithin5s(server: ServeProcess, root: string): Promise<void> {
  await eventually('the port is free', async () => !(await portAccepts(server.port)), 5_000);
  await eventually('the data dir lock is released', () => dataDirIsFree(root), 5_000);
}

test('SIGTERM to `npm start`\'s PID: port free and LevelDB closed within 5 s', async () => {
  const root = join(dir, `d${n++}`);
  const server = await startServeProcess({ root, npmStart: true });
  assert.equal((await fetch(`${server.url}/v2/`)).status, 200);
  server.child.kill('SIGTERM');
  await stoppedWithin5s(server, root);
  await server.exited;
});

for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) {
  test(`${signal} to the server: it says so, exits 0, port free and LevelDB closed within 5 s`, async () => {
    const root = join(dir, `d${n++}`);
    const server = await startServeProcess({ root });
    assert.equal((await fetch(`${server.url}/v2/`)).status, 200);
    server.child.kill(signal);
    await stoppedWithin5s(server, root);
    assert.equal(await server.exited, 0);
    assert.match(server.stderr(), new RegExp(`got ${signal}, shutting down`));
  });
}

/** A chunked PATCH whose body we write by hand: the first part now, the rest when told. */
function slowPatch(url: string): { sendRest: () => void; response: Promise<number> } {
  let req!: ReturnType<typeof request>;
  const response = new Promise<number>((resolve, reject) => {
    req = request(url, { method: 'PATCH', headers: { 'Content-Type': 'application/octet-stream', 'Transfer-Encoding': 'chunked' } }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
  });
  req.write(Buffer.alloc(1000, 1));
  return { sendRest: () => req.end(Buffer.alloc(1000, 2)), response };
}

test('an in-flight request finishes within the grace period; the server then stops', async () => {
  const root = join(dir, `d${n++}`);
  const server = await startServeProcess({ root, env: { WHARF_HTTP_SHUTDOWN_TIMEOUT: '20000' } });
  const post = await fetch(`${server.url}/v2/grace/app/blobs/uploads/`, { method: 'POST' });
  const patch = slowPatch(new URL(post.headers.get('location')!, server.url).toString());
  await server.waitForLine((l) => l.msg === 'request' && l.method === 'POST');
  server.child.kill('SIGTERM');
  // The server stops accepting at once...
  await eventually('new connections are refused', async () => !(await portAccepts(server.port)), 5_000);
  // ...and the request already in flight still gets its answer.
  patch.sendRest();
  assert.equal(await patch.response, 202);
  assert.equal(await server.exited, 0);
  assert.ok(await dataDirIsFree(root));
});

test('an in-flight request that does not finish is cut when the grace period ends', async () => {
  const root = join(dir, `d${n++}`);
  const server = await startServeProcess({ root, env: { WHARF_HTTP_SHUTDOWN_TIMEOUT: '500' } });
  const post = await fetch(`${server.url}/v2/grace/app/blobs/uploads/`, { method: 'POST' });
  const patch = slowPatch(new URL(post.headers.get('location')!, server.url).toString());
  await server.waitForLine((l) => l.msg === 'request' && l.method === 'POST');
  server.child.kill('SIGTERM');
  await assert.rejects(patch.response, /socket hang up|ECONNRESET/);
  assert.equal(await server.exited, 0);
  await stoppedWithin5s(server, root);
});

test('logs: "listening on <url>" and one line per request arrive while the server runs, before any exit', async () => {
  const root = join(dir, `d${n++}`);
  const server = await startServeProcess({ root });
  const listening = server.lines.find((l) => typeof l.msg === 'string' && (l.msg as string).startsWith('wharf registry listening on '));
  assert.equal(listening?.msg, `wharf registry listening on ${server.url}`);
  await fetch(`${server.url}/v2/_catalog?n=1`);
  const line = await server.waitForLine((l) => l.msg === 'request' && l.url === '/v2/_catalog?n=1', 5_000);
  assert.equal(line.status, 200);
  assert.equal(server.child.exitCode, null, 'the line was written by a running server');
  // Written, not held in a buffer: a kill -9 now loses nothing already logged.
  server.child.kill('SIGKILL');
  await server.exited;
  assert.ok(server.lines.some((l) => l.url === '/v2/_catalog?n=1'));
});
