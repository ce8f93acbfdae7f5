/**
 * The error cases of the distribution spec: every one answered with the spec's status
 * and `{"errors":[{"code":...}]}`, and nothing ever answered with a 5xx.
 */
import assert from 'node:assert/strict';
import { createServer, request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import request from 'supertest';
import {
  assertError,
  assertNot5xx,
  capturingLogger,
  openRegistryApp,
  pushImage,
  randomBlob,
  rawRequest,
  sha256,
  type ImageFixture,
  type RegistryApp,
} from './support/registry-app.js';

describe('errors', () => {
  let ctx: RegistryApp;
  let image: ImageFixture;
  const repo = 'errors/repo';

  before(async () => {
    ctx = await openRegistryApp();
    image = await pushImage(ctx.app, repo, 'latest');
  });
  after(() => ctx.close());

  describe('NAME_INVALID', () => {
    const longName = Array.from({ length: 26 }, (_, i) => `c${String(i).padStart(8, '0')}`).join('/');
    const bad: [string, string][] = [
      ['upper case', 'Errors/Repo'],
      ['a dot-dot component', 'errors/../repo'],
      ['an encoded dot-dot', 'errors/%2e%2e/repo'],
      ['an encoded upper-case dot-dot', 'errors/%2E%2E/repo'],
      ['an encoded slash', 'errors%2Frepo'],
      ['an empty component', 'errors//repo'],
      ['a trailing separator', 'errors/repo-'],
      ['a leading separator', '-errors/repo'],
      ['a single dot component', 'errors/./repo'],
      ['a space', 'errors/re%20po'],
      ['more than 255 characters', longName],
    ];

    it('the long name really is over 255 characters and otherwise valid', () => {
      assert.ok(longName.length > 255);
    });

    for (const [why, name] of bad) {
      it(`a name with ${why} is 400 NAME_INVALID on every endpoint`, async () => {
        const targets: [string, string][] = [
          ['GET', `/v2/${name}/manifests/latest`],
          ['HEAD', `/v2/${name}/manifests/latest`],
          ['PUT', `/v2/${name}/manifests/latest`],
          ['GET', `/v2/${name}/blobs/${image.config.digest}`],
          ['POST', `/v2/${name}/blobs/uploads/`],
          ['GET', `/v2/${name}/tags/list`],
          ['GET', `/v2/${name}/referrers/${image.manifest.digest}`],
          ['DELETE', `/v2/${name}/manifests/${image.manifest.digest}`],
        ];
        for (const [method, path] of targets) {
          // Raw: supertest's URL parsing would resolve `..` and `%2e%2e` before sending.
          const res = await rawRequest(ctx.app, method, path, method === 'PUT' ? { headers: { 'Content-Type': image.manifest.mediaType, 'Content-Length': image.manifest.size }, chunks: [image.manifest.bytes] } : {});
          assertError(res, 400, 'NAME_INVALID', method);
        }
      });
    }

    it('a name of exactly 255 characters is valid', async () => {
      const name = `${'a'.repeat(127)}/${'b'.repeat(127)}`;
      assert.equal(name.length, 255);
      assertError(await request(ctx.app).get(`/v2/${name}/manifests/latest`), 404, 'MANIFEST_UNKNOWN');
      assertError(await request(ctx.app).get(`/v2/${name}a/manifests/latest`), 400, 'NAME_INVALID');
    });

    it('a dot-dot name never reaches another repository', async () => {
      const res = await rawRequest(ctx.app, 'GET', `/v2/errors/x/../repo/manifests/latest`);
      assertError(res, 400, 'NAME_INVALID');
    });
  });

  describe('DIGEST_INVALID', () => {
    const badDigests = [
      'sha256:abc',
      `sha256:${'A'.repeat(64)}`,
      `sha256:${'g'.repeat(64)}`,
      `sha256:${'a'.repeat(65)}`,
      `sha512:${'a'.repeat(64)}`,
      `md5:${'a'.repeat(32)}`,
      `sha384:${'a'.repeat(96)}`,
      'sha256:',
      ':abc',
    ];

    for (const d of badDigests) {
      it(`"${d.slice(0, 20)}…" is 400 DIGEST_INVALID wherever a digest goes`, async () => {
        assertError(await request(ctx.app).get(`/v2/${repo}/blobs/${d}`), 400, 'DIGEST_INVALID');
        assertError(await request(ctx.app).head(`/v2/${repo}/blobs/${d}`), 400, 'DIGEST_INVALID', 'HEAD');
        // A manifest GET or HEAD by a reference that cannot name anything is merely unknown (as registry:2 and zot).
        assertError(await request(ctx.app).get(`/v2/${repo}/manifests/${d}`), 404, 'MANIFEST_UNKNOWN');
        assertError(await request(ctx.app).head(`/v2/${repo}/manifests/${d}`), 404, 'MANIFEST_UNKNOWN', 'HEAD');
        assertError(await request(ctx.app).delete(`/v2/${repo}/manifests/${d}`), 400, 'DIGEST_INVALID');
        assertError(await request(ctx.app).delete(`/v2/${repo}/blobs/${d}`), 400, 'DIGEST_INVALID');
        assertError(await request(ctx.app).get(`/v2/${repo}/referrers/${d}`), 400, 'DIGEST_INVALID');
        assertError(await request(ctx.app).post(`/v2/${repo}/blobs/uploads/?digest=${d}`).send(Buffer.from('x')), 400, 'DIGEST_INVALID');
        assertError(await request(ctx.app).post(`/v2/${repo}/blobs/uploads/?mount=${d}&from=${repo}`), 400, 'DIGEST_INVALID');
        const start = await request(ctx.app).post(`/v2/${repo}/blobs/uploads/`);
        const loc = start.headers.location as string;
        assertError(await request(ctx.app).put(`${loc}?digest=${d}`), 400, 'DIGEST_INVALID');
        // A malformed digest does not end the session: the client may retry.
        assert.equal((await request(ctx.app).get(loc)).status, 204);
      });
    }

    it('completing an upload without ?digest= is DIGEST_INVALID', async () => {
      const start = await request(ctx.app).post(`/v2/${repo}/blobs/uploads/`);
      assertError(await request(ctx.app).put(start.headers.location as string), 400, 'DIGEST_INVALID');
    });
  });

  describe('TAG_INVALID', () => {
    for (const tag of ['-leading-dash', '.leading-dot', 'a'.repeat(129), 'has%20space', 'semi;colon', 'plus+sign']) {
      it(`tag "${tag.slice(0, 20)}": PUT is 400 TAG_INVALID, GET and HEAD 404 MANIFEST_UNKNOWN`, async () => {
        assertError(await request(ctx.app).get(`/v2/${repo}/manifests/${tag}`), 404, 'MANIFEST_UNKNOWN');
        assertError(await request(ctx.app).head(`/v2/${repo}/manifests/${tag}`), 404, 'MANIFEST_UNKNOWN', 'HEAD');
        const put = await request(ctx.app)
          .put(`/v2/${repo}/manifests/${tag}`)
          .set('Content-Type', image.manifest.mediaType)
          .send(image.manifest.bytes.toString('utf8'));
        assertError(put, 400, 'TAG_INVALID');
      });
    }

    it('a 128-character tag is fine', async () => {
      const tag = 'a'.repeat(128);
      const put = await request(ctx.app).put(`/v2/${repo}/manifests/${tag}`).set('Content-Type', image.manifest.mediaType).send(image.manifest.bytes.toString('utf8'));
      assert.equal(put.status, 201);
    });
  });

  describe('BLOB_UPLOAD_UNKNOWN', () => {
    const unknownIds = ['00000000-0000-4000-8000-000000000000', 'not-a-uuid', '..', 'A'.repeat(500)];

    for (const id of unknownIds) {
      it(`upload "${id.slice(0, 20)}" is 404 BLOB_UPLOAD_UNKNOWN for GET, PATCH, PUT, DELETE`, async () => {
        const path = `/v2/${repo}/blobs/uploads/${id}`;
        assertError(await rawRequest(ctx.app, 'GET', path), 404, 'BLOB_UPLOAD_UNKNOWN');
        assertError(await rawRequest(ctx.app, 'PATCH', path, { headers: { 'Content-Length': 3 }, chunks: [Buffer.from('abc')] }), 404, 'BLOB_UPLOAD_UNKNOWN');
        assertError(await rawRequest(ctx.app, 'PUT', `${path}?digest=${sha256('abc')}`), 404, 'BLOB_UPLOAD_UNKNOWN');
        assertError(await rawRequest(ctx.app, 'DELETE', path), 404, 'BLOB_UPLOAD_UNKNOWN');
      });
    }

    it("an upload id of another repository is 404 there, and the upload survives", async () => {
      const start = await request(ctx.app).post(`/v2/${repo}/blobs/uploads/`);
      const id = start.headers['docker-upload-uuid'] as string;
      const blob = randomBlob(10);
      const foreign = `/v2/errors/other/blobs/uploads/${id}`;
      assertError(await request(ctx.app).get(foreign), 404, 'BLOB_UPLOAD_UNKNOWN');
      assertError(await request(ctx.app).patch(foreign).send(blob.bytes), 404, 'BLOB_UPLOAD_UNKNOWN');
      assertError(await request(ctx.app).put(`${foreign}?digest=${blob.digest}`).send(blob.bytes), 404, 'BLOB_UPLOAD_UNKNOWN');
      assertError(await request(ctx.app).delete(foreign), 404, 'BLOB_UPLOAD_UNKNOWN');
      const own = await request(ctx.app).put(`${start.headers.location as string}?digest=${blob.digest}`).set('Content-Type', 'application/octet-stream').send(blob.bytes);
      assert.equal(own.status, 201);
      assertError(await request(ctx.app).get(`/v2/errors/other/blobs/${blob.digest}`), 404, 'BLOB_UNKNOWN');
    });
  });

  describe('endpoints and methods', () => {
    it('an unknown endpoint under /v2 is 404 with the error JSON', async () => {
      for (const path of ['/v2/errors/repo/nothing', '/v2/errors/repo/manifests/', '/v2/errors/repo/blobs/', '/v2/_catalog/x', '/v2/errors/repo/tags/list/x']) {
        assertError(await request(ctx.app).get(path), 404, 'NOT_FOUND');
      }
    });

    it('a path outside the API is not a 5xx', async () => {
      assertNot5xx(await request(ctx.app).get('/nothing/here'));
      assert.equal((await request(ctx.app).get('/healthz')).status, 200);
    });

    it('a wrong method is 405 UNSUPPORTED with an Allow header', async () => {
      const cases: [string, string][] = [
        ['POST', `/v2/${repo}/manifests/latest`],
        ['PATCH', `/v2/${repo}/manifests/latest`],
        ['PUT', `/v2/${repo}/blobs/${image.config.digest}`],
        ['POST', `/v2/${repo}/blobs/${image.config.digest}`],
        ['DELETE', '/v2/_catalog'],
        ['PUT', `/v2/${repo}/tags/list`],
        ['GET', `/v2/${repo}/blobs/uploads/`],
        ['POST', `/v2/${repo}/referrers/${image.manifest.digest}`],
        ['POST', `/v2/${repo}/blobs/uploads/00000000-0000-4000-8000-000000000000`],
      ];
      for (const [method, path] of cases) {
        const res = await rawRequest(ctx.app, method, path);
        assertError(res, 405, 'UNSUPPORTED');
        assert.ok(res.headers.allow, `${method} ${path}: Allow`);
      }
    });
  });

  describe('no 5xx, whatever arrives', () => {
    it('odd requests are all answered below 500 with the error JSON', async () => {
      const d = image.manifest.digest;
      const cases: [string, string, { headers?: Record<string, string | number>; chunks?: Buffer[] }?][] = [
        ['GET', `/v2/${repo}/tags/list?n=1&n=2`],
        ['GET', `/v2/_catalog?n=99999999999`],
        ['GET', `/v2/_catalog?last=%00%01%ff`],
        ['GET', `/v2/${repo}/tags/list?last=%00`],
        ['GET', `/v2/${repo}/manifests/%zz`],
        ['GET', `/v2/${repo}/blobs/${d}`, { headers: { Range: 'bytes=5-2' } }],
        ['GET', `/v2/${repo}/blobs/${d}`, { headers: { Range: 'bytes=0-1,3-4' } }],
        ['GET', `/v2/${repo}/blobs/${d}`, { headers: { Range: 'lines=1-2' } }],
        ['GET', `/v2/${repo}/blobs/${d}`, { headers: { Range: 'bytes=99999999999999999999-' } }],
        ['PUT', `/v2/${repo}/manifests/weird`, { headers: { 'Content-Type': 'application/vnd.oci.image.manifest.v1+json', 'Content-Length': 4 }, chunks: [Buffer.from('null')] }],
        ['PUT', `/v2/${repo}/manifests/weird`, { headers: { 'Content-Type': 'application/vnd.oci.image.manifest.v1+json', 'Content-Length': 2 }, chunks: [Buffer.from([0xff, 0xfe])] }],
        ['PUT', `/v2/${repo}/manifests/weird`, { headers: { 'Content-Type': 'text/plain', 'Content-Length': 0 } }],
        ['PUT', `/v2/${repo}/manifests/weird`, { headers: { 'Content-Type': 'application/vnd.oci.image.index.v1+json' }, chunks: [Buffer.from('{"schemaVersion":2,"manifests":[null]}')] }],
        ['PUT', `/v2/${repo}/manifests/weird`, { headers: { 'Content-Type': 'application/vnd.oci.image.manifest.v1+json' }, chunks: [Buffer.from('{"schemaVersion":2,"config":{"mediaType":"a","digest":"sha256:' + 'a'.repeat(64) + '","size":-1},"layers":[]}')] }],
        ['PUT', `/v2/${repo}/manifests/weird`, { headers: { 'Content-Type': 'application/vnd.oci.image.manifest.v1+json' }, chunks: [Buffer.from('{"schemaVersion":2,"subject":"x","config":{},"layers":[]}')] }],
        ['POST', `/v2/${repo}/blobs/uploads/?mount=`],
        ['POST', `/v2/${repo}/blobs/uploads/?from=${repo}`],
        ['POST', `/v2/${repo}/blobs/uploads/?mount=${d}&from=Bad..Name`],
        ['POST', `/v2/${repo}/blobs/uploads/?digest=${sha256('a')}&digest=${sha256('b')}`],
        ['GET', `/v2/${repo}/referrers/${d}?artifactType=a&artifactType=b`],
        ['DELETE', `/v2/${repo}/manifests/%2e%2e`],
      ];
      for (const [method, path, options] of cases) {
        const res = await rawRequest(ctx.app, method, path, options ?? {});
        assertNot5xx(res, `${method} ${path}`);
        if (res.status >= 400 && res.status !== 416 && method !== 'HEAD') {
          const body = JSON.parse(res.text) as { errors: { code: string }[] };
          assert.ok(Array.isArray(body.errors) && typeof body.errors[0]?.code === 'string', `${method} ${path}: ${res.text}`);
        }
      }
    });

    it('a client that disconnects mid-chunk leaves the upload as it was, and the server serves on', async () => {
      const { logger, entries } = capturingLogger();
      const ctx = await openRegistryApp({ logger });
      after(() => ctx.close());
      const start = await request(ctx.app).post(`/v2/${repo}/blobs/uploads/`);
      const location = start.headers.location as string;
      const blob = randomBlob(20_000);
      assert.equal((await request(ctx.app).patch(location).set('Content-Range', '0-9999').send(blob.bytes.subarray(0, 10_000))).status, 202);

      const server = createServer(ctx.app).listen(0, '127.0.0.1');
      await new Promise<void>((resolve) => server.once('listening', () => resolve()));
      try {
        const { port } = server.address() as AddressInfo;
        await new Promise<void>((resolve) => {
          const req = httpRequest({
            host: '127.0.0.1',
            port,
            method: 'PATCH',
            path: location,
            headers: { 'Content-Length': 10_000, 'Content-Range': '10000-19999' },
          });
          req.on('error', () => resolve());
          req.write(blob.bytes.subarray(10_000, 13_000));
          setTimeout(() => {
            req.destroy();
            resolve();
          }, 100);
        });
        // Let the server notice the abort and roll the chunk back.
        for (let i = 0; i < 50; i++) {
          const status = await request(ctx.app).get(location);
          if (status.status === 204 && status.headers.range === '0-9999') break;
          await new Promise((r) => setTimeout(r, 20));
        }
      } finally {
        server.closeAllConnections();
        await new Promise<void>((resolve) => server.close(() => resolve()));
      }
      const status = await request(ctx.app).get(location);
      assert.equal(status.status, 204);
      assert.equal(status.headers.range, '0-9999');
      const rest = await request(ctx.app).patch(location).set('Content-Range', '10000-19999').send(blob.bytes.subarray(10_000));
      assert.equal(rest.status, 202, rest.text);
      const done = await request(ctx.app).put(`${location}?digest=${blob.digest}`);
      assert.equal(done.status, 201, done.text);
      // A client going away is not an internal error.
      assert.deepEqual(entries.filter((e) => e.level >= 50), []);
    });
  });
});
