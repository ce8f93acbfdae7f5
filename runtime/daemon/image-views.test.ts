import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeRegistryAuth, imageInspect, imageSummaries, matchesReferenceFilter } from './image-views.js';
import { progressBar } from './images-pull.js';
import type { ImageRecord } from '../images/store.js';

const record = (over: Partial<ImageRecord>): ImageRecord =>
  ({
    reference: 'localhost:5000/app:1',
    registry: 'localhost:5000',
    repository: 'app',
    tag: '1',
    digest: `sha256:${'a'.repeat(64)}`,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    configDigest: `sha256:${'c'.repeat(64)}`,
    platform: { os: 'linux', architecture: 'amd64' },
    created: '2024-01-01T00:00:00Z',
    config: { Cmd: ['sh'], Labels: { team: 'x' } },
    layers: [{ digest: `sha256:${'1'.repeat(64)}`, size: 10, mediaType: 'x', diffId: `sha256:${'2'.repeat(64)}` }],
    size: 10,
    pulledAt: '2024-01-02T00:00:00Z',
    ...over,
  }) as ImageRecord;

test('X-Registry-Auth: base64url JSON (and plain base64), empty or {} is anonymous, garbage is a 400', () => {
  const enc = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
  assert.deepEqual(decodeRegistryAuth(enc({ username: 'alice', password: 's3cr?t>>', serveraddress: 'r' })), { username: 'alice', password: 's3cr?t>>' });
  assert.deepEqual(decodeRegistryAuth(Buffer.from(JSON.stringify({ username: 'bob', password: 'p' })).toString('base64')), { username: 'bob', password: 'p' });
  assert.deepEqual(decodeRegistryAuth(enc({ identitytoken: 'tok' })), { username: '', password: 'tok' });
  assert.equal(decodeRegistryAuth(undefined), undefined);
  assert.equal(decodeRegistryAuth(enc({})), undefined);
  assert.throws(() => decodeRegistryAuth('!!!not json'), (e: Error & { status?: number }) => e.status === 400 && /X-Registry-Auth/.test(e.message));
});

test('reference filter: globs within one component, with and without the default registry', () => {
  assert.ok(matchesReferenceFilter('localhost:5000/app', 'localhost:5000/app:1', 'localhost:5000'));
  assert.ok(matchesReferenceFilter('app', 'localhost:5000/app:1', 'localhost:5000'));
  assert.ok(matchesReferenceFilter('app:1', 'localhost:5000/app:1', 'localhost:5000'));
  assert.ok(matchesReferenceFilter('team/*', 'localhost:5000/team/web:2', 'localhost:5000'));
  assert.ok(!matchesReferenceFilter('team/*', 'localhost:5000/team/web/x:2', 'localhost:5000'));
  assert.ok(!matchesReferenceFilter('app:2', 'localhost:5000/app:1', 'localhost:5000'));
  assert.ok(!matchesReferenceFilter('app', 'other:5000/app:1', 'localhost:5000'));
});

test('the list has one entry per image ID with all its tags and digests; a tag made here names no digest', () => {
  const a = record({});
  const b = record({ reference: 'localhost:5000/app:latest', tag: 'latest', taggedAt: '2024-01-03T00:00:00Z' });
  const other = record({ reference: 'localhost:5000/db:1', repository: 'db', configDigest: `sha256:${'d'.repeat(64)}` as ImageRecord['configDigest'], created: '2025-01-01T00:00:00Z' });
  const list = imageSummaries([a, b, other], (id) => (id === a.configDigest ? 2 : 0));
  assert.equal(list.length, 2);
  assert.equal(list[0]!.Id, other.configDigest, 'newest first');
  const app = list[1]!;
  assert.deepEqual(app.RepoTags, ['localhost:5000/app:1', 'localhost:5000/app:latest']);
  assert.deepEqual(app.RepoDigests, [`localhost:5000/app@${a.digest}`]);
  assert.equal(app.Created, 1704067200);
  assert.equal(app.Containers, 2);
  assert.deepEqual(app.Labels, { team: 'x' });
  const ins = imageInspect(a, [a, b], '1.41');
  assert.equal(ins.Id, a.configDigest);
  assert.deepEqual((ins.RootFS as { Layers: string[] }).Layers, [a.layers[0]!.diffId]);
  assert.equal((ins.Config as { Cmd: string[] }).Cmd[0], 'sh');
  assert.equal(ins.VirtualSize, 10);
  assert.equal(imageInspect(a, [a], '1.45').VirtualSize, undefined, 'gone from API 1.44 on');
});

test('progress bars as moby draws them', () => {
  assert.equal(progressBar(0, 1000), `[>${' '.repeat(49)}]      0B/1kB`);
  assert.equal(progressBar(500, 1000), `[${'='.repeat(25)}>${' '.repeat(24)}]    500B/1kB`);
  assert.equal(progressBar(1000, 1000), `[${'='.repeat(50)}]     1kB/1kB`);
});
