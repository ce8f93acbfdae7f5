import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, readdir, lstat, readlink, rm, stat, writeFile } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { dirname } from 'node:path';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { Readable } from 'node:stream';
import { buildLayer, type LayerEntry } from '../../spec-tests/support/images.js';
import { NodeLayout } from '../layout.js';
import { ensureLayerUnpacked, unpackLayer, unpackStoredLayer, LayerEscapeError, DiffIdMismatchError, LayerFormatError } from './unpack.js';
import { prepareSnapshot, removeSnapshot, removeAllSnapshots, isMounted } from './snapshots.js';
import { lgetxattr } from '../native/fs.js';
import type { Digest } from '../../oci/names.js';

async function tempRoot(t: { after: (fn: () => Promise<void>) => void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'wharf-unpack-'));
  t.after(async () => {
    await removeAllSnapshots(new NodeLayout(dir));
    await rm(dir, { recursive: true, force: true });
  });
  return dir;
}

/** How a layer reaches the unpack: streamed (unpackLayer), or as a blob file of the content store (unpackStoredLayer). */
type Via = 'stream' | 'file';
const VIAS: Via[] = ['stream', 'file'];

/** `bytes` as a stored blob file beside `dest` (named by its digest, as the content store names it). */
async function storedBlob(bytes: Buffer, dest: string) {
  const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}` as Digest;
  const path = join(dirname(dest), `blob-${digest.slice(7, 19)}`);
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, bytes);
  return { path, digest };
}

async function unpackEntries(entries: LayerEntry[], dest: string, gzip = true, via: Via = 'stream') {
  const layer = await buildLayer(entries, { gzip: via === 'file' ? false : gzip });
  if (via === 'stream') return { layer, result: await unpackLayer(Readable.from([layer.blob]), dest) };
  const blob = await storedBlob(Buffer.from(layer.blob), dest);
  try {
    return { layer, result: await unpackStoredLayer(blob, dest, { expectedDiffId: layer.diffId as Digest }) };
  } finally {
    await rm(blob.path, { force: true });
  }
}

async function existsAt(p: string): Promise<boolean> {
  return lstat(p).then(
    () => true,
    () => false,
  );
}

/** Everything under dir, as sorted relative paths (dirs end in '/'). */
async function tree(dir: string, prefix = ''): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(join(dir, prefix), { withFileTypes: true })) {
    const rel = prefix ? `${prefix}/${e.name}` : e.name;
    if (e.isDirectory()) out.push(`${rel}/`, ...(await tree(dir, rel)));
    else out.push(rel);
  }
  return out.sort();
}

test('a 3-layer image with a deleted file and an opaque dir mounts as Docker shows it', async (t) => {
  const root = await tempRoot(t);
  const layout = new NodeLayout(root);
  const layers = [
    await buildLayer([
      { type: 'dir', path: 'etc' },
      { type: 'file', path: 'etc/a', content: 'a1' },
      { type: 'file', path: 'etc/b', content: 'b1' },
      { type: 'dir', path: 'data' },
      { type: 'file', path: 'data/x', content: 'x' },
      { type: 'dir', path: 'data/sub' },
      { type: 'file', path: 'data/sub/y', content: 'y' },
      { type: 'file', path: 'keep', content: 'keep' },
    ]),
    await buildLayer([
      { type: 'whiteout', path: 'etc/a' },
      { type: 'dir', path: 'data' },
      { type: 'opaque', path: 'data' },
      { type: 'file', path: 'data/new', content: 'new' },
    ]),
    await buildLayer([
      { type: 'file', path: 'etc/b', content: 'b3' },
      { type: 'whiteout', path: 'keep' },
      { type: 'file', path: 'data/top', content: 'top' },
      { type: 'symlink', path: 'data/link', target: '/etc/b' },
      { type: 'hardlink', path: 'data/top2', target: 'data/top' },
    ]),
  ];
  const diffIds: Digest[] = [];
  for (const l of layers) {
    const d = l.diffId as Digest;
    await ensureLayerUnpacked(layout, d, async () => Readable.from([l.blob]));
    diffIds.push(d);
  }
  // The whiteout is an overlayfs whiteout: a 0/0 character device.
  const wh = await stat(join(layout.layerDir(diffIds[1]!), 'etc/a'));
  assert.ok(wh.isCharacterDevice());
  assert.equal(wh.rdev, 0);

  const snap = await prepareSnapshot(layout, 'c1', diffIds);
  assert.ok(await isMounted(snap.rootfs));
  // What `docker run` of the same image shows:
  assert.deepEqual(await tree(snap.rootfs), ['data/', 'data/link', 'data/new', 'data/top', 'data/top2', 'etc/', 'etc/b']);
  assert.equal(await readFile(join(snap.rootfs, 'etc/b'), 'utf8'), 'b3');
  assert.equal(await readlink(join(snap.rootfs, 'data/link')), '/etc/b');
  const [top, top2] = await Promise.all([stat(join(snap.rootfs, 'data/top')), stat(join(snap.rootfs, 'data/top2'))]);
  assert.equal(top.ino, top2.ino);

  await removeSnapshot(layout, 'c1');
  assert.equal(await isMounted(snap.rootfs), false);
  assert.equal(await existsAt(layout.containerDir('c1')), false);
  assert.ok(await existsAt(layout.layerDir(diffIds[0]!)), 'layers outlive the container');
});

for (const via of VIAS)
test(`modes, setuid, ownership and mtimes are applied (${via})`, async (t) => {
  const dest = join(await tempRoot(t), 'layer');
  const mtime = new Date('2020-05-06T07:08:09Z');
  const { result } = await unpackEntries(
    [
      { type: 'dir', path: 'opt', mode: 0o750, uid: 1000, gid: 1001, mtime },
      { type: 'file', path: 'opt/suid', content: '#!/bin/sh\n', mode: 0o4755, uid: 0, gid: 0, mtime },
      { type: 'file', path: 'opt/owned', content: 'x', mode: 0o640, uid: 1234, gid: 5678, mtime },
      { type: 'symlink', path: 'opt/ln', target: 'owned', uid: 42, gid: 43, mtime },
    ],
    dest,
    false,
    via,
  );
  assert.equal(result.entries, 4);
  const dir = await stat(join(dest, 'opt'));
  assert.equal(dir.mode & 0o7777, 0o750);
  assert.equal(dir.uid, 1000);
  assert.equal(dir.gid, 1001);
  assert.equal(dir.mtime.getTime(), mtime.getTime(), 'dir mtime survives its children being written');
  const suid = await stat(join(dest, 'opt/suid'));
  assert.equal(suid.mode & 0o7777, 0o4755);
  const owned = await stat(join(dest, 'opt/owned'));
  assert.equal(owned.mode & 0o7777, 0o640);
  assert.equal(owned.uid, 1234);
  assert.equal(owned.gid, 5678);
  assert.equal(owned.mtime.getTime(), mtime.getTime());
  const ln = await lstat(join(dest, 'opt/ln'));
  assert.ok(ln.isSymbolicLink());
  assert.equal(ln.uid, 42);
  assert.equal(ln.mtime.getTime(), mtime.getTime());
});

const escapes: Array<[string, LayerEntry[]]> = [
  ['a ../ entry', [{ type: 'raw', header: { name: '../evil', type: 'file' }, content: Buffer.from('x') }]],
  ['a nested ../ entry', [{ type: 'dir', path: 'a' }, { type: 'raw', header: { name: 'a/../../evil', type: 'file' }, content: Buffer.from('x') }]],
  ['an absolute path', [{ type: 'raw', header: { name: '/tmp/wharf-evil-abs', type: 'file' }, content: Buffer.from('x') }]],
  [
    'a write through a symlink planted earlier',
    [
      { type: 'symlink', path: 'link', target: '/tmp' },
      { type: 'file', path: 'link/wharf-evil-symlink', content: 'x' },
    ],
  ],
  [
    'a write through a relative symlink to ..',
    [
      { type: 'symlink', path: 'up', target: '..' },
      { type: 'file', path: 'up/wharf-evil-up', content: 'x' },
    ],
  ],
  ['a hard link to a ../ target', [{ type: 'hardlink', path: 'pw', target: '../../../../etc/passwd' }]],
  ['a hard link to an absolute target', [{ type: 'hardlink', path: 'pw', target: '/etc/passwd' }]],
  [
    'a hard link through a symlink',
    [
      { type: 'symlink', path: 'etcdir', target: '/etc' },
      { type: 'hardlink', path: 'pw', target: 'etcdir/passwd' },
    ],
  ],
  ['a whiteout through ..', [{ type: 'raw', header: { name: '../.wh.passwd', type: 'file' } }]],
];

for (const via of VIAS) for (const [what, entries] of escapes) {
  test(`a layer with ${what} is refused and its directory removed (${via})`, async (t) => {
    const parent = await tempRoot(t);
    const dest = join(parent, 'layer');
    await assert.rejects(unpackEntries([{ type: 'file', path: 'ok', content: 'fine' }, ...entries], dest, true, via), (err: unknown) => {
      assert.ok(err instanceof LayerEscapeError, `expected LayerEscapeError, got ${String(err)}`);
      assert.equal(err.code, 'LAYER_ESCAPE');
      assert.match(err.message, /layer refused: entry/);
      return true;
    });
    assert.equal(await existsAt(dest), false);
    assert.deepEqual(await readdir(parent), []);
    for (const p of ['/tmp/wharf-evil-abs', '/tmp/wharf-evil-symlink', join(parent, 'evil'), join(parent, 'wharf-evil-up')]) {
      assert.equal(await existsAt(p), false, `${p} must not exist`);
    }
  });
}

test('a layer whose content does not match its diffID is refused and not kept', async (t) => {
  const layout = new NodeLayout(await tempRoot(t));
  const layer = await buildLayer([{ type: 'file', path: 'f', content: 'x' }]);
  const wrong = `sha256:${'0'.repeat(64)}` as Digest;
  await assert.rejects(
    ensureLayerUnpacked(layout, wrong, async () => Readable.from([layer.blob])),
    (err: unknown) => err instanceof DiffIdMismatchError && err.actual === layer.diffId,
  );
  assert.deepEqual(await readdir(layout.layersDir), []);
});

test('garbage is refused as a format error', async (t) => {
  const dest = join(await tempRoot(t), 'layer');
  await assert.rejects(unpackLayer(Readable.from([Buffer.from([0x1f, 0x8b, 1, 2, 3, 4, 5])]), dest), LayerFormatError);
  assert.equal(await existsAt(dest), false);
});

test('a zstd-compressed layer (OCI tar+zstd) unpacks to the same tree and diffID as its tar', async (t) => {
  const root = await tempRoot(t);
  const layer = await buildLayer(
    [
      { type: 'dir', path: 'etc' },
      { type: 'file', path: 'etc/motd', content: 'zstd works\n'.repeat(5000) },
      { type: 'symlink', path: 'motd', target: 'etc/motd' },
    ],
    { gzip: false },
  );
  // The zstd CLI (Debian package zstd) compresses, as image builders do; in 1 KiB pieces to cross frames' block edges.
  const zstd = execFileSync('zstd', ['-q', '-c', '-19'], { input: layer.tar });
  assert.equal(zstd.readUInt32LE(0), 0xfd2fb528, 'zstd magic');
  const pieces = Array.from({ length: Math.ceil(zstd.length / 1024) }, (_, i) => zstd.subarray(i * 1024, (i + 1) * 1024));
  const dest = join(root, 'layer');
  const result = await unpackLayer(Readable.from(pieces), dest);
  assert.equal(result.diffId, layer.diffId);
  assert.equal(await readFile(join(dest, 'etc/motd'), 'utf8'), 'zstd works\n'.repeat(5000));
  assert.equal(await readlink(join(dest, 'motd')), 'etc/motd');

  const corrupt = Buffer.from(zstd);
  corrupt.fill(0xff, 8, 64);
  await assert.rejects(unpackLayer(Readable.from([corrupt]), join(root, 'bad')), LayerFormatError);
  assert.equal(await existsAt(join(root, 'bad')), false);
});

test('each layer is unpacked once and shared, even when asked concurrently', async (t) => {
  const layout = new NodeLayout(await tempRoot(t));
  const layer = await buildLayer([{ type: 'file', path: 'f', content: 'shared' }]);
  let opened = 0;
  const open = async () => {
    opened++;
    return Readable.from([layer.blob]);
  };
  const d = layer.diffId as Digest;
  const [a, b] = await Promise.all([ensureLayerUnpacked(layout, d, open), ensureLayerUnpacked(layout, d, open)]);
  assert.equal(a, b);
  assert.equal(await ensureLayerUnpacked(layout, d, open), a);
  assert.equal(opened, 1);
  assert.equal(await readFile(join(a, 'f'), 'utf8'), 'shared');
  assert.deepEqual(await readdir(layout.layersDir), [layout.layerDirName(d)]);
});

test('an uncompressed blob of the content store unpacks from its file: large files byte-exact (copy_file_range), same tree as streamed', async (t) => {
  const root = await tempRoot(t);
  // sizes around the small-body limit (256 KiB) and one of several MiB, none a multiple of 512
  const big = Buffer.alloc(5 * 1024 * 1024 + 333);
  for (let i = 0; i < big.length; i += 4096) big.writeUInt32LE(i * 2654435761 >>> 0, i);
  const entries: LayerEntry[] = [
    { type: 'dir', path: 'data', mode: 0o755 },
    { type: 'file', path: 'data/big', content: big, mode: 0o644 },
    { type: 'file', path: 'data/just-small', content: big.subarray(0, 256 * 1024), mode: 0o600 },
    { type: 'file', path: 'data/just-large', content: big.subarray(7, 7 + 256 * 1024 + 1), mode: 0o640 },
    { type: 'file', path: 'data/empty', content: '' },
    { type: 'symlink', path: 'data/ln', target: 'big' },
    { type: 'hardlink', path: 'data/big2', target: 'data/big' },
    { type: 'file', path: `${'d'.repeat(120)}/${'n'.repeat(130)}`, content: 'long name' },
    { type: 'whiteout', path: 'gone' },
  ];
  await mkdir(join(root, 'stream'));
  const viaFile = await unpackEntries(entries, join(root, 'file', 'layer'), false, 'file');
  const viaStream = await unpackEntries(entries, join(root, 'stream', 'layer'), false, 'stream');
  assert.equal(viaFile.result.diffId, viaStream.result.diffId);
  assert.equal(viaFile.result.entries, viaStream.result.entries);
  assert.deepEqual(await tree(join(root, 'file', 'layer')), await tree(join(root, 'stream', 'layer')));
  const f = (p: string) => join(root, 'file', 'layer', p);
  assert.ok((await readFile(f('data/big'))).equals(big));
  assert.ok((await readFile(f('data/just-small'))).equals(big.subarray(0, 256 * 1024)));
  assert.ok((await readFile(f('data/just-large'))).equals(big.subarray(7, 7 + 256 * 1024 + 1)));
  assert.equal((await stat(f('data/just-large'))).mode & 0o7777, 0o640);
  assert.equal((await stat(f('data/big'))).ino, (await stat(f('data/big2'))).ino);
  assert.equal(await readlink(f('data/ln')), 'big');
  assert.equal(await readFile(f(`${'d'.repeat(120)}/${'n'.repeat(130)}`), 'utf8'), 'long name');
  assert.ok((await lstat(f('gone'))).isCharacterDevice(), 'a whiteout becomes a 0/0 device');
});

test('a stored blob whose digest is not the diffID, or that ends inside an entry, is refused and nothing is kept', async (t) => {
  const root = await tempRoot(t);
  const layout = new NodeLayout(root);
  const layer = await buildLayer([{ type: 'file', path: 'f', content: Buffer.alloc(300 * 1024, 7) }], { gzip: false });
  const blob = await storedBlob(Buffer.from(layer.blob), join(root, 'x'));
  const wrong = `sha256:${'0'.repeat(64)}` as Digest;
  await assert.rejects(
    ensureLayerUnpacked(layout, wrong, async () => Readable.from([layer.blob]), { stored: blob }),
    (err: unknown) => err instanceof DiffIdMismatchError && err.actual === layer.diffId,
  );
  assert.deepEqual(await readdir(layout.layersDir), []);
  // cut inside the file's body: the streaming path's "Unexpected end of data"
  const cut = await storedBlob(Buffer.from(layer.blob).subarray(0, 512 + 1000), join(root, 'y'));
  const dest = join(root, 'cut');
  await assert.rejects(unpackStoredLayer(cut, dest, { expectedDiffId: cut.digest }), LayerFormatError);
  assert.equal(await existsAt(dest), false);
  const junk = await storedBlob(Buffer.alloc(1024, 0x41), join(root, 'z'));
  await assert.rejects(unpackStoredLayer(junk, join(root, 'junk'), { expectedDiffId: junk.digest }), LayerFormatError);
  assert.equal(await existsAt(join(root, 'junk')), false);
});

test('device nodes, FIFOs and xattrs (binary values byte-exact) are created natively', async (t) => {
  const dest = join(await tempRoot(t), 'layer');
  // vfs_cap_data v2 with CAP_NET_RAW|CAP_SETFCAP permitted+effective: 0x80 is not UTF-8.
  const caps = Buffer.from([1, 0, 0, 2, 0, 0x20, 0, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
  const bin = Buffer.from([0xff, 0xfe, 0x00, 0xc3, 0x28, 0x80]);
  const layer = await buildLayer(
    [
      { type: 'raw', header: { name: 'dev/null', type: 'character-device', devmajor: 1, devminor: 3, mode: 0o666 } },
      { type: 'raw', header: { name: 'run/fifo', type: 'fifo', mode: 0o640 } },
      {
        type: 'raw',
        header: {
          name: 'bin/ping',
          mode: 0o755,
          pax: {
            'SCHILY.xattr.security.capability': 'C'.repeat(caps.length),
            'SCHILY.xattr.user.bin': 'B'.repeat(bin.length),
            'SCHILY.xattr.user.text': 'héllo',
            'SCHILY.xattr.trusted.overlay.opaque': 'y',
          },
        },
        content: Buffer.from('ping'),
      },
      { type: 'raw', header: { name: 'bin/other', pax: { 'SCHILY.xattr.user.text': 'two' } }, content: Buffer.from('x'.repeat(700)) },
    ],
    { gzip: false },
  );
  // tar-stream's pack writes PAX values as UTF-8 strings: put the binary bytes in afterwards.
  const tarBytes = Buffer.from(layer.tar);
  for (const [placeholder, value] of [['C'.repeat(caps.length), caps], ['B'.repeat(bin.length), bin]] as const) {
    const at = tarBytes.indexOf(placeholder);
    assert.ok(at > 0 && tarBytes.indexOf(placeholder, at + 1) < 0);
    value.copy(tarBytes, at);
  }
  // Odd-sized chunks: tar headers arrive split across writes.
  const chunks: Buffer[] = [];
  for (let i = 0; i < tarBytes.length; i += 97) chunks.push(tarBytes.subarray(i, i + 97));
  await unpackLayer(Readable.from(chunks), dest);
  await checkSpecial(dest, caps, bin);
  // the same bytes read from a stored blob file: the same nodes and raw xattr bytes
  const fromFile = join(dirname(dest), 'from-file');
  const blob = await storedBlob(tarBytes, fromFile);
  await unpackStoredLayer(blob, fromFile, { expectedDiffId: blob.digest });
  await checkSpecial(fromFile, caps, bin);
});

async function checkSpecial(dest: string, caps: Buffer, bin: Buffer): Promise<void> {
  const dev = await lstat(join(dest, 'dev/null'));
  assert.ok(dev.isCharacterDevice());
  assert.equal(dev.rdev, (1 << 8) | 3);
  assert.equal(dev.mode & 0o7777, 0o666);
  const fifo = await lstat(join(dest, 'run/fifo'));
  assert.ok(fifo.isFIFO());
  assert.equal(fifo.mode & 0o7777, 0o640);

  const ping = join(dest, 'bin/ping');
  assert.deepEqual(lgetxattr(ping, 'security.capability'), caps);
  assert.deepEqual(lgetxattr(ping, 'user.bin'), bin);
  assert.equal(lgetxattr(ping, 'user.text').toString('utf8'), 'héllo');
  assert.throws(() => lgetxattr(ping, 'trusted.overlay.opaque'), { code: 'ENODATA' }, 'a layer never forges overlay metadata');
  const other = join(dest, 'bin/other');
  assert.equal(lgetxattr(other, 'user.text').toString(), 'two');
  assert.throws(() => lgetxattr(other, 'user.bin'), { code: 'ENODATA' });
}
