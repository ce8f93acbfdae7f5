/** The LevelDB MetadataStore on a real database in a temp directory. */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { LevelMetadataStore } from './level-metadata.js';
import type { Digest, RepositoryName, Tag } from '../oci/names.js';
import type { ManifestDescriptor } from './types.js';

const repo = (s: string) => s as RepositoryName;
const tag = (s: string) => s as Tag;
const dg = (s: string) => `sha256:${createHash('sha256').update(s).digest('hex')}` as Digest;
const OCI = 'application/vnd.oci.image.manifest.v1+json';

function manifest(name: string, extra: Partial<ManifestDescriptor> = {}): ManifestDescriptor {
  return { mediaType: OCI, digest: dg(name), size: name.length * 10, ...extra };
}

describe('LevelMetadataStore', () => {
  let dir: string;
  let meta: LevelMetadataStore;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'wharf-meta-'));
    meta = await LevelMetadataStore.open(join(dir, 'metadata'));
  });
  afterEach(async () => {
    await meta.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('links decide visibility: a blob linked in one repository is unknown in another', async () => {
    const d = dg('layer');
    await meta.linkBlob(repo('a'), { digest: d, size: 42 });
    assert.deepEqual(await meta.getLinkedBlob(repo('a'), d), { digest: d, size: 42 });
    assert.equal(await meta.getLinkedBlob(repo('a/b'), d), undefined);
    assert.equal(await meta.getLinkedBlob(repo('b'), d), undefined);
    assert.equal(await meta.repositoryExists(repo('a')), true);
    assert.equal(await meta.repositoryExists(repo('b')), false);
    assert.equal(await meta.unlinkBlob(repo('a'), d), true);
    assert.equal(await meta.unlinkBlob(repo('a'), d), false);
    assert.equal(await meta.getLinkedBlob(repo('a'), d), undefined);
  });

  it('putManifest links, tags and resolves in one get; descriptors round-trip', async () => {
    const m = manifest('m1', { artifactType: 'application/x', annotations: { k: 'v' } });
    await meta.putManifest(repo('r'), m, tag('latest'));
    assert.deepEqual(await meta.getManifest(repo('r'), m.digest), m);
    assert.deepEqual(await meta.resolveTag(repo('r'), tag('latest')), m);
    assert.equal(await meta.resolveTag(repo('r'), tag('other')), undefined);
    assert.equal(await meta.getManifest(repo('r2'), m.digest), undefined);
    // A tag moves to the manifest pushed last under it.
    const m2 = manifest('m2');
    await meta.putManifest(repo('r'), m2, tag('latest'));
    assert.equal((await meta.resolveTag(repo('r'), tag('latest')))?.digest, m2.digest);
    assert.deepEqual(await meta.getManifest(repo('r'), m.digest), m);
  });

  it('deleteManifest removes the manifest, every tag pointing at it, and nothing else', async () => {
    const a = manifest('a');
    const b = manifest('b');
    await meta.putManifest(repo('r'), a, tag('one'));
    await meta.putManifest(repo('r'), a, tag('two'));
    await meta.putManifest(repo('r'), b, tag('three'));
    // Same tag names in a repository whose name extends this one's.
    await meta.putManifest(repo('r/sub'), a, tag('one'));
    await meta.putManifest(repo('r-x'), a, tag('one'));
    assert.equal(await meta.deleteManifest(repo('r'), a.digest), true);
    assert.equal(await meta.getManifest(repo('r'), a.digest), undefined);
    assert.deepEqual(await meta.listTags(repo('r'), { n: 100 }), ['three']);
    assert.equal((await meta.resolveTag(repo('r/sub'), tag('one')))?.digest, a.digest);
    assert.equal((await meta.resolveTag(repo('r-x'), tag('one')))?.digest, a.digest);
    assert.equal(await meta.deleteManifest(repo('r'), a.digest), false);
  });

  it('deleteTag removes only the tag', async () => {
    const a = manifest('a');
    await meta.putManifest(repo('r'), a, tag('t'));
    assert.equal(await meta.deleteTag(repo('r'), tag('t')), true);
    assert.equal(await meta.deleteTag(repo('r'), tag('t')), false);
    assert.equal(await meta.resolveTag(repo('r'), tag('t')), undefined);
    assert.deepEqual(await meta.getManifest(repo('r'), a.digest), a);
  });

  it('listTags pages with n and last, in byte order, within one repository', async () => {
    const tags = ['b', 'a', 'A', '_x', 'v1.0', 'v1', 'v10', 'v2', 'z'];
    for (const t of tags) await meta.putManifest(repo('r'), manifest('m'), tag(t));
    await meta.putManifest(repo('r/deeper'), manifest('m'), tag('zz'));
    await meta.putManifest(repo('q'), manifest('m'), tag('0'));
    const sorted = [...tags].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)));
    assert.deepEqual(await meta.listTags(repo('r'), { n: 100 }), sorted);
    const pages: string[] = [];
    let last: string | undefined;
    for (;;) {
      const page: string[] = await meta.listTags(repo('r'), last === undefined ? { n: 2 } : { n: 2, last });
      pages.push(...page);
      if (page.length < 2) break;
      last = page[page.length - 1];
    }
    assert.deepEqual(pages, sorted);
    assert.deepEqual(await meta.listTags(repo('r'), { n: 3, last: 'v1' }), ['v1.0', 'v10', 'v2']);
    assert.deepEqual(await meta.listTags(repo('r'), { n: 0 }), []);
    assert.deepEqual(await meta.listTags(repo('nothing'), { n: 10 }), []);
  });

  it('listRepositories pages with n and last over every repository, once each', async () => {
    const names = ['b', 'a/b', 'a', 'a-b', 'a.b', 'a_b', 'a/b/c', 'z'];
    for (const n of names) await meta.linkBlob(repo(n), { digest: dg('x'), size: 1 });
    await meta.putManifest(repo('a'), manifest('m'));
    const sorted = [...names].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)));
    assert.deepEqual(await meta.listRepositories({ n: 100 }), sorted);
    assert.deepEqual(await meta.listRepositories({ n: 3 }), sorted.slice(0, 3));
    assert.deepEqual(await meta.listRepositories({ n: 3, last: 'a/b' }), sorted.slice(sorted.indexOf('a/b') + 1, sorted.indexOf('a/b') + 4));
    assert.deepEqual(await meta.listRepositories({ n: 3, last: 'z' }), []);
  });

  it('referrers: indexed by subject on put, dropped on delete, per repository', async () => {
    const subject = dg('subject');
    const sig = manifest('sig', { subject, artifactType: 'application/sig', annotations: { a: 'b' } });
    const sbom = manifest('sbom', { subject, artifactType: 'application/sbom' });
    const unrelated = manifest('unrelated', { subject: dg('other') });
    for (const m of [sig, sbom, unrelated]) await meta.putManifest(repo('r'), m);
    const listed = await meta.listReferrers(repo('r'), subject);
    assert.deepEqual(
      listed.sort((x, y) => x.digest.localeCompare(y.digest)),
      [
        { mediaType: OCI, digest: sig.digest, size: sig.size, artifactType: 'application/sig', annotations: { a: 'b' } },
        { mediaType: OCI, digest: sbom.digest, size: sbom.size, artifactType: 'application/sbom' },
      ].sort((x, y) => x.digest.localeCompare(y.digest)),
    );
    assert.deepEqual(await meta.listReferrers(repo('r2'), subject), []);
    assert.deepEqual(await meta.listReferrers(repo('r'), dg('nothing')), []);
    await meta.deleteManifest(repo('r'), sig.digest);
    assert.deepEqual((await meta.listReferrers(repo('r'), subject)).map((d) => d.digest), [sbom.digest]);
  });

  it('upload sessions: put, get, list, delete', async () => {
    const s1 = { id: crypto.randomUUID(), repository: repo('r'), startedAt: 1, touchedAt: 1 };
    const s2 = { id: crypto.randomUUID(), repository: repo('q/r'), startedAt: 2, touchedAt: 2 };
    await meta.putUploadSession(s1);
    await meta.putUploadSession(s2);
    assert.deepEqual(await meta.getUploadSession(s1.id), s1);
    assert.equal(await meta.getUploadSession(crypto.randomUUID()), undefined);
    assert.deepEqual((await meta.listUploadSessions()).sort((a, b) => a.startedAt - b.startedAt), [s1, s2]);
    await meta.deleteUploadSession(s1.id);
    assert.deepEqual(await meta.listUploadSessions(), [s2]);
  });

  it('upload sessions by last activity: a touch moves a session to the young end, a delete drops it from the index', async () => {
    const ids = [crypto.randomUUID(), crypto.randomUUID(), crypto.randomUUID()];
    for (const [i, id] of ids.entries()) await meta.putUploadSession({ id, repository: repo('r'), startedAt: 1000 + i, touchedAt: 1000 + i });
    assert.deepEqual(await meta.listIdleUploadSessions(1002, 10), [ids[0], ids[1]]);
    assert.deepEqual(await meta.listIdleUploadSessions(5000, 1), [ids[0]]);
    const touched = await meta.touchUploadSession((await meta.getUploadSession(ids[0]!))!, 9000);
    assert.equal(touched.touchedAt, 9000);
    assert.deepEqual(await meta.getUploadSession(ids[0]!), touched);
    assert.deepEqual(await meta.listIdleUploadSessions(5000, 10), [ids[1], ids[2]]);
    await meta.deleteUploadSession(ids[1]!);
    assert.deepEqual(await meta.listIdleUploadSessions(10_000, 10), [ids[2], ids[0]]);
  });

  it('tag lists and the catalog, answered again from memory, follow every write that changes them', async () => {
    const r = repo('listing/a');
    const m1 = manifest('one');
    const m2 = manifest('two');
    await meta.putManifest(r, m1, tag('1'));
    assert.deepEqual(await meta.listTags(r, { n: 10 }), ['1']);
    assert.deepEqual(await meta.listTags(r, { n: 10 }), ['1']);
    await meta.putManifest(r, m2, tag('2'));
    assert.deepEqual(await meta.listTags(r, { n: 10 }), ['1', '2']);
    assert.deepEqual(await meta.listTags(r, { n: 1, last: '1' }), ['2']);
    await meta.deleteTag(r, tag('1'));
    assert.deepEqual(await meta.listTags(r, { n: 10 }), ['2']);
    await meta.deleteManifest(r, m2.digest);
    assert.deepEqual(await meta.listTags(r, { n: 10 }), []);
    // A page asked for while a tag is written is never kept without it.
    const [during] = await Promise.all([meta.listTags(r, { n: 10 }), meta.putManifest(r, m1, tag('3'))]);
    assert.ok(during.length <= 1);
    assert.deepEqual(await meta.listTags(r, { n: 10 }), ['3']);

    const before = await meta.listRepositories({ n: 1000 });
    assert.ok(before.includes('listing/a'));
    await meta.linkBlob(repo('listing/b'), { digest: dg('b'), size: 1 });
    assert.deepEqual(await meta.listRepositories({ n: 1000 }), [...before, 'listing/b'].sort());
    await meta.putManifest(repo('listing/0'), manifest('zero'));
    assert.ok((await meta.listRepositories({ n: 1000 })).includes('listing/0'));
  });

  it('everything survives a close and reopen', async () => {
    const m = manifest('persist', { subject: dg('s') });
    await meta.putManifest(repo('p'), m, tag('v'));
    await meta.linkBlob(repo('p'), { digest: dg('blob'), size: 7 });
    const session = { id: crypto.randomUUID(), repository: repo('p'), startedAt: 5, touchedAt: 5 };
    await meta.putUploadSession(session);
    await meta.close();
    meta = await LevelMetadataStore.open(join(dir, 'metadata'));
    assert.deepEqual(await meta.resolveTag(repo('p'), tag('v')), m);
    assert.deepEqual(await meta.getLinkedBlob(repo('p'), dg('blob')), { digest: dg('blob'), size: 7 });
    assert.deepEqual(await meta.getUploadSession(session.id), session);
    assert.equal((await meta.listReferrers(repo('p'), dg('s'))).length, 1);
    assert.deepEqual(await meta.listRepositories({ n: 10 }), ['p']);
  });
});
