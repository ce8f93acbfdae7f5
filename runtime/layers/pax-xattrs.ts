/**
 * The raw bytes of the xattrs (`SCHILY.xattr.<name>` records) in a tar's PAX headers.
 *
 * tar-stream decodes PAX records as UTF-8 (headers.decodePax) and exposes no raw bytes,
 * so a binary value such as `security.capability` (a vfs_cap_data struct) comes out with
 * U+FFFD in place of every invalid byte. This tap sits in the pipeline right before
 * tar-stream and sees the same uncompressed bytes; it follows the 512-byte block framing
 * (headers only: bodies are skipped, never copied) and keeps the raw xattr values of each
 * entry keyed by the stream offset at which the entry's header ends, which is the
 * `byteOffset` tar-stream puts on the header it emits. It mirrors tar-stream's reading:
 * a global ('g') header applies only to entries that also have a local ('x') one, the
 * last local header before an entry wins, a PAX `size` overrides the header's, and a
 * directory has no body.
 *
 * Callers must still check that a raw value decodes to the string tar-stream gave
 * (`xattrsOf` does): should the framing ever disagree with tar-stream's, the decoded string
 * is used, never bytes from another entry.
 */
import { Transform, type TransformCallback } from 'node:stream';

const BLOCK = 512;
const XATTR_PREFIX = 'SCHILY.xattr.';
/** tar-stream refuses larger long headers too (MAX_HEADER_SIZE). */
const MAX_PAX_SIZE = 1024 * 1024;

type PaxRecords = Map<string, Buffer>;

export class PaxXattrTap extends Transform {
  private readonly byEntry = new Map<number, PaxRecords>();
  private offset = 0;
  private header: Buffer = Buffer.alloc(0);
  private skip = 0;
  private capture: { global: boolean; size: number; chunks: Buffer[]; got: number } | undefined;
  private local: PaxRecords | undefined;
  private global: PaxRecords | undefined;
  private lost = false;

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    if (!this.lost) this.scan(chunk);
    cb(null, chunk);
  }

  /**
   * The raw values of the xattrs of the entry whose header ends at `byteOffset`, by
   * xattr name, for those whose UTF-8 decoding is exactly what tar-stream reported in
   * `pax`. Forgets them.
   */
  xattrsOf(byteOffset: number | undefined, pax: unknown): Map<string, Buffer> {
    const out = new Map<string, Buffer>();
    if (byteOffset === undefined) return out;
    const raw = this.byEntry.get(byteOffset);
    this.byEntry.delete(byteOffset);
    if (!raw || typeof pax !== 'object' || pax === null) return out;
    const decoded = pax as Record<string, unknown>;
    for (const [key, bytes] of raw) {
      if (key.startsWith(XATTR_PREFIX) && decoded[key] === bytes.toString('utf8')) out.set(key.slice(XATTR_PREFIX.length), bytes);
    }
    return out;
  }

  private scan(chunk: Buffer): void {
    let i = 0;
    while (i < chunk.length) {
      if (this.skip > 0) {
        const n = Math.min(this.skip, chunk.length - i);
        this.skip -= n;
        i += n;
        this.offset += n;
      } else if (this.capture) {
        const c = this.capture;
        const n = Math.min(c.size - c.got, chunk.length - i);
        c.chunks.push(chunk.subarray(i, i + n));
        c.got += n;
        i += n;
        this.offset += n;
        if (c.got === c.size) {
          const records = parseRecords(Buffer.concat(c.chunks));
          if (c.global) this.global = records;
          else this.local = new Map([...(this.global ?? []), ...records]);
          this.capture = undefined;
          this.skip = padding(c.size);
        }
      } else {
        const n = Math.min(BLOCK - this.header.length, chunk.length - i);
        this.header = this.header.length === 0 && n === BLOCK ? chunk.subarray(i, i + n) : Buffer.concat([this.header, chunk.subarray(i, i + n)]);
        i += n;
        this.offset += n;
        if (this.header.length === BLOCK) {
          const block = this.header;
          this.header = Buffer.alloc(0);
          this.onHeader(block);
          if (this.lost) return;
        }
      }
    }
  }

  private onHeader(block: Buffer): void {
    if (block.every((b) => b === 0)) return; // end-of-archive padding
    const size = decodeOctal(block.subarray(124, 136));
    if (size === null || size < 0) {
      this.lost = true; // tar-stream will refuse this header itself
      return;
    }
    switch (block[156]) {
      case 0x78 /* x */:
      case 0x67 /* g */:
        if (size > MAX_PAX_SIZE) {
          this.lost = true;
          return;
        }
        this.capture = { global: block[156] === 0x67, size, chunks: [], got: 0 };
        if (size === 0) {
          if (this.capture.global) this.global = new Map();
          else this.local = new Map(this.global ?? []);
          this.capture = undefined;
        }
        return;
      case 0x4c /* L: GNU long name */:
      case 0x4b /* K: GNU long link name */:
        this.skip = size + padding(size);
        return;
    }
    let bodySize = block[156] === 0x35 /* 5: directory */ ? 0 : size;
    if (this.local) {
      const records = this.local;
      this.local = undefined;
      const paxSize = records.get('size');
      if (paxSize !== undefined && paxSize.length > 0 && block[156] !== 0x35) {
        bodySize = parseInt(paxSize.toString('latin1'), 10);
        if (!(bodySize >= 0)) {
          this.lost = true;
          return;
        }
      }
      records.delete('size');
      if (records.size > 0) this.byEntry.set(this.offset, records);
    }
    this.skip = bodySize + padding(bodySize);
  }
}

function padding(size: number): number {
  return (BLOCK - (size % BLOCK)) % BLOCK;
}

/** PAX records `<len> <key>=<value>\n`, keeping only `size` and the xattrs, values raw. */
export function parseRecords(buf: Buffer): PaxRecords {
  const out: PaxRecords = new Map();
  while (buf.length) {
    const space = buf.indexOf(0x20);
    const len = parseInt(buf.subarray(0, space < 0 ? buf.length : space).toString('latin1'), 10);
    if (!len || space < 0 || len > buf.length) break;
    const record = buf.subarray(space + 1, len - 1); // without the trailing newline
    const eq = record.indexOf(0x3d);
    if (eq < 0) break;
    const key = record.subarray(0, eq).toString('utf8');
    if (key === 'size' || key.startsWith(XATTR_PREFIX)) out.set(key, Buffer.from(record.subarray(eq + 1)));
    buf = buf.subarray(len);
  }
  return out;
}

/** A tar numeric field, read as tar-stream's decodeOct does: octal, or GNU base-256. */
function decodeOctal(field: Buffer): number | null {
  if (field[0]! & 0x80) {
    if (field[0] !== 0x80) return null; // negative sizes do not exist
    let n = 0;
    for (let i = 1; i < field.length; i++) n = n * 256 + field[i]!;
    return n;
  }
  let start = 0;
  while (start < field.length && field[start] === 0x20) start++;
  let end = field.indexOf(0x20, start);
  if (end < 0) end = field.length;
  while (start < end && field[start] === 0) start++;
  if (start === end) return 0;
  const n = parseInt(field.subarray(start, end).toString('latin1'), 8);
  return Number.isNaN(n) ? null : n;
}
