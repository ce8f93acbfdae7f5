/** The client against a real HTTP server on a unix socket in a temp dir. */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DaemonUnreachableError, EngineApiError, EngineClient, resolveHost } from './client.js';
import { Demuxer, frame } from './stdcopy.js';

let dir: string;
let server: http.Server;
const seen: string[] = [];

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'wharf-client-'));
  server = http.createServer((req, res) => {
    seen.push(`${req.method} ${req.url}`);
    if (req.url === '/_ping') return void res.writeHead(200, { 'API-Version': '1.41' }).end('OK');
    if (req.url === '/v1.41/containers/nope/json') return void res.writeHead(404, { 'Content-Type': 'application/json' }).end('{"message":"No such container: nope"}');
    if (req.url?.startsWith('/v1.41/containers/json')) return void res.writeHead(200, { 'Content-Type': 'application/json' }).end('[]');
    res.writeHead(500).end('plain failure');
  });
  server.on('upgrade', (req, socket) => {
    seen.push(`UPGRADE ${req.url}`);
    socket.write('HTTP/1.1 101 UPGRADED\r\nContent-Type: application/vnd.docker.multiplexed-stream\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n');
    socket.write(frame(1, 'out'));
    socket.on('data', (d: Buffer) => socket.end(frame(2, `echo:${d.toString()}`)));
  });
  await new Promise<void>((r) => server.listen(join(dir, 'api.sock'), r));
});

after(async () => {
  server.close();
  await rm(dir, { recursive: true, force: true });
});

test('the host: -H, else WHARF_HOST, else the default socket', () => {
  assert.deepEqual(resolveHost('unix:///a.sock', { WHARF_HOST: 'unix:///b.sock' }), { host: 'unix:///a.sock', explicit: true });
  assert.deepEqual(resolveHost(undefined, { WHARF_HOST: 'unix:///b.sock' }), { host: 'unix:///b.sock', explicit: true });
  assert.deepEqual(resolveHost(undefined, {}), { host: 'unix:///run/wharf/wharf.sock', explicit: false });
  assert.throws(() => new EngineClient('tcp://0.0.0.0:2375'), /loopback/);
  assert.throws(() => new EngineClient('unix://relative.sock'), /absolute/);
});

test('negotiates the version once through /_ping; errors carry the status and the daemon message', async () => {
  const c = new EngineClient(`unix://${join(dir, 'api.sock')}`);
  try {
    assert.deepEqual(await c.json('GET', '/containers/json', { query: { all: true, filters: '{"name":{"x":true}}' } }), []);
    await assert.rejects(c.json('GET', '/containers/nope/json'), (e: EngineApiError) => e.status === 404 && e.message === 'Error response from daemon: No such container: nope' && e.exitCode === 1);
    await assert.rejects(c.json('GET', '/other'), (e: EngineApiError) => e.status === 500 && e.daemonMessage === 'plain failure');
    assert.equal(seen.filter((s) => s === 'GET /_ping').length, 1);
    assert.ok(seen.includes('GET /v1.41/containers/json?all=1&filters=%7B%22name%22%3A%7B%22x%22%3Atrue%7D%7D'), seen.join('\n'));
  } finally {
    c.close();
  }
});

test('a hijacked connection reads the stream from its first byte and writes back', async () => {
  const c = new EngineClient(`unix://${join(dir, 'api.sock')}`);
  try {
    const socket = await c.hijack('POST', '/containers/x/attach', { query: { stream: true, stdin: true } });
    const got: string[] = [];
    const demux = new Demuxer((s, p) => got.push(`${s}:${p.toString()}`));
    socket.on('data', (d: Buffer) => demux.push(d));
    socket.write('in');
    await new Promise((r) => socket.on('close', r));
    assert.deepEqual(got, ['1:out', '2:echo:in']);
  } finally {
    c.close();
  }
});

test('no daemon at the socket: DaemonUnreachableError that says how to start one', async () => {
  const c = new EngineClient(`unix://${join(dir, 'missing.sock')}`);
  assert.equal(await c.reachable(), false);
  await assert.rejects(c.json('GET', '/containers/json'), (e: Error) => e instanceof DaemonUnreachableError && /wharf daemon/.test(e.message));
  c.close();
});
