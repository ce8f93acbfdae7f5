/** OCI distribution-spec, "Push": blob uploads (monolithic, chunked, streamed, mount) and manifests. */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import request from 'supertest';
import {
  MediaTypes,
  asBody,
  assertError,
  binaryParser,
  blobOf,
  imageManifest,
  indexManifest,
  openRegistryApp,
  pushBlob,
  pushImage,
  pushManifest,
  putManifest,
  randomBlob,
  rawRequest,
  sha256,
  sha512,
  type BlobFixture,
  type RegistryApp,
} from './support/registry-app.js';

/** Append a query parameter to a Location, which may already carry a query. */
function withQuery(location: string, query: string): string {
  return location + (location.includes('?') ? '&' : '?') + query;
}

describe('push', () => {
  let ctx: RegistryApp;

  before(async () => {
    ctx = await openRegistryApp();
  });
  after(() => ctx.close());

  async function startUpload(repo: string): Promise<{ location: string; uuid: string }> {
    const res = await request(ctx.app).post(`/v2/${repo}/blobs/uploads/`);
    assert.equal(res.status, 202, res.text);
    assert.equal(res.headers.range, '0-0');
    const location = res.headers.location as string;
    const uuid = res.headers['docker-upload-uuid'] as string;
    assert.ok(location, 'Location');
    assert.ok(uuid, 'Docker-Upload-UUID');
    assert.ok(location.startsWith(`/v2/${repo}/blobs/uploads/`), location);
    return { location, uuid };
  }

  async function assertBlob(repo: string, blob: BlobFixture): Promise<void> {
    const res = await request(ctx.app).get(`/v2/${repo}/blobs/${blob.digest}`).buffer(true).parse(binaryParser);
    assert.equal(res.status, 200, `GET ${blob.digest} in ${repo}`);
    assert.equal(res.headers['docker-content-digest'], blob.digest);
    assert.deepEqual(res.body, blob.bytes);
  }

  async function patch(location: string, bytes: Buffer, start?: number): Promise<request.Response> {
    const req = request(ctx.app).patch(location).set('Content-Type', 'application/octet-stream');
    if (start !== undefined) req.set('Content-Range', `${start}-${start + bytes.length - 1}`);
    return req.send(bytes);
  }

  describe('blob uploads', () => {
    it('monolithic: POST opens a session, PUT ?digest= with the whole body completes it', async () => {
      const repo = 'push/monolithic';
      const blob = randomBlob(3000);
      const { location } = await startUpload(repo);
      const res = await request(ctx.app)
        .put(withQuery(location, `digest=${blob.digest}`))
        .set('Content-Type', 'application/octet-stream')
        .send(blob.bytes);
      assert.equal(res.status, 201, res.text);
      assert.equal(res.headers.location, `/v2/${repo}/blobs/${blob.digest}`);
      assert.equal(res.headers['docker-content-digest'], blob.digest);
      await assertBlob(repo, blob);
      assertError(await request(ctx.app).get(location), 404, 'BLOB_UPLOAD_UNKNOWN');
    });

    it('single POST with ?digest= stores the blob at once (201)', async () => {
      const repo = 'push/single-post';
      const blob = randomBlob(2048);
      const res = await request(ctx.app)
        .post(`/v2/${repo}/blobs/uploads/?digest=${blob.digest}`)
        .set('Content-Type', 'application/octet-stream')
        .send(blob.bytes);
      assert.equal(res.status, 201, res.text);
      assert.equal(res.headers.location, `/v2/${repo}/blobs/${blob.digest}`);
      assert.equal(res.headers['docker-content-digest'], blob.digest);
      await assertBlob(repo, blob);
    });

    it('an empty blob can be pushed', async () => {
      const repo = 'push/empty';
      const blob = blobOf(Buffer.alloc(0));
      const { location } = await startUpload(repo);
      const res = await request(ctx.app).put(withQuery(location, `digest=${blob.digest}`));
      assert.equal(res.status, 201, res.text);
      const head = await request(ctx.app).head(`/v2/${repo}/blobs/${blob.digest}`);
      assert.equal(head.status, 200);
      assert.equal(head.headers['content-length'], '0');
    });

    it('chunked: PATCHes with Content-Range, each answered 202 with Location, Range and Docker-Upload-UUID', async () => {
      const repo = 'push/chunked';
      const blob = randomBlob(10_000);
      const started = await startUpload(repo);
      const uuid = started.uuid;
      let location = started.location;
      for (let start = 0; start < blob.size; start += 3000) {
        const chunk = blob.bytes.subarray(start, Math.min(start + 3000, blob.size));
        const res = await patch(location, chunk, start);
        assert.equal(res.status, 202, res.text);
        assert.equal(res.headers.range, `0-${start + chunk.length - 1}`);
        assert.equal(res.headers['docker-upload-uuid'], uuid);
        assert.ok(res.headers.location);
        location = res.headers.location as string;
      }
      const res = await request(ctx.app).put(withQuery(location, `digest=${blob.digest}`));
      assert.equal(res.status, 201, res.text);
      assert.equal(res.headers['docker-content-digest'], blob.digest);
      await assertBlob(repo, blob);
    });

    it('streamed: PATCHes without Content-Range or Content-Length (chunked transfer encoding)', async () => {
      const repo = 'push/streamed';
      const blob = randomBlob(300_000);
      const { location } = await startUpload(repo);
      const halves = [blob.bytes.subarray(0, 120_000), blob.bytes.subarray(120_000)];
      let size = 0;
      for (const half of halves) {
        const parts = [half.subarray(0, 1000), half.subarray(1000, 50_000), half.subarray(50_000)];
        const res = await rawRequest(ctx.app, 'PATCH', location, {
          headers: { 'Content-Type': 'application/octet-stream', 'Transfer-Encoding': 'chunked' },
          chunks: parts,
          chunkDelayMs: 5,
        });
        size += half.length;
        assert.equal(res.status, 202, res.text);
        assert.equal(res.headers.range, `0-${size - 1}`);
        assert.equal(res.headers['content-length'], '0');
      }
      const res = await request(ctx.app).put(withQuery(location, `digest=${blob.digest}`));
      assert.equal(res.status, 201, res.text);
      await assertBlob(repo, blob);
    });

    it('streamed PATCH with Content-Length and no Content-Range appends at the end', async () => {
      const repo = 'push/patch-no-range';
      const blob = randomBlob(5000);
      const { location } = await startUpload(repo);
      assert.equal((await patch(location, blob.bytes.subarray(0, 2500))).status, 202);
      const second = await patch(location, blob.bytes.subarray(2500));
      assert.equal(second.status, 202);
      assert.equal(second.headers.range, '0-4999');
      assert.equal((await request(ctx.app).put(withQuery(location, `digest=${blob.digest}`))).status, 201);
      await assertBlob(repo, blob);
    });

    it('GET on the upload reports its progress: 204, Range, Docker-Upload-UUID, Location', async () => {
      const repo = 'push/status';
      const { location, uuid } = await startUpload(repo);
      const empty = await request(ctx.app).get(location);
      assert.equal(empty.status, 204);
      assert.equal(empty.headers.range, '0-0');
      assert.equal(empty.headers['docker-upload-uuid'], uuid);
      assert.ok(empty.headers.location);
      await patch(location, Buffer.alloc(1234, 7), 0);
      const res = await request(ctx.app).get(location);
      assert.equal(res.status, 204);
      assert.equal(res.headers.range, '0-1233');
      assert.equal(res.headers['docker-upload-uuid'], uuid);
      assert.equal(res.headers.location, location);
    });

    it('an out-of-order chunk is refused with 416 and the upload keeps what it had', async () => {
      const repo = 'push/out-of-order';
      const blob = randomBlob(3000);
      const { location } = await startUpload(repo);
      assert.equal((await patch(location, blob.bytes.subarray(0, 1000), 0)).status, 202);
      // A gap: the chunk starts past the end.
      const gap = await patch(location, blob.bytes.subarray(2000), 2000);
      assert.equal(gap.status, 416, gap.text);
      assert.equal(gap.headers.range, '0-999');
      // A repeat: the chunk starts before the end.
      const repeat = await patch(location, blob.bytes.subarray(0, 1000), 0);
      assert.equal(repeat.status, 416, repeat.text);
      const status = await request(ctx.app).get(location);
      assert.equal(status.status, 204);
      assert.equal(status.headers.range, '0-999');
      // Carrying on in order still works.
      assert.equal((await patch(location, blob.bytes.subarray(1000), 1000)).status, 202);
      assert.equal((await request(ctx.app).put(withQuery(location, `digest=${blob.digest}`))).status, 201);
      await assertBlob(repo, blob);
    });

    it('a Content-Range that disagrees with Content-Length is 416', async () => {
      const repo = 'push/bad-range';
      const { location } = await startUpload(repo);
      const res = await request(ctx.app)
        .patch(location)
        .set('Content-Type', 'application/octet-stream')
        .set('Content-Range', '0-99')
        .send(Buffer.alloc(50));
      assert.equal(res.status, 416, res.text);
      assert.equal((await request(ctx.app).get(location)).headers.range, '0-0');
    });

    it('the PUT that completes may carry the final chunk, with or without Content-Range', async () => {
      const repo = 'push/final-chunk';
      for (const withRange of [true, false]) {
        const blob = randomBlob(4000);
        const { location } = await startUpload(repo);
        assert.equal((await patch(location, blob.bytes.subarray(0, 2500), 0)).status, 202);
        const put = request(ctx.app).put(withQuery(location, `digest=${blob.digest}`)).set('Content-Type', 'application/octet-stream');
        if (withRange) put.set('Content-Range', `2500-3999`);
        const res = await put.send(blob.bytes.subarray(2500));
        assert.equal(res.status, 201, res.text);
        assert.equal(res.headers['docker-content-digest'], blob.digest);
        await assertBlob(repo, blob);
      }
    });

    it('an out-of-order final chunk on PUT is 416 and the upload survives, as its Range says', async () => {
      const repo = 'push/final-out-of-order';
      const blob = randomBlob(3000);
      const { location } = await startUpload(repo);
      assert.equal((await patch(location, blob.bytes.subarray(0, 1000), 0)).status, 202);
      const bad = await request(ctx.app)
        .put(withQuery(location, `digest=${blob.digest}`))
        .set('Content-Type', 'application/octet-stream')
        .set('Content-Range', '2000-2999')
        .send(blob.bytes.subarray(2000));
      assert.equal(bad.status, 416, bad.text);
      assert.equal(bad.headers.range, '0-999');
      const status = await request(ctx.app).get(location);
      assert.equal(status.status, 204, 'the upload is still there');
      assert.equal(status.headers.range, '0-999');
      const done = await request(ctx.app)
        .put(withQuery(location, `digest=${blob.digest}`))
        .set('Content-Type', 'application/octet-stream')
        .set('Content-Range', '1000-2999')
        .send(blob.bytes.subarray(1000));
      assert.equal(done.status, 201, done.text);
      await assertBlob(repo, blob);
    });

    it('a PUT that arrives while a PATCH is still streaming is refused without harming the PATCH', async () => {
      const repo = 'push/concurrent';
      const blob = randomBlob(40_000);
      const { location } = await startUpload(repo);
      const parts = Array.from({ length: 8 }, (_, i) => blob.bytes.subarray(i * 5000, (i + 1) * 5000));
      let received!: () => void;
      const patchArrived = new Promise<void>((r) => (received = r));
      const slowPatch = rawRequest(ctx.app, 'PATCH', location, {
        headers: { 'Content-Type': 'application/octet-stream', 'Transfer-Encoding': 'chunked' },
        chunks: parts,
        chunkDelayMs: 60,
        onReceived: received,
      });
      // The PATCH is in its handler (a session lookup away from appending) well before its last chunk.
      await patchArrived;
      await new Promise((r) => setTimeout(r, 60));
      const early = await request(ctx.app).put(withQuery(location, `digest=${blob.digest}`));
      assertError(early, 400, 'BLOB_UPLOAD_INVALID');
      const patched = await slowPatch;
      assert.equal(patched.status, 202, patched.text);
      assert.equal(patched.headers.range, `0-${blob.size - 1}`);
      const done = await request(ctx.app).put(withQuery(location, `digest=${blob.digest}`));
      assert.equal(done.status, 201, done.text);
      await assertBlob(repo, blob);
    });

    it('a wrong digest on completion is DIGEST_INVALID, stores nothing and ends the upload', async () => {
      const repo = 'push/wrong-digest';
      const blob = randomBlob(1500);
      const claimed = sha256('something else entirely');
      const { location } = await startUpload(repo);
      assert.equal((await patch(location, blob.bytes, 0)).status, 202);
      const res = await request(ctx.app).put(withQuery(location, `digest=${claimed}`));
      assertError(res, 400, 'DIGEST_INVALID');
      assertError(await request(ctx.app).head(`/v2/${repo}/blobs/${claimed}`), 404, 'BLOB_UNKNOWN', 'HEAD');
      assertError(await request(ctx.app).get(`/v2/${repo}/blobs/${blob.digest}`), 404, 'BLOB_UNKNOWN');
      assertError(await request(ctx.app).get(location), 404, 'BLOB_UPLOAD_UNKNOWN');
      assertError(await request(ctx.app).put(withQuery(location, `digest=${blob.digest}`)), 404, 'BLOB_UPLOAD_UNKNOWN');
      // And nothing reached the blob store.
      assert.equal(await ctx.registry.blobs.stat(claimed as never), undefined);
      assert.equal(await ctx.registry.blobs.stat(blob.digest as never), undefined);
    });

    it('a wrong digest on a final-chunk PUT and on a single POST is DIGEST_INVALID too', async () => {
      const repo = 'push/wrong-digest-2';
      const blob = randomBlob(700);
      const claimed = sha256('not these bytes');
      const { location } = await startUpload(repo);
      const put = await request(ctx.app)
        .put(withQuery(location, `digest=${claimed}`))
        .set('Content-Type', 'application/octet-stream')
        .send(blob.bytes);
      assertError(put, 400, 'DIGEST_INVALID');
      const post = await request(ctx.app)
        .post(`/v2/${repo}/blobs/uploads/?digest=${claimed}`)
        .set('Content-Type', 'application/octet-stream')
        .send(blob.bytes);
      assertError(post, 400, 'DIGEST_INVALID');
      assertError(await request(ctx.app).get(`/v2/${repo}/blobs/${blob.digest}`), 404, 'BLOB_UNKNOWN');
      assertError(await request(ctx.app).get(`/v2/${repo}/blobs/${claimed}`), 404, 'BLOB_UNKNOWN');
      assert.equal(await ctx.registry.blobs.stat(blob.digest as never), undefined);
    });

    it('DELETE cancels an upload (204), after which it is unknown', async () => {
      const repo = 'push/cancel';
      const { location } = await startUpload(repo);
      await patch(location, Buffer.alloc(100, 1), 0);
      const res = await request(ctx.app).delete(location);
      assert.equal(res.status, 204);
      assertError(await request(ctx.app).get(location), 404, 'BLOB_UPLOAD_UNKNOWN');
      assertError(await patch(location, Buffer.alloc(10), 100), 404, 'BLOB_UPLOAD_UNKNOWN');
    });

    it('cross-repository mount with from: 201 with Location and Docker-Content-Digest', async () => {
      const blob = randomBlob(900);
      await pushBlob(ctx.app, 'mount/source', blob);
      const res = await request(ctx.app).post(`/v2/mount/target/blobs/uploads/?mount=${blob.digest}&from=mount/source`);
      assert.equal(res.status, 201, res.text);
      assert.equal(res.headers.location, `/v2/mount/target/blobs/${blob.digest}`);
      assert.equal(res.headers['docker-content-digest'], blob.digest);
      await assertBlob('mount/target', blob);
    });

    it('mount without from: 201 when the registry knows the blob', async () => {
      const blob = randomBlob(901);
      await pushBlob(ctx.app, 'mount/source2', blob);
      const res = await request(ctx.app).post(`/v2/mount/target2/blobs/uploads/?mount=${blob.digest}`);
      assert.equal(res.status, 201, res.text);
      assert.equal(res.headers.location, `/v2/mount/target2/blobs/${blob.digest}`);
      await assertBlob('mount/target2', blob);
    });

    it('a mount that cannot be done falls back to a 202 upload session that works', async () => {
      const blob = randomBlob(902);
      const other = randomBlob(903);
      await pushBlob(ctx.app, 'mount/source3', other);
      for (const query of [`mount=${blob.digest}`, `mount=${blob.digest}&from=mount/source3`, `mount=${other.digest}&from=mount/nowhere`]) {
        const res = await request(ctx.app).post(`/v2/mount/target3/blobs/uploads/?${query}`);
        assert.equal(res.status, 202, `${query}: ${res.text}`);
        assert.ok(res.headers.location, query);
        assert.ok(res.headers['docker-upload-uuid'], query);
        assert.equal(res.headers.range, '0-0');
      }
      const res = await request(ctx.app).post(`/v2/mount/target3/blobs/uploads/?mount=${blob.digest}&from=mount/source3`);
      const done = await request(ctx.app)
        .put(withQuery(res.headers.location as string, `digest=${blob.digest}`))
        .set('Content-Type', 'application/octet-stream')
        .send(blob.bytes);
      assert.equal(done.status, 201, done.text);
      await assertBlob('mount/target3', blob);
      // Mounting from a repository where the blob is not linked does not leak it.
      assertError(await request(ctx.app).get(`/v2/mount/target3/blobs/${other.digest}`), 404, 'BLOB_UNKNOWN');
    });

    it('concurrent pushes of the same blob and manifest all succeed (content-addressed, one copy)', async () => {
      const blob = randomBlob(200_000);
      const results = await Promise.all(
        ['push/race-a', 'push/race-b', 'push/race-a', 'push/race-c', 'push/race-b'].map((repo) =>
          request(ctx.app).post(`/v2/${repo}/blobs/uploads/?digest=${blob.digest}`).set('Content-Type', 'application/octet-stream').send(blob.bytes),
        ),
      );
      for (const r of results) assert.equal(r.status, 201, r.text);
      for (const repo of ['push/race-a', 'push/race-b', 'push/race-c']) await assertBlob(repo, blob);
      const config = blobOf('{"race":true}');
      await pushBlob(ctx.app, 'push/race-a', config);
      const m = imageManifest(config, [blob]);
      const puts = await Promise.all([1, 2, 3, 4].map((i) => putManifest(ctx.app, 'push/race-a', `t${i}`, m)));
      for (const r of puts) assert.equal(r.status, 201, r.text);
      const tags = await request(ctx.app).get('/v2/push/race-a/tags/list');
      assert.deepEqual(tags.body.tags, ['t1', 't2', 't3', 't4']);
    });

    it('a single POST ?digest= of an empty body stores the empty blob', async () => {
      const empty = blobOf(Buffer.alloc(0));
      const res = await request(ctx.app).post(`/v2/push/empty-post/blobs/uploads/?digest=${empty.digest}`).set('Content-Length', '0');
      assert.equal(res.status, 201, res.text);
      assert.equal((await request(ctx.app).head(`/v2/push/empty-post/blobs/${empty.digest}`)).status, 200);
    });

    it('sha512 digests: single POST, chunked upload, mount and manifest reference', async () => {
      const repo = 'push/sha512';
      const mono = blobOf(randomBlob(5000).bytes, 'sha512');
      const res = await request(ctx.app)
        .post(`/v2/${repo}/blobs/uploads/?digest=${mono.digest}`)
        .set('Content-Type', 'application/octet-stream')
        .send(mono.bytes);
      assert.equal(res.status, 201, res.text);
      assert.equal(res.headers['docker-content-digest'], mono.digest);
      await assertBlob(repo, mono);

      const chunked = blobOf(randomBlob(7000).bytes, 'sha512');
      const { location } = await startUpload(repo);
      assert.equal((await patch(location, chunked.bytes.subarray(0, 4000), 0)).status, 202);
      assert.equal((await patch(location, chunked.bytes.subarray(4000), 4000)).status, 202);
      const done = await request(ctx.app).put(withQuery(location, `digest=${chunked.digest}`));
      assert.equal(done.status, 201, done.text);
      await assertBlob(repo, chunked);

      const wrong = await startUpload(repo);
      await patch(wrong.location, chunked.bytes, 0);
      assertError(await request(ctx.app).put(withQuery(wrong.location, `digest=${sha512('other')}`)), 400, 'DIGEST_INVALID');

      const mounted = await request(ctx.app).post(`/v2/push/sha512-mount/blobs/uploads/?mount=${mono.digest}&from=${repo}`);
      assert.equal(mounted.status, 201, mounted.text);
      await assertBlob('push/sha512-mount', mono);

      const config = blobOf('{"architecture":"amd64","os":"linux","sha512":true}', 'sha512');
      await pushBlob(ctx.app, repo, config);
      const m = imageManifest(config, [mono, chunked]);
      await pushManifest(ctx.app, repo, 'sha512', m);
      const m512 = sha512(m.bytes);
      const byDigest = await putManifest(ctx.app, repo, m512, m);
      assert.equal(byDigest.status, 201, byDigest.text);
      assert.equal(byDigest.headers['docker-content-digest'], m512);
      const got = await request(ctx.app).get(`/v2/${repo}/manifests/${m512}`).buffer(true).parse(binaryParser);
      assert.equal(got.status, 200);
      assert.equal(got.headers['docker-content-digest'], m512);
      assert.deepEqual(got.body, m.bytes);
    });
  });

  describe('manifests', () => {
    it('all four kinds PUT by tag and by digest: 201 with Location and Docker-Content-Digest', async () => {
      const repo = 'push/manifests';
      const docker = await pushImage(ctx.app, repo, 'docker-image', { kind: 'docker' });
      const oci = await pushImage(ctx.app, repo, 'oci-image');
      const list = indexManifest([docker.manifest], 'docker');
      const index = indexManifest([oci.manifest, docker.manifest], 'oci');
      for (const m of [docker.manifest, oci.manifest, list, index]) {
        for (const ref of ['t-' + m.mediaType.split('.').slice(-2).join('-').replace(/[^a-zA-Z0-9_.-]/g, '_'), m.digest]) {
          const res = await putManifest(ctx.app, repo, ref, m);
          assert.equal(res.status, 201, `${m.mediaType} as ${ref}: ${res.text}`);
          assert.equal(res.headers.location, `/v2/${repo}/manifests/${m.digest}`);
          assert.equal(res.headers['docker-content-digest'], m.digest);
          const got = await request(ctx.app).get(`/v2/${repo}/manifests/${ref}`).set('Accept', m.mediaType).buffer(true).parse(binaryParser);
          assert.equal(got.status, 200);
          assert.equal(got.headers['content-type'], m.mediaType);
          assert.deepEqual(got.body, m.bytes);
        }
      }
    });

    it('an OCI manifest without mediaType in its body is taken by its Content-Type', async () => {
      const repo = 'push/no-media-type';
      const config = randomBlob(10);
      await pushBlob(ctx.app, repo, config);
      const json = { schemaVersion: 2, config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: config.digest, size: config.size }, layers: [] };
      const bytes = Buffer.from(JSON.stringify(json));
      const res = await request(ctx.app).put(`/v2/${repo}/manifests/latest`).set('Content-Type', MediaTypes.ociManifest).send(asBody(bytes));
      assert.equal(res.status, 201, res.text);
      assert.equal(res.headers['docker-content-digest'], sha256(bytes));
    });

    it('re-tagging: a tag moves to the newest manifest pushed under it', async () => {
      const repo = 'push/retag';
      const a = await pushImage(ctx.app, repo, 'latest');
      const b = await pushImage(ctx.app, repo, 'latest');
      const res = await request(ctx.app).head(`/v2/${repo}/manifests/latest`);
      assert.equal(res.headers['docker-content-digest'], b.manifest.digest);
      assert.equal((await request(ctx.app).head(`/v2/${repo}/manifests/${a.manifest.digest}`)).status, 200);
    });

    it('PUT by digest with a body of another digest is DIGEST_INVALID', async () => {
      const repo = 'push/digest-mismatch';
      const img = await pushImage(ctx.app, repo, 'a');
      const wrong = sha256('not the manifest');
      assertError(await putManifest(ctx.app, repo, wrong, img.manifest), 400, 'DIGEST_INVALID');
      assertError(await request(ctx.app).get(`/v2/${repo}/manifests/${wrong}`), 404, 'MANIFEST_UNKNOWN');
    });

    it('a manifest with a subject is answered with OCI-Subject (known or unknown subject)', async () => {
      const repo = 'push/subject';
      const subject = await pushImage(ctx.app, repo, 'base');
      const config = blobOf('{}');
      await pushBlob(ctx.app, repo, config);
      const sig = imageManifest(config, [], { subject: subject.manifest, artifactType: 'application/vnd.example.signature' });
      const res = await putManifest(ctx.app, repo, sig.digest, sig);
      assert.equal(res.status, 201, res.text);
      assert.equal(res.headers['oci-subject'], subject.manifest.digest);

      // spec: the subject need not exist yet.
      const ghost = imageManifest(randomBlob(5), []);
      const dangling = imageManifest(config, [], { subject: ghost, artifactType: 'application/vnd.example.sbom' });
      const res2 = await putManifest(ctx.app, repo, dangling.digest, dangling);
      assert.equal(res2.status, 201, res2.text);
      assert.equal(res2.headers['oci-subject'], ghost.digest);

      const plain = await putManifest(ctx.app, repo, 'plain', subject.manifest);
      assert.equal(plain.headers['oci-subject'], undefined);
    });

    it('Docker schema 1 is refused with MANIFEST_INVALID', async () => {
      const repo = 'push/schema1';
      const body = JSON.stringify({
        schemaVersion: 1,
        name: repo,
        tag: 'old',
        architecture: 'amd64',
        fsLayers: [{ blobSum: sha256('x') }],
        history: [{ v1Compatibility: '{}' }],
      });
      for (const type of [MediaTypes.dockerSchema1Signed, MediaTypes.dockerSchema1, 'application/json']) {
        const res = await request(ctx.app).put(`/v2/${repo}/manifests/old`).set('Content-Type', type).send(body);
        assertError(res, 400, 'MANIFEST_INVALID');
      }
      assertError(await request(ctx.app).get(`/v2/${repo}/manifests/old`), 404, 'MANIFEST_UNKNOWN');
    });

    it('malformed manifests are MANIFEST_INVALID', async () => {
      const repo = 'push/malformed';
      for (const body of ['{not json', '[]', '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json"}',
        '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"x","digest":"sha256:zz","size":1},"layers":[]}',
        '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":{}}']) {
        const res = await request(ctx.app).put(`/v2/${repo}/manifests/bad`).set('Content-Type', MediaTypes.ociManifest).send(body);
        assertError(res, 400, 'MANIFEST_INVALID');
      }
    });

    it('a manifest referencing a blob the repository lacks is MANIFEST_BLOB_UNKNOWN', async () => {
      const repo = 'push/missing-blob';
      const config = randomBlob(30);
      const layer = randomBlob(40);
      await pushBlob(ctx.app, repo, config);
      // The layer exists, but only in another repository: still unknown here.
      await pushBlob(ctx.app, 'push/other-repo', layer);
      const m = imageManifest(config, [layer]);
      assertError(await putManifest(ctx.app, repo, 'latest', m), 400, 'MANIFEST_BLOB_UNKNOWN');
      const missingConfig = imageManifest(randomBlob(31), []);
      assertError(await putManifest(ctx.app, repo, 'latest', missingConfig), 400, 'MANIFEST_BLOB_UNKNOWN');
      assertError(await request(ctx.app).get(`/v2/${repo}/manifests/latest`), 404, 'MANIFEST_UNKNOWN');
    });

    it('an index referencing a child manifest the repository lacks is MANIFEST_BLOB_UNKNOWN', async () => {
      const repo = 'push/missing-child';
      const present = await pushImage(ctx.app, repo, 'present');
      const absent = imageManifest(randomBlob(12), [randomBlob(13)]);
      for (const kind of ['oci', 'docker'] as const) {
        const index = indexManifest([present.manifest, absent], kind);
        assertError(await putManifest(ctx.app, repo, `index-${kind}`, index), 400, 'MANIFEST_BLOB_UNKNOWN');
      }
    });

    it('a manifest over 4 MiB is refused with 413', async () => {
      const repo = 'push/huge';
      const config = randomBlob(20);
      await pushBlob(ctx.app, repo, config);
      const big = imageManifest(config, [], { annotations: { padding: 'x'.repeat(4 * 1024 * 1024) } });
      assert.ok(big.size > 4 * 1024 * 1024);
      const res = await putManifest(ctx.app, repo, 'huge', big);
      assertError(res, 413, 'MANIFEST_INVALID');
      // And streamed without a Content-Length.
      const chunks: Buffer[] = [];
      for (let off = 0; off < big.size; off += 256 * 1024) chunks.push(big.bytes.subarray(off, off + 256 * 1024));
      const streamed = await rawRequest(ctx.app, 'PUT', `/v2/${repo}/manifests/huge`, {
        headers: { 'Content-Type': big.mediaType, 'Transfer-Encoding': 'chunked' },
        chunks,
      });
      assertError(streamed, 413, 'MANIFEST_INVALID');
      assertError(await request(ctx.app).get(`/v2/${repo}/manifests/huge`), 404, 'MANIFEST_UNKNOWN');
    });
  });
});
