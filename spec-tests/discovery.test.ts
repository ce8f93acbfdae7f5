/** OCI distribution-spec, "Content discovery": tag lists, the catalog, referrers. */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import request from 'supertest';
import type { RequestListener } from '../server/app.js';
import {
  MediaTypes,
  assertError,
  blobOf,
  imageManifest,
  indexManifest,
  nextLinkOf,
  openRegistryApp,
  pushBlob,
  pushImage,
  pushManifest,
  sha256,
  type ImageFixture,
  type ManifestFixture,
  type RegistryApp,
} from './support/registry-app.js';

/** Follow `Link: rel="next"` from `first` to the end; the pages' entries in order. */
async function followPages(app: RequestListener, first: string, key: 'tags' | 'repositories', expectedN: number): Promise<string[][]> {
  const pages: string[][] = [];
  let url: string | undefined = first;
  while (url !== undefined) {
    const res = await request(app).get(url);
    assert.equal(res.status, 200, `${url}: ${res.text}`);
    assert.match(String(res.headers['content-type']), /^application\/json/);
    const entries = (res.body as Record<string, string[]>)[key]!;
    assert.ok(Array.isArray(entries), `${url}: ${res.text}`);
    assert.ok(entries.length <= expectedN, `${url} gave ${entries.length} entries, more than n=${expectedN}`);
    pages.push(entries);
    url = nextLinkOf(res.headers.link);
    if (url !== undefined) {
      assert.equal(entries.length, expectedN, 'a page with a next link is full');
      assert.ok(url.startsWith('/v2/'), url);
      assert.match(url, new RegExp(`[?&]n=${expectedN}(&|$)`));
    }
    assert.ok(pages.length < 1000, 'pagination does not end');
  }
  return pages;
}

/** Byte-wise order, as the spec's "lexical" order and LevelDB both sort. */
function lexical(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

describe('content discovery', () => {
  let ctx: RegistryApp;

  before(async () => {
    ctx = await openRegistryApp();
  });
  after(() => ctx.close());

  describe('tags', () => {
    const repo = 'discovery/tags';
    const tags = ['latest', 'v1', 'v1.0', 'v1.0.1', 'v10', 'v2', 'V2', '_under', '1', '1.0-rc_1', 'a-b', 'a.b', 'a_b', 'z'];
    for (let i = 0; i < 12; i++) tags.push(`build-${String(i).padStart(3, '0')}`);
    const sorted = [...tags].sort(lexical);

    before(async () => {
      const img = await pushImage(ctx.app, repo, tags[0]!);
      for (const t of tags.slice(1)) await pushManifest(ctx.app, repo, t, img.manifest);
    });

    it('lists every tag in lexical order, with no Link when all fit', async () => {
      const res = await request(ctx.app).get(`/v2/${repo}/tags/list`);
      assert.equal(res.status, 200);
      assert.deepEqual(res.body, { name: repo, tags: sorted });
      assert.equal(res.headers.link, undefined);
    });

    for (const n of [1, 4, 7, tags.length - 1, tags.length, tags.length + 5]) {
      it(`n=${n}: following Link to the end yields every tag exactly once, in order`, async () => {
        const pages = await followPages(ctx.app, `/v2/${repo}/tags/list?n=${n}`, 'tags', n);
        assert.deepEqual(pages.flat(), sorted);
        assert.equal(pages.length, Math.max(1, Math.ceil(tags.length / n)));
      });
    }

    it('last= starts after the given tag (which need not exist)', async () => {
      const res = await request(ctx.app).get(`/v2/${repo}/tags/list?last=v1`);
      assert.equal(res.status, 200);
      assert.deepEqual(res.body.tags, sorted.filter((t) => lexical(t, 'v1') > 0));
      const res2 = await request(ctx.app).get(`/v2/${repo}/tags/list?n=3&last=build-0055`);
      assert.deepEqual(res2.body.tags, sorted.filter((t) => lexical(t, 'build-0055') > 0).slice(0, 3));
      const end = await request(ctx.app).get(`/v2/${repo}/tags/list?last=zzz`);
      assert.deepEqual(end.body.tags, []);
      assert.equal(end.headers.link, undefined);
    });

    it('n=0 returns an empty list and no Link (spec)', async () => {
      const res = await request(ctx.app).get(`/v2/${repo}/tags/list?n=0`);
      assert.equal(res.status, 200);
      assert.deepEqual(res.body, { name: repo, tags: [] });
      assert.equal(res.headers.link, undefined);
    });

    it('the Link header is RFC 5988: <url>; rel="next", with last= URL-encoded', async () => {
      const res = await request(ctx.app).get(`/v2/${repo}/tags/list?n=2`);
      assert.equal(res.headers.link, `</v2/${repo}/tags/list?n=2&last=${encodeURIComponent(sorted[1]!)}>; rel="next"`);
    });

    it('a repository without tags lists none; an unknown repository is NAME_UNKNOWN', async () => {
      await pushBlob(ctx.app, 'discovery/untagged', blobOf('just a blob'));
      const res = await request(ctx.app).get('/v2/discovery/untagged/tags/list');
      assert.equal(res.status, 200);
      assert.deepEqual(res.body, { name: 'discovery/untagged', tags: [] });
      assertError(await request(ctx.app).get('/v2/discovery/nothing-here/tags/list'), 404, 'NAME_UNKNOWN');
    });

    it('a bad n is refused without a 5xx', async () => {
      for (const n of ['-1', 'abc', '1e3']) {
        const res = await request(ctx.app).get(`/v2/${repo}/tags/list?n=${n}`);
        assertError(res, 400, 'PAGINATION_NUMBER_INVALID');
      }
    });
  });

  describe('catalog', () => {
    let fresh: RegistryApp;
    const repos = ['alpha', 'alpha/beta', 'alpha/beta/gamma', 'alpha-beta', 'alpha.beta', 'alpha_beta', 'b', 'library/busybox',
      'library/ubuntu', 'z0', 'zeta/eta', 'a__b', '0numeric', 'mirror/docker.io/library/nginx', 'x-y-z'];
    const sorted = [...repos].sort(lexical);

    before(async () => {
      fresh = await openRegistryApp();
      const config = blobOf('{"catalog":true}');
      for (const r of repos) await pushBlob(fresh.app, r, config);
    });
    after(() => fresh.close());

    it('lists every repository in lexical order', async () => {
      const res = await request(fresh.app).get('/v2/_catalog');
      assert.equal(res.status, 200);
      assert.deepEqual(res.body, { repositories: sorted });
      assert.equal(res.headers.link, undefined);
    });

    for (const n of [1, 2, 5, repos.length, 100]) {
      it(`n=${n}: following Link to the end yields every repository exactly once, in order`, async () => {
        const pages = await followPages(fresh.app, `/v2/_catalog?n=${n}`, 'repositories', n);
        assert.deepEqual(pages.flat(), sorted);
        assert.equal(pages.length, Math.ceil(repos.length / n));
      });
    }

    it('n=0 returns an empty list and no Link', async () => {
      const res = await request(fresh.app).get('/v2/_catalog?n=0');
      assert.equal(res.status, 200);
      assert.deepEqual(res.body, { repositories: [] });
      assert.equal(res.headers.link, undefined);
    });

    it('last= with a slash in it continues after that repository', async () => {
      const res = await request(fresh.app).get(`/v2/_catalog?n=3&last=${encodeURIComponent('alpha/beta')}`);
      assert.equal(res.status, 200);
      const i = sorted.indexOf('alpha/beta');
      assert.deepEqual(res.body.repositories, sorted.slice(i + 1, i + 4));
      assert.equal(res.headers.link, `</v2/_catalog?n=3&last=${encodeURIComponent(sorted[i + 3]!)}>; rel="next"`);
    });

    it('an empty registry lists no repositories', async () => {
      const empty = await openRegistryApp();
      try {
        const res = await request(empty.app).get('/v2/_catalog');
        assert.equal(res.status, 200);
        assert.deepEqual(res.body, { repositories: [] });
      } finally {
        await empty.close();
      }
    });
  });

  describe('referrers', () => {
    const repo = 'discovery/referrers';
    let subject: ImageFixture;
    let sigA: ManifestFixture;
    let sigB: ManifestFixture;
    let sbom: ManifestFixture;
    let byConfig: ManifestFixture;
    let indexReferrer: ManifestFixture;

    before(async () => {
      subject = await pushImage(ctx.app, repo, 'app');
      const empty = blobOf('{}');
      await pushBlob(ctx.app, repo, empty);
      sigA = imageManifest(empty, [], { subject: subject.manifest, artifactType: 'application/vnd.example.signature', annotations: { who: 'a' } });
      sigB = imageManifest(empty, [], { subject: subject.manifest, artifactType: 'application/vnd.example.signature', annotations: { who: 'b' } });
      sbom = imageManifest(empty, [], { subject: subject.manifest, artifactType: 'application/vnd.example.sbom' });
      // No artifactType: the config's media type stands in for it (spec).
      const cfg = blobOf('{"kind":"attestation"}');
      await pushBlob(ctx.app, repo, cfg);
      byConfig = imageManifest(cfg, [], { subject: subject.manifest, configMediaType: 'application/vnd.example.attestation.config' });
      for (const m of [sigA, sigB, sbom, byConfig]) await pushManifest(ctx.app, repo, m.digest, m);
      const idx = indexManifest([sigA]);
      const json = { ...idx.json, artifactType: 'application/vnd.example.bundle', subject: { mediaType: subject.manifest.mediaType, digest: subject.manifest.digest, size: subject.manifest.size } };
      const bytes = Buffer.from(JSON.stringify(json));
      indexReferrer = { bytes, digest: sha256(bytes), size: bytes.length, mediaType: MediaTypes.ociIndex, json };
      await pushManifest(ctx.app, repo, indexReferrer.digest, indexReferrer);
    });

    async function referrers(query = '', subjectDigest = subject.manifest.digest, name = repo) {
      const res = await request(ctx.app).get(`/v2/${name}/referrers/${subjectDigest}${query}`);
      assert.equal(res.status, 200, res.text);
      assert.equal(res.headers['content-type'], MediaTypes.ociIndex);
      const body = JSON.parse(res.text) as { schemaVersion: number; mediaType: string; manifests: Record<string, unknown>[] };
      assert.equal(body.schemaVersion, 2);
      assert.equal(body.mediaType, MediaTypes.ociIndex);
      return { res, manifests: body.manifests };
    }

    it('lists every manifest whose subject is the digest, as descriptors', async () => {
      const { res, manifests } = await referrers();
      assert.equal(res.headers['oci-filters-applied'], undefined);
      const byDigest = new Map(manifests.map((d) => [d.digest as string, d]));
      assert.equal(manifests.length, 5);
      assert.deepEqual(byDigest.get(sigA.digest), {
        mediaType: MediaTypes.ociManifest,
        digest: sigA.digest,
        size: sigA.size,
        artifactType: 'application/vnd.example.signature',
        annotations: { who: 'a' },
      });
      assert.equal(byDigest.get(sbom.digest)?.artifactType, 'application/vnd.example.sbom');
      assert.equal(byDigest.get(byConfig.digest)?.artifactType, 'application/vnd.example.attestation.config');
      assert.equal(byDigest.get(indexReferrer.digest)?.mediaType, MediaTypes.ociIndex);
      assert.equal(byDigest.get(indexReferrer.digest)?.artifactType, 'application/vnd.example.bundle');
      assert.equal(byDigest.get(sigB.digest)?.size, sigB.size);
    });

    it('artifactType filters, and OCI-Filters-Applied says so', async () => {
      const { res, manifests } = await referrers('?artifactType=application/vnd.example.signature');
      assert.equal(res.headers['oci-filters-applied'], 'artifactType');
      assert.deepEqual(manifests.map((d) => d.digest).sort(), [sigA.digest, sigB.digest].sort());
      const none = await referrers('?artifactType=application/vnd.example.nothing');
      assert.equal(none.res.headers['oci-filters-applied'], 'artifactType');
      assert.deepEqual(none.manifests, []);
    });

    it('an unknown subject (or repository) answers 200 with an empty index', async () => {
      assert.deepEqual((await referrers('', sha256('no such subject'))).manifests, []);
      assert.deepEqual((await referrers('', subject.manifest.digest, 'discovery/elsewhere')).manifests, []);
    });

    it('a referrer is dropped from the list when its manifest is deleted', async () => {
      const res = await request(ctx.app).delete(`/v2/${repo}/manifests/${sbom.digest}`);
      assert.equal(res.status, 202);
      const { manifests } = await referrers();
      assert.equal(manifests.length, 4);
      assert.ok(!manifests.some((d) => d.digest === sbom.digest));
      assert.deepEqual((await referrers('?artifactType=application/vnd.example.sbom')).manifests, []);
    });

    it('a bad subject digest is DIGEST_INVALID', async () => {
      assertError(await request(ctx.app).get(`/v2/${repo}/referrers/sha256:abc`), 400, 'DIGEST_INVALID');
      assertError(await request(ctx.app).get(`/v2/${repo}/referrers/latest`), 400, 'DIGEST_INVALID');
    });
  });
});
