/**
 * The sendfile(2) path of blob GETs over real sockets: the addon is built and used, the
 * bytes (whole or a range) arrive exact, keep-alive carries on after it, and a client that
 * goes away mid-body costs a closed connection, nothing else.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { Agent, createServer, get, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { sendFileBody } from './send-file.js';

let dir: string;
let file: string;
let bytes: Buffer;
let server: Server;
let port: number;
const used: boolean[] = [];

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'wharf-sendfile-'));
  file = join(dir, 'blob');
  bytes = randomBytes(24 << 20);
  await writeFile(file, bytes);
  server = createServer((req, res) => {
    const [start, length] = (req.url ?? '/0/0').slice(1).split('/').map(Number) as [number, number];
    res.setHeader('Content-Length', length);
    void sendFileBody(res, file, start, length).then((sent) => used.push(sent));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});

after(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
  await rm(dir, { recursive: true, force: true });
});

function fetchBody(path: string, agent: Agent): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    get({ host: '127.0.0.1', port, path, agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve(Buffer.concat(chunks)));
      res.on('error', reject);
    }).on('error', reject);
  });
}

test('the whole file and ranges arrive exact, one after another on one keep-alive connection', async () => {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  try {
    assert.ok((await fetchBody(`/0/${bytes.length}`, agent)).equals(bytes));
    assert.ok((await fetchBody('/1000/5000', agent)).equals(bytes.subarray(1000, 6000)));
    assert.ok((await fetchBody(`/${bytes.length - 7}/7`, agent)).equals(bytes.subarray(bytes.length - 7)));
    // sendFileBody resolves after closing its file, a moment after the client has the body.
    for (let i = 0; i < 100 && used.length < 3; i++) await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(used.splice(0), [true, true, true], 'the addon was built and took every response');
  } finally {
    agent.destroy();
  }
});

test('a file that is not there: nothing is sent, the caller streams (or answers) instead', async () => {
  const res = await new Promise<number>((resolve, reject) => {
    const probe = createServer((_req, out) => {
      void sendFileBody(out, join(dir, 'missing'), 0, 10).then((sent) => {
        out.statusCode = sent ? 500 : 404;
        out.end();
      });
    });
    probe.listen(0, '127.0.0.1', () => {
      get({ host: '127.0.0.1', port: (probe.address() as AddressInfo).port, path: '/', agent: false }, (r) => {
        r.resume();
        r.on('end', () => probe.close(() => resolve(r.statusCode ?? 0)));
      }).on('error', reject);
    });
  });
  assert.equal(res, 404);
});

test('a client that goes away mid-body: the connection closes, the server serves the next one', async () => {
  await new Promise<void>((resolve, reject) => {
    const req = get({ host: '127.0.0.1', port, path: `/0/${bytes.length}`, agent: false }, (res) => {
      res.once('data', () => {
        req.destroy();
        resolve();
      });
    });
    req.on('error', () => undefined);
    req.on('close', resolve);
    setTimeout(() => reject(new Error('no body')), 10_000).unref();
  });
  const again = await fetchBody('/0/1000', new Agent({ keepAlive: false }));
  assert.ok(again.equals(bytes.subarray(0, 1000)));
});
