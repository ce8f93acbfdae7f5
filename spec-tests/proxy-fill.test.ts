/**
 * Cache fills under load and failure, with registry:2 as the upstream:
 * - 20 concurrent cold pulls of a 256 MiB layer: exactly one upstream download (counted by
 *   the upstream itself, registry:2's Prometheus metrics), and all 20 clients get bytes
 *   that verify; a client that leaves early stops nothing;
 * - an upstream that sends corrupted bytes: no client receives the whole blob, and it is
 *   never stored or served afterwards;
 * - SIGKILL of the cache during a fill: no partial blob is visible after the restart, and
 *   the next pull completes.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { createServer, get as httpGet, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { buildImage, pushBlob, pushManifest, sha256, MEDIA } from './support/images.js';
import { startCachingWharf, startCountingForwarder, type CountingForwarder } from './support/proxy.js';
import { freePort, startReferenceRegistry, type TestRegistry } from './support/registry.js';
import type { TestWharf } from './support/wharf.js';

const ACCEPT = 'application/vnd.oci.image.manifest.v1+json';

/** GET a blob (node:http, to keep the client cheap) and hash what arrives; `abortAfter` leaves after that many bytes. */
function pullBlob(url: string, abortAfter?: number): Promise<{ status: number; bytes: number; digest: string; complete: boolean }> {
  return new Promise((resolve, reject) => {
    const req = httpGet(url, (res) => {
      const hash = createHash('sha256');
      let bytes = 0;
      let settled = false;
      const done = (complete: boolean) => {
        if (settled) return;
        settled = true;
        resolve({ status: res.statusCode ?? 0, bytes, digest: `sha256:${hash.digest('hex')}`, complete });
      };
      res.on('data', (chunk: Buffer) => {
        hash.update(chunk);
        bytes += chunk.length;
        if (abortAfter !== undefined && bytes >= abortAfter) {
          req.destroy();
          done(false);
        }
      });
      // A response cut short ends with 'aborted'/'error' before 'end' (or with 'end' and fewer bytes).
      res.on('end', () => done(abortAfter === undefined && res.complete));
      res.on('error', () => done(false));
      res.on('aborted', () => done(false));
    });
    req.on('error', reject);
  });
}

async function pushBigImage(registryUrl: string, repo: string, layer: Buffer): Promise<{ layerDigest: string; manifestDigest: string }> {
  const layerDigest = sha256(layer);
  await pushBlob(registryUrl, repo, layer, layerDigest);
  const image = buildImage([{ blob: layer, digest: layerDigest, diffId: layerDigest, mediaType: MEDIA.ociLayer } as never]);
  await pushBlob(registryUrl, repo, image.config, image.configDigest);
  await pushManifest(registryUrl, repo, '1', image.manifest, image.mediaType);
  return { layerDigest, manifestDigest: image.manifestDigest };
}

/** The upstream's own count of blob GETs it answered and blob bytes it sent. */
async function upstreamBlobs(registry: TestRegistry): Promise<{ gets: number; bytes: number }> {
  const text = await (await fetch(registry.metricsUrl!)).text();
  let gets = 0;
  for (const m of text.matchAll(/^registry_http_requests_total\{code="\d+",handler="blob",method="get"\} (\S+)$/gm)) gets += Number(m[1]);
  const bytes = Number(/^registry_http_response_size_bytes_sum\{handler="blob"\} (\S+)$/m.exec(text)?.[1] ?? 0);
  return { gets, bytes };
}

describe('20 concurrent cold pulls of a 256 MiB layer', () => {
  let upstream: TestRegistry;
  let cache: TestWharf;
  const layer = randomBytes(256 << 20);
  let pushed: { layerDigest: string; manifestDigest: string };

  before(async () => {
    upstream = await startReferenceRegistry({ metrics: true });
    pushed = await pushBigImage(upstream.url, 'library/big', layer);
    cache = await startCachingWharf([{ name: 'docker.io', url: upstream.url }]);
  });
  after(async () => {
    await cache?.destroy();
    await upstream?.close();
  });

  it('cause exactly one upstream download, and all 20 get verified bytes', async () => {
    const base = `${cache.url}/v2/docker.io/library/big`;
    const before = await upstreamBlobs(upstream);
    const pulls = Array.from({ length: 20 }, async () => {
      const manifest = await fetch(`${base}/manifests/1`, { headers: { accept: ACCEPT } });
      assert.equal(manifest.headers.get('docker-content-digest'), pushed.manifestDigest);
      await manifest.arrayBuffer();
      return pullBlob(`${base}/blobs/${pushed.layerDigest}`);
    });
    // One more client leaves after 1 MiB: the fill the others follow goes on.
    const leaver = pullBlob(`${base}/blobs/${pushed.layerDigest}`, 1 << 20);
    const results = await Promise.all(pulls);
    assert.equal((await leaver).complete, false);
    for (const r of results) {
      assert.equal(r.status, 200);
      assert.equal(r.bytes, layer.length);
      assert.equal(r.digest, pushed.layerDigest);
    }
    const filled = await upstreamBlobs(upstream);
    assert.equal(filled.gets - before.gets, 1, 'one upstream blob GET');
    assert.equal(filled.bytes - before.bytes, layer.length, 'the upstream sent the layer once');
    // Now cached: a later pull is served locally.
    const again = await pullBlob(`${base}/blobs/${pushed.layerDigest}`);
    assert.equal(again.digest, pushed.layerDigest);
    assert.equal((await upstreamBlobs(upstream)).gets, filled.gets);
  });
});

describe('an upstream that sends corrupted bytes', () => {
  let fake: Server;
  let cache: TestWharf;
  const good = randomBytes(4 << 20);
  const digest = sha256(good);
  const corrupt = Buffer.from(good);
  corrupt[corrupt.length - 1] ^= 0xff;
  let gets = 0;

  before(async () => {
    // A hostile upstream: announces the right size for the digest and sends other bytes.
    fake = createServer((req, res) => {
      if (req.url === '/v2/' || req.url === '/v2') return void res.end('{}');
      if (req.url === `/v2/bad/blobs/${digest}`) {
        if (req.method === 'GET') gets++;
        res.writeHead(200, { 'content-length': corrupt.length, 'content-type': 'application/octet-stream', 'docker-content-digest': digest });
        return void res.end(req.method === 'HEAD' ? undefined : corrupt);
      }
      res.writeHead(404, { 'content-type': 'application/json' }).end('{"errors":[{"code":"BLOB_UNKNOWN","message":"no"}]}');
    });
    await new Promise<void>((resolve) => fake.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(fake.address() as AddressInfo).port}`;
    cache = await startCachingWharf([{ name: 'evil.example', url }]);
  });
  after(async () => {
    await cache?.destroy();
    await new Promise<void>((resolve) => fake.close(() => resolve()));
  });

  it('is never served whole (the connection is cut), and never stored', async () => {
    const first = await pullBlob(`${cache.url}/v2/evil.example/bad/blobs/${digest}`);
    assert.equal(first.complete, false, 'the response must be cut short');
    assert.ok(first.bytes < good.length, `a client received ${first.bytes} of ${good.length} bytes`);
    const shard = join(cache.root, 'blobs', 'sha256', digest.slice(7, 9), digest.slice(7));
    assert.equal(existsSync(shard), false, 'the corrupted blob must not be in the store');
    assert.deepEqual(await readdir(join(cache.root, 'uploads')), [], 'nothing left behind in uploads/');
    // Not served from the cache later either: every request goes upstream again, and fails again.
    const second = await pullBlob(`${cache.url}/v2/evil.example/bad/blobs/${digest}`);
    assert.equal(second.complete, false);
    assert.equal(gets, 2);
  });
});

describe('SIGKILL during a cache fill', () => {
  let upstream: TestRegistry;
  let forwarder: CountingForwarder;
  let root: string;
  const layer = randomBytes(32 << 20);
  let pushed: { layerDigest: string; manifestDigest: string };
  const wharfBin = fileURLToPath(new URL('../bin/wharf.js', import.meta.url));

  async function startCacheProcess(port: number) {
    const child = spawn(process.execPath, [wharfBin, 'serve', '--addr', `127.0.0.1:${port}`, '--root', root], {
      env: { ...process.env, WHARF_LOG_LEVEL: 'silent', WHARF_PROXY_UPSTREAMS: JSON.stringify([{ name: 'docker.io', url: forwarder.url }]) },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    for (let i = 0; i < 200; i++) {
      if (child.exitCode !== null) throw new Error('wharf serve exited');
      if (await fetch(`http://127.0.0.1:${port}/v2/`).then((r) => r.ok, () => false)) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    return { child, exited, url: `http://127.0.0.1:${port}` };
  }

  before(async () => {
    upstream = await startReferenceRegistry();
    pushed = await pushBigImage(upstream.url, 'library/killed', layer);
    forwarder = await startCountingForwarder(upstream.url);
    root = await mkdtemp(join(tmpdir(), 'wharf-proxy-kill-'));
  });
  after(async () => {
    forwarder?.release();
    await forwarder?.close();
    await upstream?.close();
    if (root) await rm(root, { recursive: true, force: true });
  });

  it('leaves no partial blob visible, and the next pull completes', async () => {
    const port = await freePort();
    const first = await startCacheProcess(port);
    forwarder.stallAfter(8 << 20);
    const blobUrl = `${first.url}/v2/docker.io/library/killed/blobs/${pushed.layerDigest}`;
    // The client has its headers and first bytes only once the fill is under way.
    const res = await fetch(blobUrl);
    assert.equal(res.status, 200);
    const reader = res.body!.getReader();
    const firstChunk = await reader.read();
    assert.ok(firstChunk.value && firstChunk.value.length > 0);
    assert.equal((await readdir(join(root, 'uploads'))).length, 1, 'a partial upload file exists while the fill runs');
    first.child.kill('SIGKILL');
    await first.exited;
    let received = firstChunk.value.length;
    const cut = await (async () => {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) return false;
        received += value.length;
      }
    })().catch(() => true);
    assert.equal(cut, true, 'the killed cache cannot have finished the response');
    assert.ok(received < layer.length);
    const shard = join(root, 'blobs', 'sha256', pushed.layerDigest.slice(7, 9), pushed.layerDigest.slice(7));
    assert.equal(existsSync(shard), false, 'no blob may be visible after a killed fill');

    forwarder.release();
    const second = await startCacheProcess(port);
    try {
      assert.deepEqual(await readdir(join(root, 'uploads')), [], 'the killed fill\'s upload file is removed at start');
      const res = await pullBlob(`${second.url}/v2/docker.io/library/killed/blobs/${pushed.layerDigest}`);
      assert.equal(res.status, 200);
      assert.equal(res.bytes, layer.length);
      assert.equal(res.digest, pushed.layerDigest);
      // The client has every byte once the digest verified; the fill's fsync and rename (the
      // commit that makes the blob visible) follow a moment later.
      for (let i = 0; i < 200 && !existsSync(shard); i++) await new Promise((r) => setTimeout(r, 50));
      assert.equal(existsSync(shard), true, 'the completed fill is stored');
    } finally {
      second.child.kill('SIGTERM');
      await second.exited;
    }
  });
});
