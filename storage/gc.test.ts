/**
 * GC over a real registry (LevelDB + files in a temp dir): roots, edges, leases,
 * retention, and that a dry run reports exactly what the real run frees.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { Level } from 'level';
import request from 'supertest';
import {
  blobOf,
  imageManifest,
  indexManifest,
  openRegistryApp,
  pushBlob,
  pushImage,
  pushManifest,
  randomBlob,
  type RegistryApp,
} from '../spec-tests/support/registry-app.js';

const HOUR = 3_600_000;
const opts = (extra: Record<string, unknown> = {}) => ({ uploadLease: HOUR, untaggedAfter: 24 * HOUR, ...extra });

let ctx: RegistryApp;
beforeEach(async () => {
  ctx = await openRegistryApp();
});
afterEach(async () => {
  await ctx.close();
});

const onDisk = (digest: string) => existsSync(join(ctx.dir, 'blobs', 'sha256', digest.slice(7, 9), digest.slice(7)));

describe('storage/gc', () => {
  it('keeps what tags reach (index -> children -> config and layers) and frees exactly a deleted image', async () => {
    const shared = randomBlob(3000);
    const a = await pushImage(ctx.app, 'app/a', 'v1', { layerSizes: [1000] });
    await pushBlob(ctx.app, 'app/a', shared);
    const child = imageManifest(a.config, [a.layers[0]!, shared]);
    await pushManifest(ctx.app, 'app/a', child.digest, child);
    const index = indexManifest([child]);
    await pushManifest(ctx.app, 'app/a', 'multi', index);
    const doomed = await pushImage(ctx.app, 'app/b', 'old', { layerSizes: [5000, 7000] });
    await request(ctx.app).delete(`/v2/app/b/manifests/${doomed.manifest.digest}`).expect(202);
    for (const b of [doomed.config, ...doomed.layers]) await request(ctx.app).delete(`/v2/app/b/blobs/${b.digest}`).expect(202);

    const expected = [doomed.manifest, doomed.config, ...doomed.layers].map((b) => ({ digest: b.digest, size: b.size })).sort((x, y) => (x.digest < y.digest ? -1 : 1));
    const dry = await ctx.registry.gc.collect(opts({ dryRun: true }));
    const sorted = (r: { blobs: { digest: string; size: number }[] }) => [...r.blobs].sort((x, y) => (x.digest < y.digest ? -1 : 1));
    assert.deepEqual(sorted(dry), expected);
    assert.ok(onDisk(doomed.layers[0]!.digest), 'a dry run deletes nothing');
    const real = await ctx.registry.gc.collect(opts());
    assert.deepEqual(sorted(real), expected);
    assert.equal(real.bytesFreed, dry.bytesFreed);
    assert.equal(real.bytesFreed, expected.reduce((n, b) => n + b.size, 0));
    for (const b of expected) assert.equal(onDisk(b.digest), false);
    for (const d of [a.manifest.digest, a.config.digest, a.layers[0]!.digest, shared.digest, child.digest, index.digest]) assert.ok(onDisk(d), d);
    // A second run finds nothing.
    assert.equal((await ctx.registry.gc.collect(opts())).bytesFreed, 0);
  });

  it('a new blob no manifest references yet is leased; after the lease it is freed', async () => {
    const fresh = randomBlob(4096);
    await pushBlob(ctx.app, 'app/c', fresh);
    assert.deepEqual((await ctx.registry.gc.collect(opts())).blobs, []);
    const later = await ctx.registry.gc.collect(opts({ now: Date.now() + 2 * HOUR }));
    assert.deepEqual(later.blobs, [{ digest: fresh.digest, size: fresh.size }]);
    assert.equal(onDisk(fresh.digest), false);
    // Its link went with it: the repository no longer claims the blob.
    assert.equal((await request(ctx.app).head(`/v2/app/c/blobs/${fresh.digest}`)).status, 404);
  });

  it('untagged manifests are roots until untaggedAfter; referrers live as long as their subject', async () => {
    const tagged = await pushImage(ctx.app, 'app/d', 'v1');
    const untagged = await pushImage(ctx.app, 'app/d', 'tmp');
    await request(ctx.app).delete(`/v2/app/d/manifests/tmp`).expect(202);
    const sigConfig = blobOf('{"signature":true}');
    await pushBlob(ctx.app, 'app/d', sigConfig);
    const signature = imageManifest(sigConfig, [], { subject: tagged.manifest, artifactType: 'application/vnd.example.sig' });
    await pushManifest(ctx.app, 'app/d', signature.digest, signature);

    assert.deepEqual((await ctx.registry.gc.collect(opts())).manifests, []);
    const later = await ctx.registry.gc.collect(opts({ now: Date.now() + 25 * HOUR }));
    assert.deepEqual(later.manifests, [{ repository: 'app/d', digest: untagged.manifest.digest }]);
    assert.ok(onDisk(signature.digest) && onDisk(sigConfig.digest), 'the signature of a tagged image stays');
    assert.equal(onDisk(untagged.layers[0]!.digest), false);
  });

  it('retention: keep the N most recent tags of matching repositories', async () => {
    const images = [];
    for (const tag of ['1', '2', '3']) {
      images.push(await pushImage(ctx.app, 'ci/build', tag));
      await new Promise((r) => setTimeout(r, 5));
    }
    const other = await pushImage(ctx.app, 'keep/all', 'x');
    // Two hours on: the blobs' upload leases are over, so what the dropped tags held is freed.
    const report = await ctx.registry.gc.collect(opts({ now: Date.now() + 2 * HOUR, retention: [{ repositories: ['ci/**'], keepTags: 1, untaggedAfter: 0 }] }));
    assert.deepEqual(report.tags.map((t) => t.tag).sort(), ['1', '2']);
    assert.equal((await request(ctx.app).head('/v2/ci/build/manifests/3')).status, 200);
    assert.equal((await request(ctx.app).head('/v2/ci/build/manifests/1')).status, 404);
    assert.equal(onDisk(images[0]!.layers[0]!.digest), false);
    assert.ok(onDisk(other.layers[0]!.digest));
  });

  it('a store from before times were kept: its untagged manifests and unreferenced blobs count from the first collection, not from 1970', async () => {
    const untagged = await pushImage(ctx.app, 'old/app', 'tmp');
    await request(ctx.app).delete('/v2/old/app/manifests/tmp').expect(202);
    const loose = randomBlob(2048);
    await pushBlob(ctx.app, 'old/app', loose);
    // Rewrite the index as an older Wharf left it: no put times, blob links without a time.
    await ctx.registry.close();
    const db = new Level<string, string>(join(ctx.dir, 'metadata'));
    for await (const [k, v] of db.iterator()) {
      if (k.startsWith('p\0')) await db.del(k);
      else if (k.startsWith('b\0')) await db.put(k, v.split(':')[0]!);
    }
    await db.close();
    await ctx.restart();

    const first = await ctx.registry.gc.collect(opts());
    assert.deepEqual([first.manifests, first.blobs], [[], []], 'nothing is older than the first collection');
    // Two hours on, the blob's lease (from the first collection) is over; the manifest is still young.
    const lease = await ctx.registry.gc.collect(opts({ now: Date.now() + 2 * HOUR }));
    assert.deepEqual([lease.manifests, lease.blobs], [[], [{ digest: loose.digest, size: loose.size }]]);
    // A day on, untaggedAfter has passed since that first collection.
    const later = await ctx.registry.gc.collect(opts({ now: Date.now() + 25 * HOUR }));
    assert.deepEqual(later.manifests, [{ repository: 'old/app', digest: untagged.manifest.digest }]);
    assert.equal(onDisk(untagged.layers[0]!.digest), false);
  });
});
