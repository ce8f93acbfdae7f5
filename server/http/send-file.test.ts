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

/** A GrowingFile over `path`, written by the test: `grow(n)` makes n more bytes sendable, `fail()` ends it. */
function growingFile(path: string) {
  let readable = 0;
  let failed: Error | undefined;
  const waiting: (() => void)[] = [];
  const wake = () => waiting.splice(0).forEach((w) => w());
  return {
    file: {
      path: async () => path,
      readableAfter: async (from: number): Promise<number> => {
        for (;;) {
          if (readable > from) return readable;
          if (failed) throw failed;
          await new Promise<void>((r) => waiting.push(r));
        }
      },
    },
    grow(n: number) {
      readable += n;
      wake();
    },
    fail() {
      failed = new Error('the fill failed');
      wake();
    },
  };
}

/** One request to a server that answers with `body`, returning what arrived and whether it was cut short. */
function serveOnce(body: (res: import('node:http').ServerResponse) => Promise<unknown>): Promise<{ bytes: Buffer; complete: boolean }> {
  return new Promise((resolve, reject) => {
    const probe = createServer((_req, out) => void body(out));
    probe.listen(0, '127.0.0.1', () => {
      get({ host: '127.0.0.1', port: (probe.address() as AddressInfo).port, path: '/', agent: false }, (r) => {
        const chunks: Buffer[] = [];
        r.on('data', (c: Buffer) => chunks.push(c));
        const done = (complete: boolean) => probe.close(() => resolve({ bytes: Buffer.concat(chunks), complete }));
        r.on('end', () => done(r.complete));
        r.on('error', () => done(false));
      }).on('error', reject);
    });
  });
}

test('a growing file goes out as it is written, every byte exact, and only what was made sendable', async () => {
  const path = join(dir, 'growing');
  await writeFile(path, '');
  const g = growingFile(path);
  const { bytes: got, complete } = await serveOnce(async (out) => {
    out.setHeader('Content-Length', bytes.length);
    const sending = sendFileBody(out, g.file, 0, bytes.length);
    // Written in 3 MiB steps, each made sendable only after it is on file.
    for (let at = 0; at < bytes.length; at += 3 << 20) {
      const part = bytes.subarray(at, Math.min(at + (3 << 20), bytes.length));
      await writeFile(path, part, { flag: 'a' });
      g.grow(part.length);
      await new Promise((r) => setTimeout(r, 5));
    }
    return sending;
  });
  assert.ok(complete);
  assert.ok(got.equals(bytes));
});

test('a growing file that will never reach its end: the connection is cut, not completed', async () => {
  const path = join(dir, 'failing');
  await writeFile(path, bytes.subarray(0, 1 << 20));
  const g = growingFile(path);
  const { bytes: got, complete } = await serveOnce(async (out) => {
    out.setHeader('Content-Length', bytes.length);
    const sending = sendFileBody(out, g.file, 0, bytes.length);
    g.grow(1 << 20);
    await new Promise((r) => setTimeout(r, 50));
    g.fail();
    return sending;
  });
  assert.equal(complete, false);
  assert.ok(got.length <= 1 << 20);
  assert.ok(got.equals(bytes.subarray(0, got.length)));
});
