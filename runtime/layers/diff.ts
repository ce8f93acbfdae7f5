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
import { closeSync, constants as fsc, createReadStream, createWriteStream, lstatSync, openSync, readdirSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { mkdir, open, rename, rm } from 'node:fs/promises';
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
  /** return before the blob's fsync and rename (see writeLayerFromDir) */
  deferStore?: boolean;
  /** `upper` is a container's: leave out the runtime's mount point stubs (isRuntimeStub);
   * with `adopt` (the container is gone) they are removed from the dir too */
  dropRuntimeStubs?: boolean;
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

async function addEntry(pack: tar.Pack, header: EntryHeader, body: Buffer = Buffer.alloc(0)): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    pack.entry(header, body, (err) => (err ? reject(err) : resolve()));
  });
}

/** Files up to this size are read in one synchronous call and handed to the pack as one buffer. */
const SMALL_FILE = 1024 * 1024;
/** Synchronous calls of a few microseconds each: yield to the event loop between batches. */
const ENTRIES_PER_TURN = 128;

/**
 * Write the tar of the changes in `upper` into `pack`, then finalize it. Rejects (and
 * destroys the pack) on the first failure.
 *
 * Upper dirs are mostly many small files, so the walk uses synchronous calls (readdir,
 * lstat, readlink, and for a file up to 1 MiB open + read + close), a few microseconds
 * each, instead of a round trip through the thread pool per call (which under load costs
 * ~0.1-1 ms each); it yields to the event loop every 128 entries, and larger files are
 * streamed as before.
 */
export async function packUpperDir(upper: string, pack: tar.Pack, opts: { dropRuntimeStubs?: boolean; dropped?: string[] } = {}): Promise<number> {
  const seen = new Map<string, string>(); // "dev:ino" -> first name, for hard links
  let entries = 0;
  let sinceYield = 0;
  const walk = async (dir: string, prefix: string): Promise<void> => {
    let names = readdirSync(dir).sort(byBytes);
    if (opts.dropRuntimeStubs) {
      names = names.filter((n) => {
        const stub = isRuntimeStub(dir, prefix, n);
        if (stub) opts.dropped?.push(join(dir, n));
        return !stub;
      });
    }
    for (const name of names) {
      if (++sinceYield >= ENTRIES_PER_TURN) {
        sinceYield = 0;
        await new Promise((r) => setImmediate(r));
      }
      const host = join(dir, name);
      const rel = prefix + name;
      const st = lstatSync(host);
      // The whole st_mode, type bits too: tar-stream writes only its permission bits, but it
      // reads a mode of 0 as "none given" and writes 0644 (0755 for a directory) instead.
      const base = { uid: st.uid, gid: st.gid, mtime: st.mtime, mode: st.mode };
      if (st.isCharacterDevice() && st.rdev === 0) {
        await addEntry(pack, { ...base, name: prefix + WHITEOUT_PREFIX + name, type: 'file', size: 0, mode: 0o600 });
      } else if (st.isDirectory()) {
        await addEntry(pack, { ...base, name: `${rel}/`, type: 'directory' });
        if (isOpaque(host)) await addEntry(pack, { ...base, name: `${rel}/${OPAQUE_MARKER}`, type: 'file', size: 0 });
        entries++;
        await walk(host, `${rel}/`);
        continue;
      } else if (st.isSymbolicLink()) {
        await addEntry(pack, { ...base, name: rel, type: 'symlink', linkname: readlinkSync(host) });
      } else if (st.isFile()) {
        const key = `${st.dev}:${st.ino}`;
        const first = st.nlink > 1 ? seen.get(key) : undefined;
        if (first !== undefined) {
          await addEntry(pack, { ...base, name: rel, type: 'link', linkname: first });
        } else {
          if (st.nlink > 1) seen.set(key, rel);
          if (st.size <= SMALL_FILE) {
            const fd = openSync(host, fsc.O_RDONLY | fsc.O_NOFOLLOW);
            let body: Buffer;
            try {
              body = readFileSync(fd);
            } finally {
              closeSync(fd);
            }
            // the header's size is the bytes read (tar-stream takes it from the buffer)
            await addEntry(pack, { ...base, name: rel, type: 'file', size: body.length }, body);
          } else {
            const fh = await open(host, fsc.O_RDONLY | fsc.O_NOFOLLOW);
            try {
              const body = pack.entry({ ...base, name: rel, type: 'file', size: st.size });
              await pipeline(createReadStream('', { fd: fh.fd, autoClose: false, highWaterMark: 1024 * 1024 }), body);
            } finally {
              await fh.close();
            }
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

/** The mount points a container's runtime makes when the image lacks them (wharf-init creates a
 * missing mount target: an empty file or directory), which Docker keeps in its init layer,
 * below the container's, so that no diff shows them. */
const STUB_DIRS = new Set(['dev', 'proc', 'sys']);
const STUB_ETC_FILES = new Set(['hosts', 'hostname', 'resolv.conf']);

/**
 * Is `prefix + name` in the upper dir `dir` a mount point stub of the runtime: an empty,
 * non-opaque /dev, /proc or /sys; an empty regular /etc/hosts, /etc/hostname or
 * /etc/resolv.conf (bind-mounted while the container ran, so nothing the program did is in
 * them); an /etc holding nothing but those. Never followed (lstat).
 */
function isRuntimeStub(dir: string, prefix: string, name: string): boolean {
  const host = join(dir, name);
  if (prefix === '' && (STUB_DIRS.has(name) || name === 'etc')) {
    const st = lstatSync(host);
    if (!st.isDirectory() || isOpaque(host)) return false;
    const inside = readdirSync(host);
    if (name !== 'etc') return inside.length === 0;
    return inside.every((n) => isRuntimeStub(host, 'etc/', n));
  }
  if (prefix === 'etc/' && STUB_ETC_FILES.has(name)) {
    const st = lstatSync(host);
    return st.isFile() && st.size === 0 && st.nlink === 1;
  }
  return false;
}

/**
 * Gathers the tar's many small pushes (a 512-byte header, a small body) into chunks of up
 * to 1 MiB, so that gzip (a thread-pool round trip per write) and the file see a few
 * large writes instead of two per entry.
 */
class Coalesce extends Transform {
  private parts: Buffer[] = [];
  private bytes = 0;
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.parts.push(chunk);
    this.bytes += chunk.length;
    if (this.bytes >= 1024 * 1024) this.flushParts();
    cb();
  }
  override _flush(cb: TransformCallback): void {
    this.flushParts();
    cb();
  }
  private flushParts(): void {
    if (this.bytes === 0) return;
    this.push(this.parts.length === 1 ? this.parts[0]! : Buffer.concat(this.parts, this.bytes));
    this.parts = [];
    this.bytes = 0;
  }
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

/** A layer written by writeLayerFromDir; `stored` settles once its blob is durable and in the store. */
export interface WrittenLayer extends LayerDiff {
  /** resolved: the blob was fsynced and renamed into blobs/sha256/<digest> (already so unless
   * `deferStore` was given); rejected: it could not be, and nothing of it is visible */
  stored: Promise<void>;
}

/**
 * The layer of the changes in `upper`, written into the node's content store (temp file,
 * fsync, rename to blobs/sha256/<digest>: visible only once complete) and, unless told
 * otherwise, unpacked under layers/<diffID>. A blob already in the store is kept as it is.
 * With `deferStore` it returns as soon as the bytes are written and the digests known: the
 * fsync and the rename then run while the caller goes on (`stored` tells when they are
 * done; whatever names the blob must wait for it).
 */
export async function writeLayerFromDir(layout: NodeLayout, upper: string, opts: WriteLayerOptions = {}): Promise<WrittenLayer> {
  await mkdir(layout.contentTmpDir, { recursive: true });
  const tmp = layout.contentTmpPath();
  const pack = tar.pack();
  const uncompressed = new Tap();
  const compressed = new Tap();
  let diff: LayerDiff;
  const dropped: string[] = [];
  const fh = await open(tmp, 'wx', 0o644);
  try {
    const [entries] = await Promise.all([
      packUpperDir(upper, pack, opts.dropRuntimeStubs ? { dropRuntimeStubs: true, dropped } : {}),
      pipeline(pack, new Coalesce(), uncompressed, createGzip({ level: opts.gzipLevel ?? 6 }), compressed, createWriteStream('', { fd: fh.fd, autoClose: false, highWaterMark: 1024 * 1024 })),
    ]);
    diff = { diffId: uncompressed.digest(), digest: compressed.digest(), size: compressed.bytes, mediaType: DOCKER_LAYER_MEDIA_TYPE, entries };
  } catch (err) {
    await fh.close();
    await rm(tmp, { force: true });
    throw err;
  }
  const final = layout.blobPath(diff.digest);
  const stored = (async () => {
    try {
      await fh.sync();
      await fh.close();
      await mkdir(dirname(final), { recursive: true });
      await rename(tmp, final);
    } catch (err) {
      await fh.close().catch(() => undefined); // closed already, unless the fsync failed
      await rm(tmp, { force: true });
      throw err;
    }
  })();
  stored.catch(() => undefined); // the caller sees the failure where it awaits `stored`
  if (!opts.deferStore) await stored;
  if (opts.adopt) {
    // the unpacked layer is exactly its tar: the stubs the tar left out go (the container is gone)
    for (const p of dropped) rmSync(p, { recursive: true, force: true });
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
    await stored;
    const blob = layout.blobPath(diff.digest);
    await ensureLayerUnpacked(layout, diff.diffId, async () => createReadStream(blob, { highWaterMark: 1024 * 1024 }));
  }
  return { ...diff, stored };
}
