/**
 * Bad archives through `wharf import`: each is refused with a message that says what is
 * wrong, and the registry is left exactly as it was (no repository, no blob, no upload
 * left behind). A good archive made the same way imports, so the refusals are about the
 * damage and not the generator.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { dockerArchiveEntries, gzip, ociLayoutEntries, tarOf, type RawEntry } from './support/archives.js';
import { buildImage, buildLayer, type BuiltImage } from './support/images.js';
import { execFileP } from './support/peers.js';
import { startTestWharf, type TestWharf } from './support/wharf.js';

const WHARF = join(import.meta.dirname, '..', 'bin', 'wharf.js');

let wharf: TestWharf;
let dir: string;
let image: BuiltImage;

before(async () => {
  wharf = await startTestWharf();
  dir = await mkdtemp(join(tmpdir(), 'wharf-bad-archives-'));
  const layers = await Promise.all([
    buildLayer([{ type: 'file', path: 'a.txt', content: 'one' }], { format: 'docker' }),
    buildLayer([{ type: 'file', path: 'b.txt', content: 'two' }], { format: 'docker' }),
  ]);
  image = buildImage(layers, { Cmd: ['/a'] }, 'docker');
});
after(async () => {
  await wharf?.destroy();
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function filesUnder(path: string): Promise<string[]> {
  try {
    return (await readdir(path, { recursive: true, withFileTypes: true })).filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name));
  } catch {
    return [];
  }
}

/** What a client and the disk can see of the registry's contents. */
async function registryState(): Promise<unknown> {
  const catalog = await (await fetch(`${wharf.url}/v2/_catalog`)).json();
  return { catalog, blobs: await filesUnder(join(wharf.root, 'blobs')), uploads: await filesUnder(join(wharf.root, 'uploads')) };
}

async function importFile(name: string, bytes: Buffer, target = 'bad/app:v1'): Promise<{ code: number; stderr: string; stdout: string }> {
  const path = join(dir, name);
  await writeFile(path, bytes);
  try {
    const { stdout, stderr } = await execFileP(process.execPath, [WHARF, 'import', path, target, '--registry', wharf.url], { timeout: 120_000 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stderr: string; stdout: string };
    return { code: e.code, stderr: e.stderr, stdout: e.stdout };
  }
}

async function assertRefused(name: string, bytes: Buffer, message: RegExp): Promise<void> {
  const before = await registryState();
  const result = await importFile(name, bytes);
  assert.notEqual(result.code, 0, `${name} was imported:\n${result.stdout}`);
  assert.match(result.stderr, message);
  assert.doesNotMatch(result.stderr, /at .*\.js:\d+/, 'a refusal is a message, not a stack trace');
  assert.deepEqual(await registryState(), before, `${name} changed the registry`);
}

const good = (): RawEntry[] => dockerArchiveEntries(image, 'bad/app:v1');

test('a truncated archive is refused (plain and gzip)', async () => {
  const whole = await tarOf(good());
  await assertRefused('truncated.tar', whole.subarray(0, Math.floor(whole.length / 2)), /truncated/);
  const gz = gzip(whole);
  await assertRefused('truncated.tar.gz', gz.subarray(0, Math.floor(gz.length * 0.6)), /truncated/);
});

test('a layer that does not match the config\'s diff_id is refused', async () => {
  const entries = good();
  const layer = entries.find((e) => e.name.endsWith('/layer.tar'))!;
  const bytes = Buffer.from(layer.content as Buffer);
  bytes[600] = bytes[600]! ^ 0xff;
  layer.content = bytes;
  await assertRefused('mismatch.tar', await tarOf(entries), /digest mismatch: layer .*layer\.tar is sha256:[a-f0-9]{64}, the config says sha256:/);
});

test('an OCI layout blob whose bytes are not its name is refused', async () => {
  const entries = ociLayoutEntries(image, 'v1');
  const config = entries.find((e) => e.name === `blobs/sha256/${image.configDigest.slice(7)}`)!;
  config.content = Buffer.from((config.content as Buffer).toString().replace('/a', '/b'));
  await assertRefused('oci-mismatch.tar', await tarOf(entries), /digest mismatch: blobs\/sha256\/[a-f0-9]{64} holds sha256:/);
});

test('path traversal in entry names and links is refused', async () => {
  await assertRefused('dotdot.tar', await tarOf([...good(), { name: '../evil', content: 'x' }]), /entry name "\.\.\/evil" is absolute or climbs out/);
  await assertRefused('absolute.tar', await tarOf([{ name: '/etc/evil', content: 'x' }, ...good()]), /entry name "\/etc\/evil" is absolute or climbs out/);
  await assertRefused('nested-dotdot.tar', await tarOf([...good(), { name: 'a/../../evil', content: 'x' }]), /climbs out/);
  await assertRefused('symlink.tar', await tarOf([...good(), { name: 'x/layer.tar', type: 'symlink', linkname: '../../etc/passwd' }]), /link x\/layer\.tar points outside the archive/);
  await assertRefused('device.tar', await tarOf([...good(), { name: 'dev', type: 'character-device' }]), /entry dev is a character-device/);
});

test('a missing blob is refused', async () => {
  const firstLayer = good().find((e) => e.name.endsWith('/layer.tar'))!.name;
  const withoutLayer = good().filter((e) => e.name !== firstLayer);
  await assertRefused('missing-layer.tar', await tarOf(withoutLayer), /layer [a-f0-9]{64}\/layer\.tar is missing from the archive/);
  const oci = ociLayoutEntries(image, 'v1').filter((e) => e.name !== `blobs/sha256/${image.layers[1]!.digest.slice(7)}`);
  await assertRefused('oci-missing.tar', await tarOf(oci), /blob sha256:[a-f0-9]{64} is missing from the archive/);
  await assertRefused('no-manifest.tar', await tarOf(good().filter((e) => e.name !== 'manifest.json')), /neither manifest\.json .* nor oci-layout and index\.json/);
});

test('a bomb of tiny entries is refused', async () => {
  const tiny: RawEntry[] = Array.from({ length: 10_001 }, (_, i) => ({ name: `t/${i}`, content: '' }));
  await assertRefused('bomb.tar', gzip(await tarOf([...tiny, ...good()])), /more than 10000 entries/);
});

test('bytes that are no archive at all are refused', async () => {
  await assertRefused('garbage.tar', Buffer.from('this is not a tar file, only text '.repeat(40)), /not a valid tar|truncated/);
  await assertRefused('empty.tar', Buffer.alloc(0), /empty|not a valid tar|truncated/);
});

test('after all that, the good archive imports (docker save layout and OCI layout)', async () => {
  const docker = await importFile('good.tar', await tarOf(good()));
  assert.equal(docker.code, 0, docker.stderr);
  assert.match(docker.stdout, /imported bad\/app:v1 \(sha256:[a-f0-9]{64}, linux\/amd64\)/);
  const oci = await importFile('good-oci.tar.gz', gzip(await tarOf(ociLayoutEntries(image, 'v2'))), 'bad/oci');
  assert.equal(oci.code, 0, oci.stderr);
  assert.match(oci.stdout, new RegExp(`imported bad/oci:v2 \\(${image.manifestDigest}`));
  const catalog = (await (await fetch(`${wharf.url}/v2/_catalog`)).json()) as { repositories: string[] };
  assert.deepEqual(catalog.repositories, ['bad/app', 'bad/oci']);
});
