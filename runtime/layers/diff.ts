/**
 * Layer diff: an overlayfs upper dir (a container's changes: `commit`, a build step) becomes
 * an OCI layer — a gzip'd tar — written into the node's content store.
 *
 * The upper dir is already the set of changes; only overlayfs' own markers are translated
 * back into the image-spec's (the reverse of runtime/layers/unpack.ts):
 *   a 0/0 character device `<name>`        -> an empty file `.wh.<name>`     (a deletion)
 *   xattr `trusted.overlay.opaque=y` on d  -> `d/` then `d/.wh..wh..opq`       (an opaque dir)
 * as moby's overlay whiteout converter does (pkg/archive/archive_linux.go): whiteouts are
 * mode 0600 regular files, the opaque marker takes its directory's owner and mode.
 *
 * Deterministic: entries are written depth first in byte order of their names (as Go's
 * filepath.Walk, which Docker's archiver uses), names relative without `./`, directories
 * with a trailing `/`, file mtimes kept (as Docker keeps them), numeric owners only, so the
 * same tree gives the same diffID. A second path to an inode already written becomes a hard
 * link entry. Sockets are left out (Docker leaves them out too). The walk never follows a
 * symlink: each entry is lstat'ed and files are opened with O_NOFOLLOW.
 *
 * Not carried: file xattrs (security.capability, user.*): tar-stream writes PAX values as
 * UTF-8 text, which would mangle binary capability data.
 */
import { createHash, type Hash } from 'node:crypto';
import { constants as fsc, createReadStream, createWriteStream } from 'node:fs';
import { mkdir, open, lstat, readdir, readlink, rename, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import * as tar from 'tar-stream';
import type { Digest } from '../../oci/names.js';
import type { NodeLayout } from '../layout.js';
import { lgetxattr } from '../native/fs.js';
import { ensureLayerUnpacked, OVERLAY_OPAQUE_XATTR } from './unpack.js';

/** Docker's media type for the layers it builds and commits (what dockerd's builder writes). */
export const DOCKER_LAYER_MEDIA_TYPE = 'application/vnd.docker.image.rootfs.diff.tar.gzip';

export interface LayerDiff {
  /** sha256 of the uncompressed tar (the image config's rootfs.diff_ids entry) */
  diffId: Digest;
  /** sha256 of the gzip'd blob (the manifest's layer digest) */
  digest: Digest;
  /** bytes of the gzip'd blob */
  size: number;
  mediaType: string;
  /** entries written to the tar */
  entries: number;
}

export interface WriteLayerOptions {
  /** also make the layer available unpacked under layers/<diffID> (default true): a
   * container or the next build step can stack it at once */
  unpack?: boolean;
  /** make `upper` itself the unpacked layer (renamed to layers/<diffID>: nothing is
   * extracted again) instead of unpacking the blob; for an upper dir nothing uses any more
   * (a finished build step). It is already in overlayfs lower form. */
  adopt?: boolean;
  /** gzip level (zlib's 1..9; default 6, as Go's gzip.DefaultCompression) */
  gzipLevel?: number;
}

type EntryHeader = Parameters<tar.Pack['entry']>[0];

const WHITEOUT_PREFIX = '.wh.';
const OPAQUE_MARKER = '.wh..wh..opq';

/** Linux's dev_t split (glibc's gnu_dev_major/minor). */
const devMajor = (rdev: number): number => Number((BigInt(rdev) >> 8n) & 0xfffn) | Number((BigInt(rdev) >> 32n) & ~0xfffn);
const devMinor = (rdev: number): number => Number(BigInt(rdev) & 0xffn) | Number((BigInt(rdev) >> 12n) & ~0xffn);

/** Go's sort.Strings order: bytes, not UTF-16 code units. */
const byBytes = (a: string, b: string): number => Buffer.compare(Buffer.from(a), Buffer.from(b));

function isOpaque(path: string): boolean {
  try {
    return lgetxattr(path, OVERLAY_OPAQUE_XATTR).toString() === 'y';
  } catch {
    return false; // ENODATA (not set), or a filesystem without trusted xattrs
  }
}

async function addEntry(pack: tar.Pack, header: EntryHeader): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    pack.entry(header, Buffer.alloc(0), (err) => (err ? reject(err) : resolve()));
  });
}

/**
 * Write the tar of the changes in `upper` into `pack`, then finalize it. Rejects (and
 * destroys the pack) on the first failure.
 */
export async function packUpperDir(upper: string, pack: tar.Pack): Promise<number> {
  const seen = new Map<string, string>(); // "dev:ino" -> first name, for hard links
  let entries = 0;
  const walk = async (dir: string, prefix: string): Promise<void> => {
    const names = (await readdir(dir)).sort(byBytes);
    for (const name of names) {
      const host = join(dir, name);
      const rel = prefix + name;
      const st = await lstat(host);
      const base = { uid: st.uid, gid: st.gid, mtime: st.mtime, mode: st.mode & 0o7777 };
      if (st.isCharacterDevice() && st.rdev === 0) {
        await addEntry(pack, { ...base, name: prefix + WHITEOUT_PREFIX + name, type: 'file', size: 0, mode: 0o600 });
      } else if (st.isDirectory()) {
        await addEntry(pack, { ...base, name: `${rel}/`, type: 'directory' });
        if (isOpaque(host)) await addEntry(pack, { ...base, name: `${rel}/${OPAQUE_MARKER}`, type: 'file', size: 0 });
        entries++;
        await walk(host, `${rel}/`);
        continue;
      } else if (st.isSymbolicLink()) {
        await addEntry(pack, { ...base, name: rel, type: 'symlink', linkname: await readlink(host) });
      } else if (st.isFile()) {
        const key = `${st.dev}:${st.ino}`;
        const first = st.nlink > 1 ? seen.get(key) : undefined;
        if (first !== undefined) {
          await addEntry(pack, { ...base, name: rel, type: 'link', linkname: first });
        } else {
          if (st.nlink > 1) seen.set(key, rel);
          const fh = await open(host, fsc.O_RDONLY | fsc.O_NOFOLLOW);
          try {
            const body = pack.entry({ ...base, name: rel, type: 'file', size: st.size });
            await pipeline(createReadStream('', { fd: fh.fd, autoClose: false, highWaterMark: 1024 * 1024 }), body);
          } finally {
            await fh.close();
          }
        }
      } else if (st.isCharacterDevice() || st.isBlockDevice()) {
        const type = st.isCharacterDevice() ? 'character-device' : 'block-device';
        await addEntry(pack, { ...base, name: rel, type, devmajor: devMajor(st.rdev), devminor: devMinor(st.rdev) });
      } else if (st.isFIFO()) {
        await addEntry(pack, { ...base, name: rel, type: 'fifo' });
      } else {
        continue; // a socket: not archived
      }
      entries++;
    }
  };
  try {
    await walk(upper, '');
    pack.finalize();
  } catch (err) {
    pack.destroy(err as Error);
    throw err;
  }
  return entries;
}

class Tap extends Transform {
  readonly hash: Hash = createHash('sha256');
  bytes = 0;
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.hash.update(chunk);
    this.bytes += chunk.length;
    cb(null, chunk);
  }
  digest(): Digest {
    return `sha256:${this.hash.digest('hex')}` as Digest;
  }
}

/**
 * The layer of the changes in `upper`, written into the node's content store (temp file,
 * fsync, rename to blobs/sha256/<digest>: visible only once complete) and, unless told
 * otherwise, unpacked under layers/<diffID>. A blob already in the store is kept as it is.
 */
export async function writeLayerFromDir(layout: NodeLayout, upper: string, opts: WriteLayerOptions = {}): Promise<LayerDiff> {
  await mkdir(layout.contentTmpDir, { recursive: true });
  const tmp = layout.contentTmpPath();
  const pack = tar.pack();
  const uncompressed = new Tap();
  const compressed = new Tap();
  let diff: LayerDiff;
  try {
    const [entries] = await Promise.all([
      packUpperDir(upper, pack),
      pipeline(pack, uncompressed, createGzip({ level: opts.gzipLevel ?? 6 }), compressed, createWriteStream(tmp, { flags: 'wx', mode: 0o644, highWaterMark: 1024 * 1024 })),
    ]);
    const fh = await open(tmp, 'r');
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
    diff = { diffId: uncompressed.digest(), digest: compressed.digest(), size: compressed.bytes, mediaType: DOCKER_LAYER_MEDIA_TYPE, entries };
    const final = layout.blobPath(diff.digest);
    await mkdir(dirname(final), { recursive: true });
    await rename(tmp, final);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
  if (opts.adopt) {
    const dir = layout.layerDir(diff.diffId);
    await mkdir(layout.layersDir, { recursive: true });
    try {
      await rename(upper, dir);
    } catch (err) {
      // the same layer is there already (an earlier build): keep that one
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw err;
    }
  } else if (opts.unpack ?? true) {
    const blob = layout.blobPath(diff.digest);
    await ensureLayerUnpacked(layout, diff.diffId, async () => createReadStream(blob, { highWaterMark: 1024 * 1024 }));
  }
  return diff;
}
