/** OCI distribution-spec, "Content management": deleting manifests, tags and blobs. */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import request from 'supertest';
import {
  MediaTypes,
  assertError,
  indexManifest,
  openRegistryApp,
  pushImage,
  pushManifest,
  sha256,
  type RegistryApp,
} from './support/registry-app.js';

describe('content management', () => {
  let ctx: RegistryApp;

  before(async () => {
    ctx = await openRegistryApp();
  });
  after(() => ctx.close());

  it('DELETE a manifest by digest: 202, then 404 by digest, and the tags pointing at it are gone', async () => {
    const repo = 'manage/manifest';
    const img = await pushImage(ctx.app, repo, 'v1');
    await pushManifest(ctx.app, repo, 'latest', img.manifest);
    const keep = await pushImage(ctx.app, repo, 'keep');

    const res = await request(ctx.app).delete(`/v2/${repo}/manifests/${img.manifest.digest}`);
    assert.equal(res.status, 202, res.text);

    assertError(await request(ctx.app).get(`/v2/${repo}/manifests/${img.manifest.digest}`), 404, 'MANIFEST_UNKNOWN');
    assertError(await request(ctx.app).head(`/v2/${repo}/manifests/${img.manifest.digest}`), 404, 'MANIFEST_UNKNOWN', 'HEAD');
    assertError(await request(ctx.app).get(`/v2/${repo}/manifests/v1`), 404, 'MANIFEST_UNKNOWN');
    assertError(await request(ctx.app).get(`/v2/${repo}/manifests/latest`), 404, 'MANIFEST_UNKNOWN');
    const tags = await request(ctx.app).get(`/v2/${repo}/tags/list`);
    assert.deepEqual(tags.body.tags, ['keep']);
    // Other manifests and the layers stay.
    assert.equal((await request(ctx.app).get(`/v2/${repo}/manifests/keep`)).status, 200);
    assert.equal((await request(ctx.app).head(`/v2/${repo}/blobs/${img.layers[0]!.digest}`)).status, 200);
    assert.equal((await request(ctx.app).head(`/v2/${repo}/blobs/${keep.config.digest}`)).status, 200);
    // A second delete finds nothing.
    assertError(await request(ctx.app).delete(`/v2/${repo}/manifests/${img.manifest.digest}`), 404, 'MANIFEST_UNKNOWN');
    // And it can be pushed again.
    await pushManifest(ctx.app, repo, 'v1', img.manifest);
    assert.equal((await request(ctx.app).get(`/v2/${repo}/manifests/v1`)).status, 200);
  });

  it('deleting a manifest in one repository leaves it in another', async () => {
    const img = await pushImage(ctx.app, 'manage/one', 'x');
    await pushImage(ctx.app, 'manage/two', 'x');
    for (const b of [img.config, ...img.layers]) {
      const m = await request(ctx.app).post(`/v2/manage/two/blobs/uploads/?mount=${b.digest}&from=manage/one`);
      assert.equal(m.status, 201);
    }
    await pushManifest(ctx.app, 'manage/two', 'y', img.manifest);
    assert.equal((await request(ctx.app).delete(`/v2/manage/one/manifests/${img.manifest.digest}`)).status, 202);
    assert.equal((await request(ctx.app).get(`/v2/manage/two/manifests/${img.manifest.digest}`)).status, 200);
    assert.equal((await request(ctx.app).get(`/v2/manage/two/manifests/y`)).status, 200);
  });

  it('DELETE a tag: 202, the tag is gone, the manifest stays readable by digest', async () => {
    const repo = 'manage/tag';
    const img = await pushImage(ctx.app, repo, 'v1');
    await pushManifest(ctx.app, repo, 'v1.0', img.manifest);
    const res = await request(ctx.app).delete(`/v2/${repo}/manifests/v1`);
    assert.equal(res.status, 202, res.text);
    assertError(await request(ctx.app).get(`/v2/${repo}/manifests/v1`), 404, 'MANIFEST_UNKNOWN');
    const byDigest = await request(ctx.app).get(`/v2/${repo}/manifests/${img.manifest.digest}`);
    assert.equal(byDigest.status, 200);
    assert.equal(byDigest.headers['docker-content-digest'], img.manifest.digest);
    assert.equal((await request(ctx.app).get(`/v2/${repo}/manifests/v1.0`)).status, 200);
    assert.deepEqual((await request(ctx.app).get(`/v2/${repo}/tags/list`)).body.tags, ['v1.0']);
    assertError(await request(ctx.app).delete(`/v2/${repo}/manifests/v1`), 404, 'MANIFEST_UNKNOWN');
  });

  it('deleting an image referenced by an index leaves the index readable (no cascade)', async () => {
    const repo = 'manage/index';
    const child = await pushImage(ctx.app, repo, 'child');
    const index = indexManifest([child.manifest]);
    await pushManifest(ctx.app, repo, 'multi', index);
    assert.equal((await request(ctx.app).delete(`/v2/${repo}/manifests/${child.manifest.digest}`)).status, 202);
    const res = await request(ctx.app).get(`/v2/${repo}/manifests/multi`).set('Accept', MediaTypes.ociIndex);
    assert.equal(res.status, 200);
  });

  it('DELETE a blob: 202, then 404 on GET and HEAD, other repositories keep it', async () => {
    const repo = 'manage/blob';
    const img = await pushImage(ctx.app, repo, 'v1');
    const layer = img.layers[0]!;
    const mounted = await request(ctx.app).post(`/v2/manage/blob-copy/blobs/uploads/?mount=${layer.digest}&from=${repo}`);
    assert.equal(mounted.status, 201);

    const res = await request(ctx.app).delete(`/v2/${repo}/blobs/${layer.digest}`);
    assert.equal(res.status, 202, res.text);
    assertError(await request(ctx.app).get(`/v2/${repo}/blobs/${layer.digest}`), 404, 'BLOB_UNKNOWN');
    assertError(await request(ctx.app).head(`/v2/${repo}/blobs/${layer.digest}`), 404, 'BLOB_UNKNOWN', 'HEAD');
    assertError(await request(ctx.app).delete(`/v2/${repo}/blobs/${layer.digest}`), 404, 'BLOB_UNKNOWN');
    assertError(await request(ctx.app).delete(`/v2/${repo}/blobs/${sha256('never')}`), 404, 'BLOB_UNKNOWN');
    assert.equal((await request(ctx.app).get(`/v2/manage/blob-copy/blobs/${layer.digest}`)).status, 200);
  });

  describe('with deletes disabled', () => {
    let locked: RegistryApp;
    before(async () => {
      locked = await openRegistryApp({ deleteEnabled: false });
    });
    after(() => locked.close());

    it('DELETE of manifests, tags and blobs is 405 UNSUPPORTED and changes nothing', async () => {
      const repo = 'manage/locked';
      const img = await pushImage(locked.app, repo, 'v1');
      assertError(await request(locked.app).delete(`/v2/${repo}/manifests/${img.manifest.digest}`), 405, 'UNSUPPORTED');
      assertError(await request(locked.app).delete(`/v2/${repo}/manifests/v1`), 405, 'UNSUPPORTED');
      assertError(await request(locked.app).delete(`/v2/${repo}/blobs/${img.layers[0]!.digest}`), 405, 'UNSUPPORTED');
      assert.equal((await request(locked.app).get(`/v2/${repo}/manifests/v1`)).status, 200);
      assert.equal((await request(locked.app).get(`/v2/${repo}/blobs/${img.layers[0]!.digest}`)).status, 200);
    });

    it('cancelling an upload is still allowed', async () => {
      const start = await request(locked.app).post('/v2/manage/locked/blobs/uploads/');
      assert.equal(start.status, 202);
      assert.equal((await request(locked.app).delete(start.headers.location as string)).status, 204);
    });
  });
});
