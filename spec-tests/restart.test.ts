/** Restarting the registry keeps everything: what was pushed, and uploads in progress. */
import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import request from 'supertest';
import {
  MediaTypes,
  binaryParser,
  blobOf,
  imageManifest,
  indexManifest,
  openRegistryApp,
  pushBlob,
  pushImage,
  pushManifest,
  randomBlob,
  type ImageFixture,
  type ManifestFixture,
  type RegistryApp,
} from './support/registry-app.js';

describe('restart', () => {
  let ctx: RegistryApp;
  let image: ImageFixture;
  let index: ManifestFixture;
  let referrer: ManifestFixture;
  const repo = 'restart/app';

  before(async () => {
    ctx = await openRegistryApp();
    image = await pushImage(ctx.app, repo, 'v1', { layerSizes: [200_000, 3] });
    index = indexManifest([image.manifest]);
    await pushManifest(ctx.app, repo, 'multi', index);
    const empty = blobOf('{}');
    await pushBlob(ctx.app, repo, empty);
    referrer = imageManifest(empty, [], { subject: image.manifest, artifactType: 'application/vnd.example.signature' });
    await pushManifest(ctx.app, repo, referrer.digest, referrer);
    await pushImage(ctx.app, 'restart/other', 'x');
  });
  after(() => ctx.close());

  it('after a restart every manifest, blob, tag, repository and referrer is there, byte-identical', async () => {
    await ctx.restart();
    for (const [ref, m] of [['v1', image.manifest], [image.manifest.digest, image.manifest], ['multi', index], [referrer.digest, referrer]] as const) {
      const res = await request(ctx.app).get(`/v2/${repo}/manifests/${ref}`).buffer(true).parse(binaryParser);
      assert.equal(res.status, 200, ref);
      assert.equal(res.headers['content-type'], m.mediaType);
      assert.equal(res.headers['docker-content-digest'], m.digest);
      assert.deepEqual(res.body, m.bytes);
    }
    for (const b of [image.config, ...image.layers]) {
      const res = await request(ctx.app).get(`/v2/${repo}/blobs/${b.digest}`).buffer(true).parse(binaryParser);
      assert.equal(res.status, 200);
      assert.deepEqual(res.body, b.bytes);
    }
    assert.deepEqual((await request(ctx.app).get(`/v2/${repo}/tags/list`)).body.tags, ['multi', 'v1']);
    assert.deepEqual((await request(ctx.app).get('/v2/_catalog')).body.repositories, ['restart/app', 'restart/other']);
    const refs = await request(ctx.app).get(`/v2/${repo}/referrers/${image.manifest.digest}`);
    assert.equal(refs.headers['content-type'], MediaTypes.ociIndex);
    assert.deepEqual(JSON.parse(refs.text).manifests.map((d: { digest: string }) => d.digest), [referrer.digest]);
  });

  it('an upload begun before a restart continues after it (hash state rebuilt from the file)', async () => {
    const blob = randomBlob(1_500_000);
    const start = await request(ctx.app).post(`/v2/${repo}/blobs/uploads/`);
    assert.equal(start.status, 202);
    const location = start.headers.location as string;
    const uuid = start.headers['docker-upload-uuid'] as string;
    const first = await request(ctx.app).patch(location).set('Content-Range', '0-599999').send(blob.bytes.subarray(0, 600_000));
    assert.equal(first.status, 202);

    await ctx.restart();

    const status = await request(ctx.app).get(location);
    assert.equal(status.status, 204);
    assert.equal(status.headers.range, '0-599999');
    assert.equal(status.headers['docker-upload-uuid'], uuid);
    const second = await request(ctx.app).patch(location).set('Content-Range', '600000-1199999').send(blob.bytes.subarray(600_000, 1_200_000));
    assert.equal(second.status, 202, second.text);
    assert.equal(second.headers.range, '0-1199999');

    await ctx.restart();

    const done = await request(ctx.app)
      .put(`${location}?digest=${blob.digest}`)
      .set('Content-Type', 'application/octet-stream')
      .send(blob.bytes.subarray(1_200_000));
    assert.equal(done.status, 201, done.text);
    assert.equal(done.headers['docker-content-digest'], blob.digest);
    const res = await request(ctx.app).get(`/v2/${repo}/blobs/${blob.digest}`).buffer(true).parse(binaryParser);
    assert.deepEqual(res.body, blob.bytes);
  });

  it('an upload resumed after a restart still refuses a wrong digest', async () => {
    const blob = randomBlob(5000);
    const start = await request(ctx.app).post(`/v2/${repo}/blobs/uploads/`);
    const location = start.headers.location as string;
    await request(ctx.app).patch(location).set('Content-Range', '0-4998').send(blob.bytes.subarray(0, 4999));
    await ctx.restart();
    // Right length, wrong last byte: the rebuilt hash must catch it.
    const wrongTail = Buffer.from([blob.bytes[4999]! ^ 1]);
    const res = await request(ctx.app).put(`${location}?digest=${blob.digest}`).set('Content-Type', 'application/octet-stream').send(wrongTail);
    assert.equal(res.status, 400);
    assert.equal(res.body.errors[0].code, 'DIGEST_INVALID');
    assert.equal((await request(ctx.app).head(`/v2/${repo}/blobs/${blob.digest}`)).status, 404);
  });

  it('a cancelled upload stays cancelled, and no upload file is left behind', async () => {
    const start = await request(ctx.app).post(`/v2/${repo}/blobs/uploads/`);
    const location = start.headers.location as string;
    await request(ctx.app).patch(location).send(Buffer.alloc(100));
    assert.equal((await request(ctx.app).delete(location)).status, 204);
    await ctx.restart();
    assert.equal((await request(ctx.app).get(location)).status, 404);
    const leftovers = (await readdir(join(ctx.dir, 'uploads'))).filter((f) => f === start.headers['docker-upload-uuid']);
    assert.deepEqual(leftovers, []);
  });
});
