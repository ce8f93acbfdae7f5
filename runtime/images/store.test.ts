/**
 * Pull, list and rmi against real registries, Wharf's own and Debian's reference registry
 * (registry:2), with a small node:http front for the auth challenge and for a registry that
 * serves corrupted bytes.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import { pbkdf2 } from 'node:crypto';
import { mkdtemp, readFile, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  buildImage,
  buildIndex,
  buildLayer,
  pushImage,
  pushIndex,
  type BuiltImage,
} from '../../spec-tests/support/images.js';
import { startReferenceRegistry, startWharfRegistry, type TestRegistry } from '../../spec-tests/support/registry.js';
import { ImageStore, ImageNotFoundError, type PullProgress } from './store.js';
import { DigestMismatchError, SizeMismatchError, UnauthorizedError } from '../../oci/client.js';
import { PlatformNotFoundError } from '../../oci/image.js';
import { prepareSnapshot, removeSnapshot, removeAllSnapshots } from '../layers/snapshots.js';
import { NodeLayout } from '../layout.js';
import type { Digest } from '../../oci/names.js';

const registries: Array<[string, () => Promise<TestRegistry>]> = [
  ['wharf', startWharfRegistry],
  ['registry:2', startReferenceRegistry],
];

for (const [registryName, startTestRegistry] of registries) {
  describe(`pulling from ${registryName}`, () => {
    let registry: TestRegistry;
    before(async () => {
      registry = await startTestRegistry();
    });
    after(async () => {
      await registry.close();
    });

    async function newStore(t: { after: (fn: () => Promise<void>) => void }): Promise<ImageStore> {
      const root = await mkdtemp(join(tmpdir(), 'wharf-node-'));
      t.after(async () => {
        await removeAllSnapshots(new NodeLayout(root));
        await rm(root, { recursive: true, force: true });
      });
      return new ImageStore(root, { defaultRegistry: registry.host });
    }

    async function sampleImage(tag: string, format: 'oci' | 'docker' = 'oci', extra = tag): Promise<BuiltImage> {
      const base = await buildLayer([{ type: 'dir', path: 'bin' }, { type: 'file', path: 'bin/base', content: 'base layer' }], { format });
      const top = await buildLayer([{ type: 'file', path: `etc/${extra}`, content: extra }], { format });
      return buildImage(
        [base, top],
        { Entrypoint: ['/bin/app'], Cmd: ['--flag'], Env: ['PATH=/bin', 'A=1'], WorkingDir: '/work', User: '1000:1000' },
        format,
      );
    }

    /** A front for the registry: optional auth challenge, optional corruption of responses. */
    async function startFront(
      opts: { auth?: 'bearer' | 'basic'; user?: string; password?: string; corrupt?: (path: string, body: Buffer) => Buffer } = {},
    ): Promise<{ host: string; close: () => Promise<void>; tokenRequests: string[] }> {
      const token = 'tok-' + Math.random().toString(36).slice(2);
      const basic = `Basic ${Buffer.from(`${opts.user}:${opts.password}`).toString('base64')}`;
      const tokenRequests: string[] = [];
      const server = createServer(async (req: IncomingMessage, res: ServerResponse) => {
        const url = new URL(req.url ?? '/', 'http://front');
        if (url.pathname === '/token') {
          tokenRequests.push(url.search);
          if (req.headers.authorization !== basic) return void res.writeHead(401).end();
          return void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ token }));
        }
        const want = opts.auth === 'bearer' ? `Bearer ${token}` : opts.auth === 'basic' ? basic : undefined;
        if (want && req.headers.authorization !== want) {
          const challenge =
            opts.auth === 'bearer'
              ? `Bearer realm="http://${req.headers.host}/token",service="front",scope="repository:${/^\/v2\/(.+?)\/(?:manifests|blobs|tags)\//.exec(url.pathname)?.[1]}:pull"`
              : 'Basic realm="front"';
          return void res.writeHead(401, { 'www-authenticate': challenge, 'content-type': 'application/json' }).end('{"errors":[{"code":"UNAUTHORIZED"}]}');
        }
        const up = await fetch(`${registry.url}${req.url}`, { headers: { accept: String(req.headers.accept ?? '') } });
        let body: Buffer = Buffer.from(await up.arrayBuffer());
        if (opts.corrupt) body = opts.corrupt(url.pathname, body);
        const headers: Record<string, string> = { 'content-length': String(body.length) };
        for (const h of ['content-type', 'docker-content-digest']) {
          const v = up.headers.get(h);
          if (v) headers[h] = v;
        }
        res.writeHead(up.status, headers).end(body);
      });
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      const port = (server.address() as { port: number }).port;
      return {
        host: `127.0.0.1:${port}`,
        tokenRequests,
        close: () => new Promise((r) => server.close(() => r())),
      };
    }

    test('pull an OCI image by tag: record, config, blobs, unpacked layers, progress', async (t) => {
      const store = await newStore(t);
      const image = await sampleImage('oci1');
      await pushImage(registry.url, 'test/oci', 'v1', image);

      const events: PullProgress[] = [];
      const rec = await store.pull('test/oci:v1', { onProgress: (p) => events.push(p) });
      assert.equal(rec.reference, `${registry.host}/test/oci:v1`);
      assert.equal(rec.digest, image.manifestDigest);
      assert.equal(rec.configDigest, image.configDigest);
      assert.deepEqual(rec.platform, { os: 'linux', architecture: 'amd64' });
      assert.deepEqual(rec.config.Entrypoint, ['/bin/app']);
      assert.deepEqual(rec.config.Cmd, ['--flag']);
      assert.deepEqual(rec.config.Env, ['PATH=/bin', 'A=1']);
      assert.equal(rec.config.WorkingDir, '/work');
      assert.equal(rec.config.User, '1000:1000');
      assert.deepEqual(
        rec.layers.map((l) => [l.digest, l.diffId]),
        image.layers.map((l) => [l.digest, l.diffId]),
      );
      for (const d of [image.manifestDigest, image.configDigest, ...image.layers.map((l) => l.digest)]) {
        assert.ok(await store.hasBlob(d as Digest), `blob ${d} stored`);
      }
      const dirs = await store.layerDirs(rec);
      assert.equal(await readFile(join(dirs[0]!, 'bin/base'), 'utf8'), 'base layer');
      assert.equal(await readFile(join(dirs[1]!, 'etc/oci1'), 'utf8'), 'oci1');
      for (const l of image.layers) {
        const phases = events.filter((e) => e.layer === l.digest).map((e) => e.phase);
        assert.equal(phases[0], 'waiting');
        assert.ok(phases.includes('downloading'));
        assert.equal(phases.at(-1), 'done');
      }
      assert.deepEqual((await store.list()).map((r) => r.reference), [rec.reference]);
      assert.equal((await store.get('test/oci:v1'))?.digest, rec.digest);
      assert.equal((await store.get(rec.configDigest.slice(7, 19)))?.reference, rec.reference, 'found by short image ID');

      // A second pull finds everything in place.
      const again: PullProgress[] = [];
      await store.pull('test/oci:v1', { onProgress: (p) => again.push(p) });
      assert.ok(!again.some((e) => e.phase === 'downloading' || e.phase === 'unpacking'));
    });

    test('pull a Docker v2 image by digest', async (t) => {
      const store = await newStore(t);
      const image = await sampleImage('dock', 'docker');
      await pushImage(registry.url, 'test/docker', 'v1', image);
      const rec = await store.pull(`${registry.host}/test/docker@${image.manifestDigest}`);
      assert.equal(rec.digest, image.manifestDigest);
      assert.equal(rec.mediaType, 'application/vnd.docker.distribution.manifest.v2+json');
      assert.equal(rec.tag, undefined);
      assert.equal(rec.reference, `${registry.host}/test/docker@${image.manifestDigest}`);
    });

    test('an index resolves to linux/amd64; a variant is honoured; a missing platform is refused', async (t) => {
      const store = await newStore(t);
      const mk = async (arch: string, variant?: string) =>
        buildImage([await buildLayer([{ type: 'file', path: 'arch', content: `${arch}${variant ?? ''}` }])], {
          architecture: arch,
          ...(variant ? { variant } : {}),
        });
      const arm7 = await mk('arm', 'v7');
      const arm6 = await mk('arm', 'v6');
      const amd64 = await mk('amd64');
      const arm64 = await mk('arm64', 'v8');
      for (const format of ['oci', 'docker'] as const) {
        const index = buildIndex([arm7, arm6, amd64, arm64], format);
        await pushIndex(registry.url, `test/multi-${format}`, 'latest', index);
        const rec = await store.pull(`test/multi-${format}`);
        assert.equal(rec.digest, amd64.manifestDigest);
        assert.equal(rec.indexDigest, index.digest);
        const dirs = await store.layerDirs(rec);
        assert.equal(await readFile(join(dirs[0]!, 'arch'), 'utf8'), 'amd64');
      }
      const v6 = await store.pull('test/multi-oci', { platform: { os: 'linux', architecture: 'arm', variant: 'v6' } });
      assert.equal(v6.digest, arm6.manifestDigest);
      await assert.rejects(store.pull('test/multi-oci', { platform: { os: 'linux', architecture: 's390x' } }), PlatformNotFoundError);
    });

    test('corrupted blobs and manifests are refused and nothing is kept', async (t) => {
      const image = await sampleImage('corrupt');
      await pushImage(registry.url, 'test/corrupt', 'v1', image);
      const flip = (b: Buffer) => {
        const c = Buffer.from(b);
        c[c.length - 1] = c[c.length - 1]! ^ 0xff;
        return c;
      };
      const layerDigest = image.layers[1]!.digest;

      const badLayer = await startFront({ corrupt: (p, b) => (p.endsWith(layerDigest) ? flip(b) : b) });
      t.after(badLayer.close);
      const store = await newStore(t);
      await assert.rejects(store.pull(`${badLayer.host}/test/corrupt:v1`), DigestMismatchError);
      assert.equal(await store.hasBlob(layerDigest as Digest), false);
      assert.deepEqual(await readdir(store.layout.contentTmpDir), [], 'no temp file left');
      assert.deepEqual(await store.list(), []);

      const shortLayer = await startFront({ corrupt: (p, b) => (p.endsWith(layerDigest) ? b.subarray(0, b.length - 1) : b) });
      t.after(shortLayer.close);
      await assert.rejects(store.pull(`${shortLayer.host}/test/corrupt:v1`), SizeMismatchError);

      // A manifest fetched by digest must hash to that digest.
      const badManifest = await startFront({ corrupt: (p, b) => (p.includes('/manifests/') ? Buffer.from(b.toString().replace('}', ' }')) : b) });
      t.after(badManifest.close);
      await assert.rejects(store.pull(`${badManifest.host}/test/corrupt@${image.manifestDigest}`), DigestMismatchError);
      // ... and by tag, to the registry's Docker-Content-Digest.
      await assert.rejects(store.pull(`${badManifest.host}/test/corrupt:v1`), DigestMismatchError);
    });

    test('auth challenge: Bearer token flow with Basic credentials at the token endpoint', async (t) => {
      await pushImage(registry.url, 'test/private', 'v1', await sampleImage('private'));
      const front = await startFront({ auth: 'bearer', user: 'alice', password: 's3cret' });
      t.after(front.close);
      const store = await newStore(t);
      const rec = await store.pull(`${front.host}/test/private:v1`, { credentials: { username: 'alice', password: 's3cret' } });
      assert.equal(rec.repository, 'test/private');
      assert.ok(front.tokenRequests.length >= 1);
      const q = new URLSearchParams(front.tokenRequests[0]);
      assert.equal(q.get('service'), 'front');
      assert.equal(q.get('scope'), 'repository:test/private:pull');
      await assert.rejects(store.pull(`${front.host}/test/private:v1`), UnauthorizedError);
      await assert.rejects(
        store.pull(`${front.host}/test/private:v1`, { credentials: { username: 'alice', password: 'wrong' } }),
        UnauthorizedError,
      );
    });

    test('auth challenge: Basic', async (t) => {
      await pushImage(registry.url, 'test/basic', 'v1', await sampleImage('basic'));
      const front = await startFront({ auth: 'basic', user: 'bob', password: 'pw' });
      t.after(front.close);
      const store = await newStore(t);
      await store.pull(`${front.host}/test/basic:v1`, { credentials: { username: 'bob', password: 'pw' } });
      await assert.rejects(store.pull(`${front.host}/test/basic:v1`), UnauthorizedError);
    });

    test('rmi keeps what other images and containers share, then removes the rest', async (t) => {
      const store = await newStore(t);
      const a = await sampleImage('a', 'oci', 'only-a');
      const b = await sampleImage('b', 'oci', 'only-b');
      assert.equal(a.layers[0]!.digest, b.layers[0]!.digest, 'same base layer');
      await pushImage(registry.url, 'test/rmi-a', 'v1', a);
      await pushImage(registry.url, 'test/rmi-b', 'v1', b);
      const ra = await store.pull('test/rmi-a:v1');
      const rb = await store.pull('test/rmi-b:v1');
      const base = ra.layers[0]!;

      const gone = await store.remove('test/rmi-a:v1');
      assert.deepEqual(gone.removed, [ra.reference]);
      assert.ok(gone.deletedBlobs.includes(ra.layers[1]!.digest));
      assert.ok(gone.deletedBlobs.includes(ra.configDigest));
      assert.ok(!gone.deletedBlobs.includes(base.digest), 'shared base blob kept');
      assert.ok(await store.hasBlob(base.digest));
      await stat(store.layout.layerDir(base.diffId));
      assert.deepEqual((await store.list()).map((r) => r.reference), [rb.reference]);
      await assert.rejects(store.remove('test/rmi-a:v1'), ImageNotFoundError);

      // A container's snapshot holds its layers even after its image is removed.
      await prepareSnapshot(store.layout, 'holder', rb.layers.map((l) => l.diffId));
      await store.remove(rb.configDigest);
      assert.deepEqual(await store.list(), []);
      await stat(store.layout.layerDir(base.diffId));
      assert.equal(await store.hasBlob(base.digest), false, 'blobs go: the unpacked layers are what containers use');
      await removeSnapshot(store.layout, 'holder');
      const last = await store.gc();
      assert.equal(last.deletedLayers.length, 2);
      assert.deepEqual(await readdir(store.layout.layersDir), []);
    });
  });
}

describe('writeBlob', () => {
  test('a stream that fails leaves no temp file, not even one its write would create after the failure', async (t) => {
    const root = await mkdtemp(join(tmpdir(), 'wharf-node-'));
    t.after(() => rm(root, { recursive: true, force: true }));
    const store = new ImageStore(root, {});
    const digest = `sha256:${'0'.repeat(64)}` as Digest;
    // A small body whose check fails at once, as a corrupt layer's verified stream does, while
    // libuv's pool is busy (4 pbkdf2 jobs: its 4 threads), as during a pull: the file's open
    // and the cleanup's rm then wait in the queue side by side and run at the same time. With
    // writeBlob as it was (its rm not waiting for the stream's close), these rounds as a plain
    // script left the file behind within 60 rounds in 4 runs of 4; under the test runner they
    // rarely do, and the pull test above saw it once in about 15 runs of the suite.
    for (let round = 0; round < 60; round++) {
      const busy = Array.from({ length: 4 }, () => new Promise((resolve) => pbkdf2('x', 'y', 20_000, 32, 'sha256', resolve)));
      const body = new Readable({
        read() {
          this.push(Buffer.from('bytes'));
          this.destroy(new DigestMismatchError(digest, `sha256:${'1'.repeat(64)}`));
        },
      });
      const failed = await store.writeBlob(digest, body).then(() => undefined, (err: unknown) => err);
      assert.ok(failed instanceof DigestMismatchError, `round ${round}: ${String(failed)}`);
      await Promise.all(busy);
      await new Promise((r) => setTimeout(r, 20));
      assert.deepEqual(await readdir(store.layout.contentTmpDir), [], `round ${round}: once the pool is idle`);
    }
    assert.equal(await store.hasBlob(digest), false);
  });
});
