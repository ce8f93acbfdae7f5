import assert from 'node:assert/strict';
import { Readable, Writable } from 'node:stream';
import { test } from 'node:test';
import { dockerArchiveEntries, gzip, tarOf } from '../spec-tests/support/archives.js';
import { buildImage, buildLayer, sha256 } from '../spec-tests/support/images.js';
import { ArchiveError, normalizeEntryName, resolveFile, scanArchive } from './archive-read.js';
import { planImport, tagOf } from './archive-plan.js';
import { writeDockerArchive } from './archive-write.js';

test('entry names: ./ and empty parts are dropped; absolute, .. and odd bytes are refused', () => {
  assert.equal(normalizeEntryName('./manifest.json'), 'manifest.json');
  assert.equal(normalizeEntryName('a//b/./c'), 'a/b/c');
  assert.equal(normalizeEntryName('./'), '');
  for (const bad of ['/etc/passwd', '../x', 'a/../../x', 'a/..', 'a\\b', 'a\0b', '']) assert.equal(normalizeEntryName(bad), undefined, bad);
});

test('tags from RepoTags and ref.name', () => {
  assert.equal(tagOf('v1'), 'v1');
  assert.equal(tagOf('team/app:v1'), 'v1');
  assert.equal(tagOf('127.0.0.1:5000/team/app:v1'), 'v1');
  assert.equal(tagOf('127.0.0.1:5000/team/app'), undefined);
  assert.equal(tagOf('team/app@sha256:abc'), undefined);
});

test('a docker archive with a gzip-compressed layer and a layer shared by a symlink (as old docker save writes)', async () => {
  const layer = await buildLayer([{ type: 'file', path: 'f', content: 'shared' }], { gzip: false });
  const image = buildImage([layer, layer], {}, 'docker');
  const hex = (d: string) => d.slice(7);
  const config = `${hex(image.configDigest)}.json`;
  const entries = [
    { name: 'a/layer.tar', content: gzip(layer.tar) },
    { name: 'b/layer.tar', type: 'symlink' as const, linkname: '../a/layer.tar' },
    { name: config, content: image.config },
    { name: 'manifest.json', content: JSON.stringify([{ Config: config, RepoTags: ['x/y:t'], Layers: ['a/layer.tar', 'b/layer.tar'] }]) },
  ];
  const index = await scanArchive(Readable.from([await tarOf(entries)]));
  assert.equal(resolveFile(index, 'b/layer.tar')?.name, 'a/layer.tar');
  assert.equal(index.files.get('a/layer.tar')?.uncompressedDigest, layer.diffId);
  const plan = planImport(index);
  assert.equal(plan.images.length, 1);
  assert.deepEqual(plan.images[0]!.tags, ['t']);
  assert.equal(plan.blobs.size, 2, 'the config and the one layer blob');
  const manifest = JSON.parse(plan.images[0]!.manifest.bytes.toString()) as { layers: { mediaType: string }[] };
  assert.deepEqual(manifest.layers.map((l) => l.mediaType), ['application/vnd.docker.image.rootfs.diff.tar.gzip', 'application/vnd.docker.image.rootfs.diff.tar.gzip']);
});

test('a link loop or a link to nothing is a missing layer, not a hang', async () => {
  const layer = await buildLayer([{ type: 'file', path: 'f', content: 'x' }], { gzip: false });
  const image = buildImage([layer], {}, 'docker');
  const entries = dockerArchiveEntries(image, 'x:y').filter((e) => !e.name.endsWith('layer.tar'));
  const name = `${layer.diffId.slice(7)}/layer.tar`;
  entries.push({ name, type: 'symlink', linkname: 'loop' }, { name: `${layer.diffId.slice(7)}/loop`, type: 'symlink', linkname: 'layer.tar' });
  const index = await scanArchive(Readable.from([await tarOf(entries)]));
  assert.throws(() => planImport(index), (e: unknown) => e instanceof ArchiveError && /is missing from the archive/.test(e.message));
});

test('what writeDockerArchive writes reads back as the same image', async () => {
  const layer = await buildLayer([{ type: 'file', path: 'f', content: 'round trip' }]);
  const image = buildImage([layer], { Cmd: ['/f'] });
  const chunks: Buffer[] = [];
  const out = new Writable({ write: (c: Buffer, _e, done) => (chunks.push(c), done()) });
  await writeDockerArchive(
    {
      repoTag: 'localhost:5000/a/b:v9',
      manifest: { digest: image.manifestDigest, mediaType: image.mediaType, bytes: image.manifest },
      config: { digest: image.configDigest, bytes: image.config },
      layers: [{ digest: layer.digest, size: layer.blob.length, open: async () => Readable.from([layer.blob]) }],
    },
    out,
  );
  const plan = planImport(await scanArchive(Readable.from([Buffer.concat(chunks)])));
  assert.equal(plan.format, 'oci-layout');
  assert.equal(plan.images[0]!.manifest.digest, image.manifestDigest);
  assert.equal(sha256(plan.images[0]!.manifest.bytes), image.manifestDigest);
  assert.deepEqual(plan.images[0]!.tags, ['v9']);
});
