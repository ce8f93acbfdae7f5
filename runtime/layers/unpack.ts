/**
 * Layer unpack: an image layer (tar, or a gzip'd or zstd'd tar) becomes a directory in overlayfs "lower"
 * form, so that a container's rootfs is an overlay mount of shared layers and nothing
 * is copied at start (DESIGN.md, Speed).
 *
 * Decision: layers are kept in overlayfs form, not flattened. The OCI whiteouts become
 * what overlayfs itself understands:
 *   `.wh.<name>`    -> a 0/0 character device at `<name>`          (a deletion)
 *   `.wh..wh..opq`  -> xattr `trusted.overlay.opaque=y` on the dir (an opaque dir)
 * Node can neither mknod(2) nor setxattr(2), so those few operations (and device nodes,
 * FIFOs and file xattrs from the tar) are collected while the layer streams and applied
 * at the end in one batch by a `SpecialFileOps`: by default the native addon's mknod and
 * lsetxattr (runtime/native/fs.ts), no process spawned. Xattr values keep their raw
 * bytes (runtime/layers/pax-xattrs.ts): tar-stream alone would decode them as UTF-8.
 *
 * A layer whose blob is in the content store and is an uncompressed tar (unpackStoredLayer,
 * what pull, build and load use) is read from the file instead: headers by positioned reads
 * decoded by tar-stream's own codec, small bodies read and written in one call, large ones
 * copied in the kernel (copy_file_range(2) on a pool thread). Its diffID is the blob's
 * digest, which the store verified when the blob entered it, so it is not hashed again.
 *
 * Safety: every entry name is normalised and refused when absolute or when it contains
 * `..`; every parent directory of an entry must be a real directory created inside the
 * layer (lstat, never followed), so a symlink planted earlier in the same tar cannot be
 * written through; hard link targets obey the same rules. A refused layer raises
 * `LayerEscapeError` and its partial directory is removed.
 */
import { createHash } from 'node:crypto';
import { closeSync, constants as fsc, createReadStream, fstatSync, openSync, readSync, writeSync } from 'node:fs';
import { lstat, mkdir, open, rename, rm, symlink, link, lchown, lutimes, chown, chmod, type FileHandle } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join, posix, resolve } from 'node:path';
import { Readable, Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import * as tar from 'tar-stream';
import type { Digest } from '../../oci/names.js';
import type { NodeLayout } from '../layout.js';
import { copyFileRange, lsetxattr, mknod } from '../native/fs.js';
import { PaxXattrTap, parseRecords } from './pax-xattrs.js';
import { compressionOf, decompressor } from './compression.js';

export class LayerEscapeError extends Error {
  override name = 'LayerEscapeError';
  readonly code = 'LAYER_ESCAPE';
  constructor(
    readonly entry: string,
    readonly reason: string,
  ) {
    super(`layer refused: entry "${entry}" ${reason}`);
  }
}

export class LayerFormatError extends Error {
  override name = 'LayerFormatError';
  readonly code = 'LAYER_INVALID';
}

export class DiffIdMismatchError extends Error {
  override name = 'DiffIdMismatchError';
  readonly code = 'DIFF_ID_MISMATCH';
  constructor(
    readonly expected: Digest,
    readonly actual: Digest,
  ) {
    super(`layer content digest mismatch: config says ${expected}, uncompressed tar is ${actual}`);
  }
}

/** A filesystem operation Node cannot do itself. Paths are absolute and already checked. */
export type SpecialOp =
  | { op: 'mknod'; path: string; kind: 'c' | 'b' | 'p'; major: number; minor: number }
  | { op: 'setxattr'; path: string; name: string; value: Buffer };

export interface SpecialFileOps {
  apply(ops: SpecialOp[]): Promise<void>;
}

export const OVERLAY_OPAQUE_XATTR = 'trusted.overlay.opaque';
const WHITEOUT_PREFIX = '.wh.';
const OPAQUE_MARKER = '.wh..wh..opq';

// Layers may carry file capabilities and user xattrs; never trusted.* (that would let a
// layer forge overlayfs metadata such as opaque or redirect markers).
const ALLOWED_XATTR_PREFIXES = ['user.', 'security.'];

const MKNOD_TYPE = { c: fsc.S_IFCHR, b: fsc.S_IFBLK, p: fsc.S_IFIFO } as const;
/** Synchronous syscalls of a few microseconds each: yield to the event loop between batches. */
const OPS_PER_TURN = 256;

/** Default SpecialFileOps: the native addon's mknod(2) and lsetxattr(2), in this process.
 * A failure is a SyscallError (code, syscall, path), as Node's fs errors are. Nodes are
 * created 0600; device nodes and FIFOs get their mode and owner from the tar afterwards. */
export const nativeSpecialFileOps: SpecialFileOps = {
  async apply(ops) {
    for (let i = 0; i < ops.length; i++) {
      if (i > 0 && i % OPS_PER_TURN === 0) await new Promise((r) => setImmediate(r));
      const o = ops[i]!;
      if (o.op === 'mknod') mknod(resolve(o.path), MKNOD_TYPE[o.kind] | 0o600, o.major, o.minor);
      else lsetxattr(resolve(o.path), o.name, o.value);
    }
  },
};

export interface UnpackOptions {
  /** the layer's diffID from the image config; verified against the uncompressed bytes */
  expectedDiffId?: Digest;
  specialOps?: SpecialFileOps;
}

export interface UnpackResult {
  /** sha256 of the uncompressed tar */
  diffId: Digest;
  entries: number;
}

/**
 * Unpack one layer into `dest`, which must not exist yet. On any failure `dest` is
 * removed before the error propagates.
 */
export async function unpackLayer(source: Readable, dest: string, opts: UnpackOptions = {}): Promise<UnpackResult> {
  await mkdir(dest, { mode: 0o755 });
  try {
    return await extractInto(source, dest, opts);
  } catch (err) {
    source.destroy();
    await rm(dest, { recursive: true, force: true });
    throw err;
  }
}

const inFlight = new Map<string, Promise<string>>();

/**
 * The directory of an unpacked layer, unpacking it first if needed (once: keyed by
 * diffID, via a temp dir and a rename, shared by every image that has the layer).
 */
export async function ensureLayerUnpacked(
  layout: NodeLayout,
  diffId: Digest,
  openLayer: () => Promise<Readable>,
  opts: Omit<UnpackOptions, 'expectedDiffId'> & {
    /** the layer's blob in the content store: unpacked from the file (unpackStoredLayer) instead of `openLayer`'s stream */
    stored?: StoredBlob;
  } = {},
): Promise<string> {
  const dir = layout.layerDir(diffId);
  const pending = inFlight.get(dir);
  if (pending) return pending;
  const work = (async () => {
    if (await exists(dir)) return dir;
    await mkdir(layout.layersDir, { recursive: true });
    const tmp = layout.layerTmpDir();
    const { stored, ...unpackOpts } = opts;
    if (stored) await unpackStoredLayer(stored, tmp, { ...unpackOpts, expectedDiffId: diffId });
    else await unpackLayer(await openLayer(), tmp, { ...unpackOpts, expectedDiffId: diffId });
    try {
      await rename(tmp, dir);
    } catch (err) {
      // Another process unpacked the same layer first: theirs is as good as ours.
      await rm(tmp, { recursive: true, force: true });
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw err;
    }
    return dir;
  })();
  inFlight.set(dir, work);
  try {
    return await work;
  } finally {
    inFlight.delete(dir);
  }
}

async function exists(p: string): Promise<boolean> {
  try {
    await lstat(p);
    return true;
  } catch {
    return false;
  }
}

/**
 * A relative path inside the layer for a tar name, or a LayerEscapeError.
 * '' is the layer root. Leading './' is the usual tar style and allowed.
 */
export function normalizeEntryPath(name: string): string {
  if (name.includes('\0')) throw new LayerEscapeError(name, 'contains a NUL byte');
  if (name.startsWith('/')) throw new LayerEscapeError(name, 'is an absolute path');
  const parts: string[] = [];
  for (const part of name.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') throw new LayerEscapeError(name, "contains '..'");
    parts.push(part);
  }
  return parts.join('/');
}

interface PendingMeta {
  path: string;
  mode: number;
  uid: number;
  gid: number;
  mtime: Date;
}

class LayerWriter {
  /** relative dirs known to be real directories (not symlinks) inside the layer */
  private readonly realDirs = new Set<string>(['']);
  private readonly dirMeta = new Map<string, PendingMeta>();
  private readonly specialMeta: PendingMeta[] = [];
  private readonly special: SpecialOp[] = [];
  entries = 0;

  constructor(private readonly root: string) {}

  private abs(rel: string): string {
    return rel === '' ? this.root : join(this.root, rel);
  }

  /** Make sure every parent of `rel` is a real directory inside the layer. */
  private async ensureParents(rel: string, entryName: string, create = true): Promise<void> {
    const parts = rel.split('/');
    parts.pop();
    let cur = '';
    for (const part of parts) {
      cur = cur === '' ? part : `${cur}/${part}`;
      if (this.realDirs.has(cur)) continue;
      let st;
      try {
        st = await lstat(this.abs(cur));
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || !create) throw err;
        await mkdir(this.abs(cur), { mode: 0o755 });
        this.realDirs.add(cur);
        continue;
      }
      if (st.isSymbolicLink()) throw new LayerEscapeError(entryName, `would be written through the symlink "${cur}"`);
      if (!st.isDirectory()) throw new LayerFormatError(`layer entry "${entryName}": parent "${cur}" is not a directory`);
      this.realDirs.add(cur);
    }
  }

  /** Remove whatever a new entry replaces (later entries win, as in tar). */
  private async clear(rel: string, keepDir: boolean): Promise<void> {
    let st;
    try {
      st = await lstat(this.abs(rel));
    } catch {
      return;
    }
    if (keepDir && st.isDirectory()) return;
    await rm(this.abs(rel), { recursive: true, force: true });
    if (st.isDirectory()) {
      for (const d of this.realDirs) if (d === rel || d.startsWith(`${rel}/`)) this.realDirs.delete(d);
    }
  }

  /** One entry; `rawXattrs`: the raw bytes of its PAX xattr values, by xattr name (where known). */
  async write(header: tar.Header, body: EntryBody, rawXattrs: Map<string, Buffer>): Promise<void> {
    this.entries++;
    const rel = normalizeEntryPath(header.name);
    const base = posix.basename(rel);
    const meta = {
      path: this.abs(rel),
      mode: (header.mode ?? 0o644) & 0o7777,
      uid: header.uid ?? 0,
      gid: header.gid ?? 0,
      mtime: header.mtime ?? new Date(0),
    };

    if (base.startsWith(WHITEOUT_PREFIX) && header.type !== 'directory') {
      body.discard();
      await this.ensureParents(rel, header.name);
      const parent = posix.dirname(rel) === '.' ? '' : posix.dirname(rel);
      if (base === OPAQUE_MARKER) {
        this.special.push({ op: 'setxattr', path: this.abs(parent), name: OVERLAY_OPAQUE_XATTR, value: Buffer.from('y') });
      } else if (!base.startsWith(`${WHITEOUT_PREFIX}${WHITEOUT_PREFIX}`)) {
        // `.wh..wh.*` other than the opaque marker are AUFS bookkeeping: ignored, as Docker does.
        const target = parent === '' ? base.slice(WHITEOUT_PREFIX.length) : `${parent}/${base.slice(WHITEOUT_PREFIX.length)}`;
        await this.clear(target, false);
        this.special.push({ op: 'mknod', path: this.abs(target), kind: 'c', major: 0, minor: 0 });
      }
      return;
    }

    if (rel === '') {
      body.discard();
      if (header.type !== 'directory') throw new LayerFormatError(`layer entry "${header.name}" names the layer root`);
      this.dirMeta.set('', meta);
      return;
    }
    await this.ensureParents(rel, header.name);

    switch (header.type) {
      case 'directory':
        body.discard();
        await this.clear(rel, true);
        await mkdir(meta.path, { recursive: true, mode: 0o755 });
        this.realDirs.add(rel);
        this.dirMeta.set(rel, meta);
        break;
      case 'file':
      case 'contiguous-file': {
        await this.clear(rel, false);
        const fh = await open(meta.path, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL | fsc.O_NOFOLLOW, 0o600);
        try {
          await body.writeTo(fh);
          await fh.chown(meta.uid, meta.gid);
          await fh.chmod(meta.mode); // after chown, which clears setuid/setgid
          await fh.utimes(meta.mtime, meta.mtime);
        } finally {
          await fh.close();
        }
        break;
      }
      case 'symlink':
        body.discard();
        await this.clear(rel, false);
        // The target may point anywhere: it is resolved inside the container at run time,
        // and this writer never follows a symlink (parents are lstat'ed).
        await symlink(header.linkname ?? '', meta.path);
        await lchown(meta.path, meta.uid, meta.gid);
        await lutimes(meta.path, meta.mtime, meta.mtime);
        break;
      case 'link': {
        body.discard();
        const targetName = header.linkname ?? '';
        const target = normalizeEntryPath(targetName);
        if (target === '') throw new LayerEscapeError(header.name, 'is a hard link to the layer root');
        await this.ensureParents(target, header.name, false).catch((err: unknown) => {
          if ((err as NodeJS.ErrnoException).code === 'ENOENT')
            throw new LayerFormatError(`layer entry "${header.name}": hard link target "${targetName}" does not exist`);
          throw err;
        });
        const st = await lstat(this.abs(target)).catch(() => undefined);
        if (!st) throw new LayerFormatError(`layer entry "${header.name}": hard link target "${targetName}" does not exist`);
        if (st.isDirectory()) throw new LayerFormatError(`layer entry "${header.name}": hard link to a directory`);
        await this.clear(rel, false);
        // link(2) does not follow a symlink target: linking to a symlink links the symlink.
        await link(this.abs(target), meta.path);
        break;
      }
      case 'character-device':
      case 'block-device':
      case 'fifo':
        body.discard();
        await this.clear(rel, false);
        this.special.push({
          op: 'mknod',
          path: meta.path,
          kind: header.type === 'fifo' ? 'p' : header.type === 'block-device' ? 'b' : 'c',
          major: header.devmajor ?? 0,
          minor: header.devminor ?? 0,
        });
        this.specialMeta.push(meta);
        break;
      default:
        body.discard();
        throw new LayerFormatError(`layer entry "${header.name}": unsupported tar entry type ${header.type}`);
    }

    for (const [key, value] of Object.entries(header.pax ?? {})) {
      if (!key.startsWith('SCHILY.xattr.')) continue;
      const name = key.slice('SCHILY.xattr.'.length);
      if (!ALLOWED_XATTR_PREFIXES.some((p) => name.startsWith(p))) continue;
      // tar-stream decodes pax values as UTF-8, which mangles binary ones (capabilities):
      // the tap's raw bytes win; they are missing only where the framing could not be followed.
      const raw = rawXattrs.get(name);
      this.special.push({ op: 'setxattr', path: meta.path, name, value: raw ?? Buffer.from(String(value), 'utf8') });
    }
  }

  async finish(ops: SpecialFileOps): Promise<void> {
    await ops.apply(this.special);
    for (const m of this.specialMeta) {
      await chown(m.path, m.uid, m.gid);
      await chmod(m.path, m.mode);
      await lutimes(m.path, m.mtime, m.mtime);
    }
    // Directories last, deepest first: writing their children changed their mtimes.
    const dirs = [...this.dirMeta.entries()].sort((a, b) => b[0].split('/').length - a[0].split('/').length);
    for (const [, m] of dirs) {
      await chown(m.path, m.uid, m.gid);
      await chmod(m.path, m.mode);
      await lutimes(m.path, m.mtime, m.mtime);
    }
  }
}

/** The body of a tar entry, as the writer takes it. */
interface EntryBody {
  /** the writer does not want it (not a regular file): let it pass */
  discard(): void;
  /** all of it into the new file `fh` (opened for writing, empty) */
  writeTo(fh: FileHandle): Promise<void>;
}

/** A body streamed by tar-stream. */
function streamBody(entry: Readable): EntryBody {
  return {
    discard: () => entry.resume(),
    async writeTo(fh) {
      for await (const chunk of entry) await fh.write(chunk as Buffer);
    },
  };
}

/** Bodies up to this size are read and written with one synchronous call each. */
const SMALL_BODY = 256 * 1024;

/**
 * A body at `offset` in an uncompressed layer blob open as `fd`: a large one goes into the
 * new file by copy_file_range(2) on a pool thread (runtime/native/copy_range.cc), in the
 * kernel, never through the JS heap.
 */
function fileBody(fd: number, offset: number, size: number): EntryBody {
  return {
    discard: () => undefined,
    async writeTo(fh) {
      if (size === 0) return;
      if (size <= SMALL_BODY) {
        const buf = Buffer.allocUnsafe(size);
        readFully(fd, buf, offset);
        for (let off = 0; off < size; ) off += writeSync(fh.fd, buf, off, size - off, off);
        return;
      }
      await copyFileRange(fd, offset, fh.fd, 0, size);
    },
  };
}

function readFully(fd: number, buf: Buffer, position: number): void {
  for (let off = 0; off < buf.length; ) {
    const n = readSync(fd, buf, off, buf.length - off, position + off);
    if (n === 0) throw new LayerFormatError('layer is not a valid tar archive: Unexpected end of data');
    off += n;
  }
}

/**
 * tar-stream's header codec (headers.js: decode, decodePax, decodeLongPath), so that a
 * layer read from its file (extractFromFile) is read exactly as the streaming path reads
 * it. The package exports only its streams; the file is loaded by its path beside them.
 */
interface TarHeaders {
  decode(buf: Buffer, filenameEncoding: string, allowUnknownFormat: boolean): (Omit<tar.Header, 'type'> & { type: string | null; byteOffset: number }) | null;
  decodePax(buf: Buffer): Record<string, string>;
  decodeLongPath(buf: Buffer, encoding: string): string;
}
let tarHeaders: TarHeaders | undefined;
function headersCodec(): TarHeaders {
  if (!tarHeaders) {
    const req = createRequire(import.meta.url);
    tarHeaders = req(join(dirname(req.resolve('tar-stream')), 'headers.js')) as TarHeaders;
  }
  return tarHeaders;
}

/** tar-stream refuses longer PAX and GNU long-name headers (its MAX_HEADER_SIZE). */
const MAX_LONG_HEADER = 4 * 1024 * 1024;
const XATTR_RECORD = 'SCHILY.xattr.';

const padding = (size: number): number => (512 - (size % 512)) % 512;

/**
 * The entries of the uncompressed tar in `fd` (`size` bytes), read with positioned reads
 * of the headers only, as tar-stream's extract reads a stream: all-zero blocks skipped, a
 * global PAX header applied to the entries that have a local one, GNU long names, a PAX
 * `size`/`path`/`linkpath` overriding the header's, no body for a directory, and the end
 * falling inside a header or a body refused. Each entry is written before the next header
 * is read.
 */
async function extractFromFile(fd: number, size: number, writer: LayerWriter): Promise<void> {
  const codec = headersCodec();
  const block = Buffer.alloc(512);
  let pos = 0;
  let pax: Record<string, string> | null = null;
  let paxGlobal: Record<string, string> | null = null;
  let rawLocal: Map<string, Buffer> | null = null;
  let rawGlobal: Map<string, Buffer> | null = null;
  let longPath: string | null = null;
  let longLinkPath: string | null = null;
  const invalid = (why: string) => new LayerFormatError(`layer is not a valid (gzip'd or zstd'd) tar archive: ${why}`);
  while (pos < size) {
    if (size - pos < 512) throw invalid('Unexpected end of data');
    readFully(fd, block, pos);
    pos += 512;
    let header;
    try {
      header = codec.decode(block, 'utf-8', false);
    } catch (err) {
      throw invalid((err as Error).message);
    }
    if (!header) continue;
    header.byteOffset = pos;
    if (header.type === 'gnu-long-path' || header.type === 'gnu-long-link-path' || header.type === 'pax-global-header' || header.type === 'pax-header') {
      const n = header.size ?? 0;
      if (n > MAX_LONG_HEADER) throw invalid('Header exceeds max size');
      if (pos + n > size) throw invalid('Unexpected end of data');
      const buf = Buffer.alloc(n);
      readFully(fd, buf, pos);
      pos += n + padding(n);
      if (header.type === 'gnu-long-path') longPath = codec.decodeLongPath(buf, 'utf-8');
      else if (header.type === 'gnu-long-link-path') longLinkPath = codec.decodeLongPath(buf, 'utf-8');
      else if (header.type === 'pax-global-header') {
        paxGlobal = codec.decodePax(buf);
        rawGlobal = parseRecords(buf);
      } else {
        pax = paxGlobal === null ? codec.decodePax(buf) : { ...paxGlobal, ...codec.decodePax(buf) };
        rawLocal = new Map([...(rawGlobal ?? []), ...parseRecords(buf)]);
      }
      continue;
    }
    if (longPath !== null) header.name = longPath;
    if (longLinkPath !== null) header.linkname = longLinkPath;
    longPath = longLinkPath = null;
    const raw = new Map<string, Buffer>();
    if (pax) {
      if (pax.path) header.name = pax.path;
      if (pax.linkpath) header.linkname = pax.linkpath;
      if (pax.size) header.size = parseInt(pax.size, 10);
      header.pax = pax;
      // raw bytes only where they decode to what tar-stream's codec gave (PaxXattrTap.xattrsOf)
      for (const [key, bytes] of rawLocal ?? []) {
        if (key.startsWith(XATTR_RECORD) && pax[key] === bytes.toString('utf8')) raw.set(key.slice(XATTR_RECORD.length), bytes);
      }
      pax = null;
      rawLocal = null;
    }
    if (!((header.size ?? -1) >= 0)) throw invalid('Invalid header');
    const bodySize = header.type === 'directory' ? 0 : header.size!;
    if (pos + bodySize > size) throw invalid('Unexpected end of data');
    await writer.write(header as tar.Header, fileBody(fd, pos, bodySize), raw);
    pos += bodySize + padding(bodySize);
  }
}

/**
 * A layer blob in the node's content store: its bytes hash to `digest` (every way into
 * the store verifies that: a pull's download, a co-located link from a registry that
 * verified it, load, commit and build, which compute it).
 */
export interface StoredBlob {
  path: string;
  digest: Digest;
}

/**
 * Unpack a layer from its blob in the content store into `dest` (must not exist). An
 * uncompressed layer is read from the file: its diffID is the blob's digest (the tar is
 * the blob), so it is checked against `expectedDiffId` without hashing the bytes again,
 * and large files are copied in the kernel. A compressed one is streamed as unpackLayer
 * does (its diffID is hashed from the decompressed bytes).
 */
export async function unpackStoredLayer(blob: StoredBlob, dest: string, opts: UnpackOptions = {}): Promise<UnpackResult> {
  const fd = openSync(blob.path, fsc.O_RDONLY | fsc.O_NOFOLLOW);
  let closed = false;
  try {
    const size = fstatSync(fd).size;
    const head = Buffer.alloc(4);
    const got = readSync(fd, head, 0, 4, 0);
    const compressed = (got >= 2 && head[0] === 0x1f && head[1] === 0x8b) || (got === 4 && head.readUInt32LE(0) === 0xfd2fb528);
    if (compressed) {
      closed = true;
      closeSync(fd);
      return await unpackLayer(createReadStream(blob.path, { highWaterMark: 1024 * 1024 }), dest, opts);
    }
    if (opts.expectedDiffId && opts.expectedDiffId !== blob.digest) throw new DiffIdMismatchError(opts.expectedDiffId, blob.digest);
    await mkdir(dest, { mode: 0o755 });
    const writer = new LayerWriter(dest);
    try {
      await extractFromFile(fd, size, writer);
      await writer.finish(opts.specialOps ?? nativeSpecialFileOps);
    } catch (err) {
      await rm(dest, { recursive: true, force: true });
      throw err;
    }
    return { diffId: blob.digest, entries: writer.entries };
  } finally {
    if (!closed) closeSync(fd);
  }
}

/** Hashes what passes through: the diffID is the sha256 of the uncompressed tar. */
class HashingPassThrough extends Transform {
  readonly hash = createHash('sha256');
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.hash.update(chunk);
    cb(null, chunk);
  }
}

/** Sniff the compression from the first bytes (as Docker does), not the media type. */
async function decompressed(source: Readable): Promise<Readable[]> {
  const it = source[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  let head = Buffer.alloc(0);
  let done = false;
  while (head.length < 6 && !done) {
    const r = await it.next();
    if (r.done) done = true;
    else head = Buffer.concat([head, r.value]);
  }
  const rest = Readable.from(
    (async function* () {
      if (head.length) yield head;
      if (done) return;
      for (;;) {
        const r = await it.next();
        if (r.done) return;
        yield r.value;
      }
    })(),
    { objectMode: false },
  );
  // a layer is a tar, plain, gzip'd or zstd'd (the OCI media types); anything else is read as a tar, and refused as one
  const compression = compressionOf(head);
  const decode = compression === 'gzip' || compression === 'zstd' ? decompressor(compression) : undefined;
  return decode ? [rest, decode] : [rest];
}

async function extractInto(source: Readable, dest: string, opts: UnpackOptions): Promise<UnpackResult> {
  const stages = await decompressed(source);
  const hasher = new HashingPassThrough();
  const paxTap = new PaxXattrTap();
  const extract = tar.extract();
  const writer = new LayerWriter(dest);

  const consume = (async () => {
    for await (const entry of extract) {
      // tar-stream sets byteOffset (where this header ends) but its types omit it.
      const raw = paxTap.xattrsOf((entry.header as { byteOffset?: number }).byteOffset, entry.header.pax);
      await writer.write(entry.header, streamBody(entry as unknown as Readable), raw);
    }
  })();
  const flow = pipeline([...stages, hasher, paxTap, extract] as unknown as [Readable, NodeJS.WritableStream]);
  try {
    await Promise.all([consume, flow]);
  } catch (err) {
    extract.destroy();
    await Promise.allSettled([consume, flow]);
    // Filesystem failures (ENOSPC, EACCES...) pass through as they are; failures of the
    // stream itself (zlib, tar headers) mean the layer is not what it claims to be.
    if (err instanceof LayerEscapeError || err instanceof LayerFormatError || (err as NodeJS.ErrnoException).syscall)
      throw err;
    throw new LayerFormatError(`layer is not a valid (gzip'd or zstd'd) tar archive: ${(err as Error).message}`);
  }
  await writer.finish(opts.specialOps ?? nativeSpecialFileOps);
  const diffId = `sha256:${hasher.hash.digest('hex')}` as Digest;
  if (opts.expectedDiffId && opts.expectedDiffId !== diffId) throw new DiffIdMismatchError(opts.expectedDiffId, diffId);
  return { diffId, entries: writer.entries };
}
