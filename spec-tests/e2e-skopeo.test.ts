/**
 * End to end with skopeo (containers/image): a multi-architecture OCI index built in
 * the test is copied into Wharf with `skopeo copy --all`, copied back out, and every
 * blob — index, manifests, configs, layers — comes back byte-identical.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { buildImage, buildIndex, buildLayer, sha256, type BuiltIndex } from './support/images.js';
import { layoutDigestOf, readLayoutBlobs, writeOciLayout } from './support/oci-layout.js';
import { requireCommand, run } from './support/peers.js';
import { startTestWharf, type TestWharf } from './support/wharf.js';

let wharf: TestWharf;
let work: string;
let index: BuiltIndex;

before(async () => {
  await requireCommand('skopeo', 'skopeo');
  await requireCommand('curl', 'curl');
  wharf = await startTestWharf();
  work = await mkdtemp(join(tmpdir(), 'wharf-skopeo-'));
  const images = [];
  for (const [architecture, variant] of [['amd64'], ['arm64', 'v8'], ['s390x']] as [string, string?][]) {
    const layer = await buildLayer([
      { type: 'dir', path: 'etc' },
      { type: 'file', path: 'etc/arch', content: `${architecture}\n` },
    ]);
    const shared = await buildLayer([{ type: 'file', path: 'README', content: 'shared by every platform\n' }]);
    images.push(buildImage([shared, layer], { Cmd: ['/bin/true'], architecture, ...(variant ? { variant } : {}) }));
  }
  index = buildIndex(images, 'oci');
  await writeOciLayout(join(work, 'src'), index, 'multi');
});

after(async () => {
  await wharf?.destroy();
  if (work) await rm(work, { recursive: true, force: true });
});

test('skopeo copies a multi-arch OCI index into Wharf and back, byte-identical', async () => {
  const remote = `docker://${wharf.hostPort}/e2e/multi:1`;
  await run('skopeo', ['copy', '--all', '--preserve-digests', '--dest-tls-verify=false', `oci:${join(work, 'src')}:multi`, remote]);

  const head = await fetch(`${wharf.url}/v2/e2e/multi/manifests/1`, { method: 'HEAD', headers: { accept: index.mediaType } });
  assert.equal(head.status, 200);
  assert.equal(head.headers.get('docker-content-digest'), index.digest);
  assert.equal(head.headers.get('content-type'), index.mediaType);

  const inspect = JSON.parse(await run('skopeo', ['inspect', '--raw', '--tls-verify=false', remote])) as { manifests: unknown[] };
  assert.equal(inspect.manifests.length, 3);

  await run('skopeo', ['copy', '--all', '--preserve-digests', '--src-tls-verify=false', remote, `oci:${join(work, 'back')}:multi`]);
  assert.equal(await layoutDigestOf(join(work, 'back'), 'multi'), index.digest);
  const original = await readLayoutBlobs(join(work, 'src'));
  const copied = await readLayoutBlobs(join(work, 'back'));
  assert.deepEqual([...copied.keys()].sort(), [...original.keys()].sort());
  for (const [digest, bytes] of copied) {
    assert.equal(sha256(bytes), digest, `blob ${digest} hashes to its name`);
    assert.ok(bytes.equals(original.get(digest)!), `blob ${digest} is byte-identical`);
  }

  const catalog = JSON.parse(await run('curl', ['-sf', `${wharf.url}/v2/_catalog`])) as { repositories: string[] };
  assert.ok(catalog.repositories.includes('e2e/multi'));
});

test('skopeo copies a single platform out of the index and lists tags', async () => {
  const remote = `docker://${wharf.hostPort}/e2e/multi:1`;
  await run('skopeo', ['copy', '--override-arch', 'arm64', '--override-variant', 'v8', '--src-tls-verify=false', '--dest-tls-verify=false', remote, `docker://${wharf.hostPort}/e2e/arm:1`]);
  const arm = index.images.find((i) => i.platform.architecture === 'arm64')!;
  const head = await fetch(`${wharf.url}/v2/e2e/arm/manifests/1`, { method: 'HEAD', headers: { accept: arm.mediaType } });
  assert.equal(head.headers.get('docker-content-digest'), arm.manifestDigest);

  const tags = JSON.parse(await run('skopeo', ['list-tags', '--tls-verify=false', `docker://${wharf.hostPort}/e2e/multi`])) as { Tags: string[] };
  assert.deepEqual(tags.Tags, ['1']);
});
