import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { link, lstat, mkdir, mkdtemp, readFile, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { gunzipSync } from 'node:zlib';
import * as tar from 'tar-stream';
import { buildLayer } from '../../spec-tests/support/images.js';
import { NodeLayout } from '../layout.js';
import { ImageStore } from '../images/store.js';
import { ensureLayerUnpacked } from './unpack.js';
import { prepareSnapshot, removeAllSnapshots, unmountSnapshot } from './snapshots.js';
import { writeLayerFromDir } from './diff.js';
import type { Digest } from '../../oci/names.js';

async function tempRoot(t: { after: (fn: () => Promise<void>) => void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'wharf-diff-'));
  t.after(async () => {
    await removeAllSnapshots(new NodeLayout(dir));
    await rm(dir, { recursive: true, force: true });
  });
  return dir;
}

interface Entry {
  name: string;
  type: string;
  body: string;
  linkname?: string;
  mode: number;
}

async function entriesOf(blob: Buffer): Promise<Entry[]> {
  const out: Entry[] = [];
  const extract = tar.extract();
  Readable.from([gunzipSync(blob)]).pipe(extract);
  for await (const e of extract) {
    const chunks: Buffer[] = [];
    for await (const c of e) chunks.push(c as Buffer);
    const h = e.header;
    out.push({ name: h.name, type: h.type ?? '', body: Buffer.concat(chunks).toString(), ...(h.linkname ? { linkname: h.linkname } : {}), mode: h.mode ?? 0 });
  }
  return out;
}

/** A base layer, and a container's changes on top of it made through a real overlay mount. */
async function changedUpper(layout: NodeLayout): Promise<{ base: Digest; upper: string }> {
  const baseLayer = await buildLayer([
    { type: 'dir', path: 'etc' },
    { type: 'file', path: 'etc/gone', content: 'x' },
    { type: 'file', path: 'etc/keep', content: 'k' },
    { type: 'dir', path: 'data' },
    { type: 'file', path: 'data/old', content: 'old' },
  ]);
  const base = baseLayer.diffId as Digest;
  await ensureLayerUnpacked(layout, base, async () => Readable.from([baseLayer.blob]));
  const snap = await prepareSnapshot(layout, 'diffsnap', [base]);
  const r = snap.rootfs;
  await rm(join(r, 'etc/gone'));
  await rm(join(r, 'data'), { recursive: true });
  await mkdir(join(r, 'data'));
  await writeFile(join(r, 'data/new'), 'new');
  await mkdir(join(r, 'app/b'), { recursive: true });
  await writeFile(join(r, 'app/z.txt'), 'zz');
  await writeFile(join(r, 'app/a.txt'), 'aa');
  await link(join(r, 'app/a.txt'), join(r, 'app/b/hard'));
  await symlink('/etc/keep', join(r, 'app/ln'));
  execFileSync('mkfifo', [join(r, 'app/fifo')]);
  await unmountSnapshot(layout, 'diffsnap');
  return { base, upper: snap.upperDir };
}

test('an upper dir becomes a layer with OCI whiteouts, sorted, and unpacks to the same tree', async (t) => {
  const layout = new NodeLayout(await tempRoot(t));
  const { base, upper } = await changedUpper(layout);
  const diff = await writeLayerFromDir(layout, upper);

  const blob = await readFile(layout.blobPath(diff.digest));
  assert.equal(diff.size, blob.length);
  assert.equal(diff.digest, `sha256:${createHash('sha256').update(blob).digest('hex')}`);
  assert.equal(diff.diffId, `sha256:${createHash('sha256').update(gunzipSync(blob)).digest('hex')}`);

  const entries = await entriesOf(blob);
  assert.deepEqual(
    entries.map((e) => e.name),
    ['app/', 'app/a.txt', 'app/b/', 'app/b/hard', 'app/fifo', 'app/ln', 'app/z.txt', 'data/', 'data/.wh..wh..opq', 'data/new', 'etc/', 'etc/.wh.gone'],
  );
  const by = new Map(entries.map((e) => [e.name, e]));
  assert.equal(by.get('etc/.wh.gone')!.type, 'file');
  assert.equal(by.get('etc/.wh.gone')!.body, '');
  assert.equal(by.get('app/b/hard')!.type, 'link');
  assert.equal(by.get('app/b/hard')!.linkname, 'app/a.txt');
  assert.equal(by.get('app/ln')!.type, 'symlink');
  assert.equal(by.get('app/ln')!.linkname, '/etc/keep');
  assert.equal(by.get('app/fifo')!.type, 'fifo');
  assert.equal(by.get('data/new')!.body, 'new');

  // unpacked (the default) in overlay form again: stacked on the base it shows the changes
  const snap = await prepareSnapshot(layout, 'stacked', [base, diff.diffId]);
  assert.deepEqual((await readdir(join(snap.rootfs, 'etc'))).sort(), ['keep']);
  assert.deepEqual((await readdir(join(snap.rootfs, 'data'))).sort(), ['new']);
  assert.equal(await readFile(join(snap.rootfs, 'app/b/hard'), 'utf8'), 'aa');
  assert.equal((await lstat(join(snap.rootfs, 'app/a.txt'))).ino, (await lstat(join(snap.rootfs, 'app/b/hard'))).ino);
  assert.ok((await lstat(join(snap.rootfs, 'app/fifo'))).isFIFO());
});

test('the same changes give the same diffID and digest; an image of them is added to the store', async (t) => {
  const layout = new NodeLayout(await tempRoot(t));
  const { base, upper } = await changedUpper(layout);
  const a = await writeLayerFromDir(layout, upper, { unpack: false });
  const b = await writeLayerFromDir(layout, upper, { unpack: false });
  assert.equal(a.diffId, b.diffId);
  assert.equal(a.digest, b.digest);
  assert.deepEqual(await readdir(layout.contentTmpDir), [], 'no temp file left behind');

  const store = new ImageStore(layout, { defaultRegistry: 'docker.io' });
  // the base layer's blob is needed too: write it from its unpacked dir
  const baseDiff = await writeLayerFromDir(layout, layout.layerDir(base));
  const layers = [baseDiff, a].map((d) => ({ digest: d.digest, size: d.size, mediaType: d.mediaType, diffId: d.diffId }));
  const config = { architecture: 'amd64', os: 'linux', created: new Date().toISOString(), config: { Cmd: ['/bin/sh'] }, rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffId) }, history: [] };
  const [dangling] = await store.addImage({ config, layers });
  assert.equal(dangling!.reference, dangling!.configDigest);
  const [tagged] = await store.addImage({ config, layers }, ['built:v1']);
  assert.equal(tagged!.reference, 'docker.io/built:v1');
  assert.deepEqual((await store.list()).map((r) => r.reference), ['docker.io/built:v1'], 'naming the image ends its dangling record');
  assert.deepEqual((await store.readConfig(tagged!)).rootfs, config.rootfs);

  const other = { ...config, config: { Cmd: ['/other'] } };
  await store.addImage({ config: other, layers }, ['built:v1']);
  const refs = (await store.list()).map((r) => r.reference).sort();
  assert.deepEqual(refs, [tagged!.configDigest, 'docker.io/built:v1'].sort(), 'the image the tag moved away from stays, dangling');
  assert.equal((await store.get(tagged!.configDigest))!.configDigest, tagged!.configDigest);
  await assert.rejects(store.addImage({ config: { ...config, rootfs: { type: 'layers', diff_ids: [] } }, layers }), /diff_ids/);
});

test("a container's upper dir: the runtime's mount point stubs stay out of its layer (and out of the adopted dir), what the program wrote stays in", async (t) => {
  const layout = new NodeLayout(await tempRoot(t));
  const make = async (upper: string) => {
    await mkdir(join(upper, 'dev'), { recursive: true });
    await mkdir(join(upper, 'sys'));
    await mkdir(join(upper, 'proc/x'), { recursive: true }); // not empty: kept
    await mkdir(join(upper, 'etc'));
    for (const f of ['hosts', 'hostname', 'resolv.conf']) await writeFile(join(upper, 'etc', f), '');
    await mkdir(join(upper, 'out'));
    await writeFile(join(upper, 'out/1'), '1\n');
  };
  const names = async (blob: Buffer) => (await entriesOf(blob)).map((e) => e.name).sort();

  const upper = join(layout.root, 'upper-a');
  await make(upper);
  const d = await writeLayerFromDir(layout, upper, { adopt: true, dropRuntimeStubs: true });
  await d.stored;
  assert.deepEqual(await names(await readFile(layout.blobPath(d.digest))), ['out/', 'out/1', 'proc/', 'proc/x/']);
  assert.deepEqual((await readdir(layout.layerDir(d.diffId))).sort(), ['out', 'proc'], 'the adopted dir is exactly the tar');

  // an /etc with anything else in it stays, with the stubs left out; a non-empty hosts stays
  const other = join(layout.root, 'upper-b');
  await make(other);
  await writeFile(join(other, 'etc/passwd'), 'root:x:0:0::/root:/bin/sh\n');
  await writeFile(join(other, 'etc/hosts'), '127.0.0.1 me\n');
  const e = await writeLayerFromDir(layout, other, { unpack: false, dropRuntimeStubs: true });
  assert.deepEqual(await names(await readFile(layout.blobPath(e.digest))), ['etc/', 'etc/hosts', 'etc/passwd', 'out/', 'out/1', 'proc/', 'proc/x/']);
  // without the option (a COPY step's upper) every entry is kept
  const f = await writeLayerFromDir(layout, other, { unpack: false });
  assert.ok((await names(await readFile(layout.blobPath(f.digest)))).includes('etc/hostname'));
});

test('a file and a directory of mode 000 keep mode 000 in the layer (no permission is widened)', async (t) => {
  const layout = new NodeLayout(await tempRoot(t));
  const upper = join(await tempRoot(t), 'upper');
  await mkdir(join(upper, 'etc'), { recursive: true });
  await writeFile(join(upper, 'etc/shadow'), 'root:!:1::::::\n', { mode: 0o000 });
  await mkdir(join(upper, 'locked'), { mode: 0o000 });
  await writeFile(join(upper, 'etc/sticky'), 'x', { mode: 0o1640 });
  const diff = await writeLayerFromDir(layout, upper, { unpack: false });
  const by = new Map((await entriesOf(await readFile(layout.blobPath(diff.digest)))).map((e) => [e.name, e]));
  assert.equal(by.get('etc/shadow')!.mode, 0o000);
  assert.equal(by.get('etc/shadow')!.body, 'root:!:1::::::\n');
  assert.equal(by.get('locked/')!.mode, 0o000);
  assert.equal(by.get('etc/sticky')!.mode, 0o1640);
  assert.equal(by.get('etc/')!.mode, 0o755);
});
