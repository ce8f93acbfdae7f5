/**
 * Upstream auth of the cache: Basic (a Wharf behind htpasswd), and the Bearer challenge
 * flow with the rule that the token realm must be on the upstream's host or configured
 * for it: a challenge naming another host is never called (distribution's
 * CVE-2026-33540), so the upstream's credentials never travel there. Clients of the
 * cache need no credentials and never see the upstream's.
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { buildImage, buildLayer, pushImage, type BuiltImage } from './support/images.js';
import { requireCommand, run } from './support/peers.js';
import { startCachingWharf } from './support/proxy.js';
import { startTestWharf, type TestWharf } from './support/wharf.js';

const ACCEPT = 'application/vnd.oci.image.manifest.v1+json';
const USER = 'cache';
const PASSWORD = 'upstream-only-secret';
const basic = `Basic ${Buffer.from(`${USER}:${PASSWORD}`).toString('base64')}`;

let work: string;
let img: BuiltImage;

before(async () => {
  await requireCommand('htpasswd', 'apache2-utils');
  work = await mkdtemp(join(tmpdir(), 'wharf-proxy-auth-'));
  img = buildImage([await buildLayer([{ type: 'file', path: 'etc/auth', content: 'behind auth\n' }])]);
});
after(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

function listen(handler: (req: IncomingMessage, res: import('node:http').ServerResponse) => void): Promise<{ server: Server; port: number }> {
  const server = createServer(handler);
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ server, port: (server.address() as AddressInfo).port })));
}

describe('Basic auth upstream (a Wharf behind htpasswd)', () => {
  let upstream: TestWharf;
  let cache: TestWharf;
  before(async () => {
    const root = join(work, 'basic');
    await mkdir(root);
    const open = await startTestWharf({ root });
    await pushImage(open.url, 'team/app', '1', img);
    await open.close();
    const htpasswd = join(work, 'htpasswd');
    await run('htpasswd', ['-B', '-b', '-c', htpasswd, USER, PASSWORD]);
    upstream = await startTestWharf({ root, env: { WHARF_AUTH_HTPASSWD_PATH: htpasswd } });
    cache = await startCachingWharf([{ name: 'basic.example', url: upstream.url, username: USER, password: PASSWORD }]);
  });
  after(async () => {
    await cache?.destroy();
    await upstream?.destroy();
  });

  it('pulls with the configured credentials; the client sends none and sees none', async () => {
    assert.equal((await fetch(`${upstream.url}/v2/team/app/manifests/1`)).status, 401);
    const res = await fetch(`${cache.url}/v2/basic.example/team/app/manifests/1`, { headers: { accept: ACCEPT } });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('docker-content-digest'), img.manifestDigest);
    const headers = JSON.stringify([...res.headers]);
    assert.ok(!headers.includes(PASSWORD) && !headers.includes(basic.slice(6)) && !/www-authenticate/i.test(headers), headers);
    const blob = await fetch(`${cache.url}/v2/basic.example/team/app/blobs/${img.layers[0]!.digest}`);
    assert.deepEqual(Buffer.from(await blob.arrayBuffer()), img.layers[0]!.blob);
  });
});

describe('a Bearer challenge naming a realm on another host', () => {
  let upstream: { server: Server; port: number };
  let realm: { server: Server; port: number };
  const tokenRequests: (string | undefined)[] = [];
  let realmUrl: string;

  before(async () => {
    // The token endpoint lives on "localhost", the upstream on 127.0.0.1: another host by name.
    realm = await listen((req, res) => {
      tokenRequests.push(req.headers.authorization);
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ token: 'granted' }));
    });
    realmUrl = `http://localhost:${realm.port}/token`;
    upstream = await listen((req, res) => {
      if (req.headers.authorization !== 'Bearer granted') {
        res.writeHead(401, { 'www-authenticate': `Bearer realm="${realmUrl}",service="up"`, 'content-type': 'application/json' });
        return void res.end('{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}');
      }
      if (req.url === `/v2/team/app/manifests/1` || req.url === `/v2/team/app/manifests/${img.manifestDigest}`) {
        res.writeHead(200, { 'content-type': img.mediaType, 'docker-content-digest': img.manifestDigest, 'content-length': img.manifest.length });
        return void res.end(req.method === 'HEAD' ? undefined : img.manifest);
      }
      res.writeHead(404).end();
    });
  });
  after(async () => {
    await new Promise((r) => upstream.server.close(r));
    await new Promise((r) => realm.server.close(r));
  });

  it('is refused unless configured: the realm is never called, and the error says why', async () => {
    const cache = await startCachingWharf([{ name: 'up.example', url: `http://127.0.0.1:${upstream.port}`, username: USER, password: PASSWORD }]);
    try {
      const res = await fetch(`${cache.url}/v2/up.example/team/app/manifests/1`, { headers: { accept: ACCEPT } });
      assert.equal(res.status, 404);
      const message = ((await res.json()) as { errors: { message: string }[] }).errors[0]!.message;
      assert.match(message, /token realm on another host \(http:\/\/localhost:\d+\/token\)/);
      assert.ok(!message.includes(PASSWORD));
      assert.deepEqual(tokenRequests, [], 'the foreign realm must not be called');
    } finally {
      await cache.destroy();
    }
  });

  it('is used when configured as the upstream\'s tokenRealm, with the upstream\'s credentials', async () => {
    const cache = await startCachingWharf([{ name: 'up.example', url: `http://127.0.0.1:${upstream.port}`, username: USER, password: PASSWORD, tokenRealm: realmUrl }]);
    try {
      const res = await fetch(`${cache.url}/v2/up.example/team/app/manifests/1`, { headers: { accept: ACCEPT } });
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('docker-content-digest'), img.manifestDigest);
      assert.deepEqual(tokenRequests, [basic]);
    } finally {
      await cache.destroy();
    }
  });
});
