/**
 * Reading image archives (`docker save` archives and OCI image layout tars, gzip'd or
 * not) as streams, in two passes over the same bytes:
 *
 *   1. scanArchive: every entry is checked (name, type, count, sizes) and hashed; small
 *      entries (JSON metadata, configs, manifests) are kept in memory. Nothing is stored.
 *   2. streamEntries: after the plan was verified (archive-plan.ts), the entries that
 *      hold blobs are streamed, one after the other, to whoever stores them.
 *
 * A truncated archive, a name that climbs out (`../x`, `/etc/x`), a device node, or a
 * bomb of tiny entries is an ArchiveError with a message that says what is wrong.
 */
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import * as tar from 'tar-stream';

export class ArchiveError extends Error {
  override name = 'ArchiveError';
}

export interface ArchiveLimits {
  /** entries of any type; a bomb of tiny entries stops here */
  maxEntries: number;
  /** bytes of all entries together, after decompression (gzip bombs stop here) */
  maxExpandedBytes: number;
  /** an entry at most this big is kept in memory (metadata, configs, manifests) */
  maxSmallEntryBytes: number;
  /** all kept entries together */
  maxKeptBytes: number;
}

export const DEFAULT_LIMITS: ArchiveLimits = {
  maxEntries: 10_000,
  maxExpandedBytes: 64 * 1024 ** 3,
  maxSmallEntryBytes: 4 * 1024 * 1024,
  maxKeptBytes: 64 * 1024 * 1024,
};

export interface ArchiveEntry {
  name: string;
  size: number;
  /** sha256:<hex> of the entry's bytes as stored */
  digest: string;
  /** the entry is itself gzip'd (a compressed layer) */
  gzipped: boolean;
  /** sha256 of the decompressed bytes when gzipped (a layer's diff id) */
  uncompressedDigest?: string;
}

export interface ArchiveIndex {
  /** regular files by normalized name */
  files: Map<string, ArchiveEntry>;
  /** symlinks and hard links, by normalized name -> normalized target (legacy docker save shares layers so) */
  links: Map<string, string>;
  /** bytes of the small entries */
  kept: Map<string, Buffer>;
}

/** `./a/b` -> `a/b`; undefined for names that are absolute, climb out, or hold odd bytes. */
export function normalizeEntryName(raw: string): string | undefined {
  if (raw === '' || raw.includes('\0') || raw.includes('\\') || raw.startsWith('/')) return undefined;
  const parts: string[] = [];
  for (const p of raw.split('/')) {
    if (p === '' || p === '.') continue;
    if (p === '..') return undefined;
    parts.push(p);
  }
  return parts.length === 0 ? '' : parts.join('/');
}

/** A link's target, resolved against the link's directory; undefined if it leaves the archive. */
function resolveLinkTarget(linkName: string, target: string, hard: boolean): string | undefined {
  if (target.startsWith('/')) return undefined;
  // Hard link targets are archive paths; symlink targets are relative to the link's directory.
  const base = hard ? [] : linkName.split('/').slice(0, -1);
  for (const p of target.split('/')) {
    if (p === '' || p === '.') continue;
    if (p === '..') {
      if (base.length === 0) return undefined;
      base.pop();
    } else base.push(p);
  }
  return base.join('/');
}

/** The archive's bytes, gunzipped when they start with gzip's magic. */
function decompressed(source: Readable): Readable {
  return Readable.from(
    (async function* () {
      const it = source[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
      const first = await it.next();
      if (first.done) return;
      const all = async function* () {
        yield first.value;
        for (let n = await it.next(); !n.done; n = await it.next()) yield n.value;
      };
      if (first.value.length < 2 || first.value[0] !== 0x1f || first.value[1] !== 0x8b) return yield* all();
      const raw = Readable.from(all());
      const gunzip = createGunzip();
      raw.on('error', (err) => gunzip.destroy(err));
      raw.pipe(gunzip);
      try {
        for await (const c of gunzip) yield c as Buffer;
      } catch (err) {
        const message = (err as Error).message;
        throw new ArchiveError(/unexpected end/i.test(message) ? `the archive is truncated (its gzip stream ends early)` : `the archive's gzip stream is damaged: ${message}`);
      }
    })(),
    { objectMode: false },
  );
}

type EntryHandler = (header: tar.Header, name: string, stream: Readable) => Promise<void>;

/** Walk the tar entries one by one; every check on names, types and counts is made here. */
async function walk(source: Readable, limits: ArchiveLimits, onEntry: EntryHandler): Promise<void> {
  const extract = tar.extract();
  let entries = 0;
  let expanded = 0;
  let failure: Error | undefined;
  const input = decompressed(source);
  const done = new Promise<void>((resolve, reject) => {
    extract.on('entry', (header, stream, next) => {
      const step = async (): Promise<void> => {
        if (++entries > limits.maxEntries) throw new ArchiveError(`the archive holds more than ${limits.maxEntries} entries; an image archive has a few per layer`);
        expanded += header.size ?? 0;
        if (expanded > limits.maxExpandedBytes) throw new ArchiveError(`the archive expands to more than ${limits.maxExpandedBytes} bytes`);
        const name = normalizeEntryName(header.name);
        if (name === undefined) throw new ArchiveError(`entry name ${JSON.stringify(header.name.slice(0, 200))} is absolute or climbs out of the archive`);
        await onEntry(header, name, stream as unknown as Readable);
      };
      step().then(
        () => next(),
        (err: Error) => {
          failure ??= err;
          stream.resume();
          extract.destroy(err);
        },
      );
    });
    extract.on('finish', resolve);
    extract.on('error', (err) => reject(failure ?? err));
    input.on('error', (err) => {
      extract.destroy(err);
      reject(failure ?? err);
    });
  });
  input.pipe(extract);
  try {
    await done;
  } catch (err) {
    source.destroy();
    // What the entry handler threw (a refusal, the target's own failure) is passed on as it is.
    if (failure) throw failure;
    if (err instanceof ArchiveError) throw err;
    const message = (err as Error).message;
    throw new ArchiveError(/unexpected end|premature|truncated/i.test(message) ? `the archive is truncated (${message})` : `the archive is not a valid tar: ${message}`);
  }
  if (entries === 0) throw new ArchiveError('the archive is empty');
}

async function hashEntry(stream: Readable, keep: boolean): Promise<{ digest: string; size: number; gzipped: boolean; uncompressedDigest?: string; bytes?: Buffer }> {
  const hash = createHash('sha256');
  const chunks: Buffer[] = [];
  let size = 0;
  let gunzip: ReturnType<typeof createGunzip> | undefined;
  let inner: Promise<string> | undefined;
  for await (const c of stream) {
    const chunk = c as Buffer;
    if (size === 0 && chunk.length >= 2 && chunk[0] === 0x1f && chunk[1] === 0x8b) {
      gunzip = createGunzip();
      const innerHash = createHash('sha256');
      inner = pipeline(gunzip, async function* (src: AsyncIterable<Buffer>) {
        for await (const d of src) innerHash.update(d);
        yield* [];
      }).then(() => `sha256:${innerHash.digest('hex')}`);
      inner.catch(() => undefined);
    }
    size += chunk.length;
    hash.update(chunk);
    if (keep) chunks.push(chunk);
    if (gunzip && !gunzip.write(chunk)) await new Promise((r) => gunzip!.once('drain', r));
  }
  gunzip?.end();
  let uncompressedDigest: string | undefined;
  if (inner) uncompressedDigest = await inner.catch(() => undefined);
  const result: { digest: string; size: number; gzipped: boolean; uncompressedDigest?: string; bytes?: Buffer } = {
    digest: `sha256:${hash.digest('hex')}`,
    size,
    gzipped: gunzip !== undefined,
  };
  if (uncompressedDigest) result.uncompressedDigest = uncompressedDigest;
  if (keep) result.bytes = Buffer.concat(chunks);
  return result;
}

/** Pass 1: check and hash every entry; keep the small ones. */
export async function scanArchive(source: Readable, limits: ArchiveLimits = DEFAULT_LIMITS): Promise<ArchiveIndex> {
  const index: ArchiveIndex = { files: new Map(), links: new Map(), kept: new Map() };
  let keptBytes = 0;
  await walk(source, limits, async (header, name, stream) => {
    const seen = (n: string) => index.files.has(n) || index.links.has(n);
    switch (header.type) {
      case 'directory':
        stream.resume();
        return;
      case 'file':
      case 'contiguous-file': {
        if (seen(name)) throw new ArchiveError(`entry ${name} appears twice in the archive`);
        const size = header.size ?? 0;
        const keep = size <= limits.maxSmallEntryBytes && keptBytes + size <= limits.maxKeptBytes;
        const hashed = await hashEntry(stream, keep);
        if (hashed.size !== size) throw new ArchiveError(`entry ${name} is truncated`);
        const entry: ArchiveEntry = { name, size, digest: hashed.digest, gzipped: hashed.gzipped };
        if (hashed.uncompressedDigest) entry.uncompressedDigest = hashed.uncompressedDigest;
        index.files.set(name, entry);
        if (hashed.bytes) {
          index.kept.set(name, hashed.bytes);
          keptBytes += size;
        }
        return;
      }
      case 'symlink':
      case 'link': {
        stream.resume();
        if (seen(name)) throw new ArchiveError(`entry ${name} appears twice in the archive`);
        const target = resolveLinkTarget(name, header.linkname ?? '', header.type === 'link');
        if (target === undefined) throw new ArchiveError(`link ${name} points outside the archive (${JSON.stringify((header.linkname ?? '').slice(0, 200))})`);
        index.links.set(name, target);
        return;
      }
      default:
        throw new ArchiveError(`entry ${name} is a ${header.type}; an image archive holds only files, directories and links`);
    }
  });
  return index;
}

/** The regular file a name stands for, following links (at most a few hops, never a loop). */
export function resolveFile(index: ArchiveIndex, name: string): ArchiveEntry | undefined {
  let current = name;
  for (let hops = 0; hops < 8; hops++) {
    const file = index.files.get(current);
    if (file) return file;
    const next = index.links.get(current);
    if (next === undefined) return undefined;
    current = next;
  }
  return undefined;
}

/**
 * Pass 2: stream the wanted regular-file entries, in archive order, to `onEntry`, which
 * must consume the stream. The same checks as pass 1 run again (the file may have changed).
 */
export async function streamEntries(
  source: Readable,
  wanted: Set<string>,
  onEntry: (name: string, stream: Readable) => Promise<void>,
  limits: ArchiveLimits = DEFAULT_LIMITS,
): Promise<void> {
  await walk(source, limits, async (header, name, stream) => {
    if ((header.type === 'file' || header.type === 'contiguous-file') && wanted.has(name)) {
      await onEntry(name, stream);
      stream.resume();
    } else {
      stream.resume();
    }
  });
}
