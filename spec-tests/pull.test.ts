/** OCI distribution-spec, "Pull": manifests by tag and digest, blobs, ranges, negotiation. */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import request from 'supertest';
import {
  MediaTypes,
  assertError,
  binaryParser,
  indexManifest,
  openRegistryApp,
  pushImage,
  pushManifest,
  randomBlob,
  sha256,
  type ImageFixture,
  type RegistryApp,
} from './support/registry-app.js';

const UNKNOWN_DIGEST = sha256('nothing stored under this digest');

describe('pull', () => {
  let ctx: RegistryApp;
  let image: ImageFixture;
  const repo = 'library/pull-me';

  before(async () => {
    ctx = await openRegistryApp();
    image = await pushImage(ctx.app, repo, 'v1', { layerSizes: [5000, 10] });
  });
  after(() => ctx.close());

  it('GET /v2/ answers 200 with the API version header', async () => {
    const res = await request(ctx.app).get('/v2/');
    assert.equal(res.status, 200);
    assert.equal(res.headers['docker-distribution-api-version'], 'registry/2.0');
    const head = await request(ctx.app).head('/v2/');
    assert.equal(head.status, 200);
  });

  for (const by of ['tag', 'digest'] as const) {
    it(`GET manifest by ${by}: the exact bytes, Content-Type, Content-Length, Docker-Content-Digest`, async () => {
      const ref = by === 'tag' ? 'v1' : image.manifest.digest;
      const res = await request(ctx.app)
        .get(`/v2/${repo}/manifests/${ref}`)
        .set('Accept', MediaTypes.ociManifest)
        .buffer(true)
        .parse(binaryParser);
      assert.equal(res.status, 200);
      assert.equal(res.headers['content-type'], MediaTypes.ociManifest);
      assert.equal(res.headers['content-length'], String(image.manifest.size));
      assert.equal(res.headers['docker-content-digest'], image.manifest.digest);
      assert.deepEqual(res.body, image.manifest.bytes);
    });

    it(`HEAD manifest by ${by}: headers and no body`, async () => {
      const ref = by === 'tag' ? 'v1' : image.manifest.digest;
      const res = await request(ctx.app).head(`/v2/${repo}/manifests/${ref}`).set('Accept', MediaTypes.ociManifest);
      assert.equal(res.status, 200);
      assert.equal(res.headers['content-type'], MediaTypes.ociManifest);
      assert.equal(res.headers['content-length'], String(image.manifest.size));
      assert.equal(res.headers['docker-content-digest'], image.manifest.digest);
      assert.equal(res.text ?? '', '');
    });
  }

  it('GET manifest without Accept serves the stored type', async () => {
    const res = await request(ctx.app).get(`/v2/${repo}/manifests/v1`).buffer(true).parse(binaryParser);
    assert.equal(res.status, 200);
    assert.equal(res.headers['content-type'], MediaTypes.ociManifest);
  });

  it('Accept negotiation: a list containing the stored type, wildcards, q-values', async () => {
    for (const accept of [
      `${MediaTypes.dockerManifest}, ${MediaTypes.ociManifest}`,
      `${MediaTypes.dockerManifest};q=0.9,${MediaTypes.ociManifest};q=0.5`,
      '*/*',
      `${MediaTypes.dockerManifest}, */*;q=0.1`,
    ]) {
      const res = await request(ctx.app).get(`/v2/${repo}/manifests/v1`).set('Accept', accept).buffer(true).parse(binaryParser);
      assert.equal(res.status, 200, accept);
      assert.equal(res.headers['content-type'], MediaTypes.ociManifest, accept);
    }
  });

  it('Accept negotiation: a client that does not accept the stored type gets MANIFEST_UNKNOWN (as registry:2)', async () => {
    const res = await request(ctx.app).get(`/v2/${repo}/manifests/v1`).set('Accept', MediaTypes.dockerManifest);
    assertError(res, 404, 'MANIFEST_UNKNOWN');
  });

  it('Accept negotiation: each of the four manifest kinds comes back with its own type', async () => {
    const r = 'pull/kinds';
    const docker = await pushImage(ctx.app, r, 'docker', { kind: 'docker' });
    const oci = await pushImage(ctx.app, r, 'oci');
    const list = indexManifest([docker.manifest], 'docker');
    const index = indexManifest([oci.manifest], 'oci');
    await pushManifest(ctx.app, r, 'list', list);
    await pushManifest(ctx.app, r, 'index', index);
    const all = [MediaTypes.dockerManifest, MediaTypes.dockerManifestList, MediaTypes.ociManifest, MediaTypes.ociIndex].join(', ');
    for (const [tag, m] of [['docker', docker.manifest], ['oci', oci.manifest], ['list', list], ['index', index]] as const) {
      const res = await request(ctx.app).get(`/v2/${r}/manifests/${tag}`).set('Accept', all).buffer(true).parse(binaryParser);
      assert.equal(res.status, 200, tag);
      assert.equal(res.headers['content-type'], m.mediaType, tag);
      assert.equal(res.headers['docker-content-digest'], m.digest, tag);
      assert.deepEqual(res.body, m.bytes, tag);
    }
  });

  it('GET blob: the bytes with Content-Length and Docker-Content-Digest', async () => {
    const layer = image.layers[0]!;
    const res = await request(ctx.app).get(`/v2/${repo}/blobs/${layer.digest}`).buffer(true).parse(binaryParser);
    assert.equal(res.status, 200);
    assert.equal(res.headers['content-length'], String(layer.size));
    assert.equal(res.headers['docker-content-digest'], layer.digest);
    assert.ok(res.headers.etag);
    assert.deepEqual(res.body, layer.bytes);
  });

  it('HEAD blob: Content-Length and Docker-Content-Digest, no body', async () => {
    const layer = image.layers[1]!;
    const res = await request(ctx.app).head(`/v2/${repo}/blobs/${layer.digest}`);
    assert.equal(res.status, 200);
    assert.equal(res.headers['content-length'], String(layer.size));
    assert.equal(res.headers['docker-content-digest'], layer.digest);
  });

  it('a manifest is readable through the blob endpoint too', async () => {
    const res = await request(ctx.app).get(`/v2/${repo}/blobs/${image.manifest.digest}`).buffer(true).parse(binaryParser);
    assert.equal(res.status, 200);
    assert.deepEqual(res.body, image.manifest.bytes);
  });

  it('Range: bytes=a-b answers 206 with Content-Range and just those bytes', async () => {
    const layer = image.layers[0]!;
    const res = await request(ctx.app)
      .get(`/v2/${repo}/blobs/${layer.digest}`)
      .set('Range', 'bytes=100-1099')
      .buffer(true)
      .parse(binaryParser);
    assert.equal(res.status, 206);
    assert.equal(res.headers['content-range'], `bytes 100-1099/${layer.size}`);
    assert.equal(res.headers['content-length'], '1000');
    assert.deepEqual(res.body, layer.bytes.subarray(100, 1100));
  });

  it('Range: open-ended and suffix forms', async () => {
    const layer = image.layers[0]!;
    const open = await request(ctx.app).get(`/v2/${repo}/blobs/${layer.digest}`).set('Range', 'bytes=4990-').buffer(true).parse(binaryParser);
    assert.equal(open.status, 206);
    assert.equal(open.headers['content-range'], `bytes 4990-4999/${layer.size}`);
    assert.deepEqual(open.body, layer.bytes.subarray(4990));
    const suffix = await request(ctx.app).get(`/v2/${repo}/blobs/${layer.digest}`).set('Range', 'bytes=-7').buffer(true).parse(binaryParser);
    assert.equal(suffix.status, 206);
    assert.equal(suffix.headers['content-range'], `bytes 4993-4999/${layer.size}`);
    assert.deepEqual(suffix.body, layer.bytes.subarray(4993));
    const past = await request(ctx.app).get(`/v2/${repo}/blobs/${layer.digest}`).set('Range', 'bytes=4000-999999').buffer(true).parse(binaryParser);
    assert.equal(past.status, 206);
    assert.equal(past.headers['content-range'], `bytes 4000-4999/${layer.size}`);
    assert.deepEqual(past.body, layer.bytes.subarray(4000));
  });

  it('Range beyond the end answers 416 with Content-Range: bytes */size', async () => {
    const layer = image.layers[0]!;
    const res = await request(ctx.app).get(`/v2/${repo}/blobs/${layer.digest}`).set('Range', `bytes=${layer.size}-`);
    assert.equal(res.status, 416);
    assert.equal(res.headers['content-range'], `bytes */${layer.size}`);
  });

  it('unknown manifest: 404 MANIFEST_UNKNOWN by tag and by digest, GET and HEAD', async () => {
    assertError(await request(ctx.app).get(`/v2/${repo}/manifests/nope`), 404, 'MANIFEST_UNKNOWN');
    assertError(await request(ctx.app).get(`/v2/${repo}/manifests/${UNKNOWN_DIGEST}`), 404, 'MANIFEST_UNKNOWN');
    assertError(await request(ctx.app).head(`/v2/${repo}/manifests/nope`), 404, 'MANIFEST_UNKNOWN', 'HEAD');
    assertError(await request(ctx.app).get(`/v2/never/pushed/manifests/latest`), 404, 'MANIFEST_UNKNOWN');
  });

  it('unknown blob: 404 BLOB_UNKNOWN on GET and HEAD', async () => {
    assertError(await request(ctx.app).get(`/v2/${repo}/blobs/${UNKNOWN_DIGEST}`), 404, 'BLOB_UNKNOWN');
    assertError(await request(ctx.app).head(`/v2/${repo}/blobs/${UNKNOWN_DIGEST}`), 404, 'BLOB_UNKNOWN', 'HEAD');
  });

  it('a blob is readable only in repositories it is linked to', async () => {
    const blob = randomBlob(64);
    const other = 'pull/elsewhere';
    await pushImage(ctx.app, other, 'x');
    const res = await request(ctx.app).post(`/v2/${other}/blobs/uploads/?digest=${blob.digest}`).send(blob.bytes);
    assert.equal(res.status, 201);
    assertError(await request(ctx.app).get(`/v2/${repo}/blobs/${blob.digest}`), 404, 'BLOB_UNKNOWN');
    assertError(await request(ctx.app).get(`/v2/${repo}/manifests/x`), 404, 'MANIFEST_UNKNOWN');
  });
});
