/**
 * An upload's running SHA-256 together with its file writes: each batch of chunks is hashed
 * and pwritev(2)n at its offset by one job on libuv's thread pool (storage/native/
 * sha256-writer.cc -> build/Release/wharf_sha256.node), so the JS thread only receives
 * bytes and hands the Buffers over (fs-upload.ts's slabs). The hash ran on the JS thread before: 0.65 s
 * of it per cold-pulled GiB (perf), Node's crypto at ~1.1-1.45 GB/s; on the pool the hash
 * of a group runs while the group is in the cache and its write follows (256 MiB: 210 ms
 * for both vs 240 ms hash + 55 ms writev in JS, measured). One job at a time per upload,
 * in order: a single writer per file.
 *
 * Without the addon, the same interface over node:crypto and fs.writev.
 */
import { createHash, type Hash } from 'node:crypto';
import { read, writev } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface Sha256Writer {
  /** Hash `chunks` in order and write them to `fd` at `position` (all of them). The chunks must not change until it settles. */
  write(fd: number, position: number, chunks: Buffer[]): Promise<void>;
  /** Hash `fd` from `position` to its end (an upload resumed after a restart); the bytes hashed. */
  hashFile(fd: number, position: number): Promise<number>;
  /** Another writer with the same state (not while a job runs). */
  copy(): Sha256Writer;
  /** The hex digest of the bytes so far; the state goes on (not while a job runs). */
  digest(): string;
}

interface NativeSha256Writer {
  write(fd: number, position: number, chunks: Buffer[], callback: (err: Error | null) => void): void;
  hashFile(fd: number, position: number, callback: (err: Error | null, bytes: number) => void): void;
  copy(): NativeSha256Writer;
  digest(): string;
}

interface Sha256Addon {
  Sha256Writer: new () => NativeSha256Writer;
}

let addon: Sha256Addon | null | undefined;

function loadAddon(): Sha256Addon | null {
  if (addon !== undefined) return addon;
  // dist/storage/sha256-writer.js -> <checkout>/build/Release/wharf_sha256.node
  const path = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'build', 'Release', 'wharf_sha256.node');
  try {
    addon = createRequire(import.meta.url)(path) as Sha256Addon;
  } catch {
    addon = null;
  }
  return addon;
}

class NativeWriter implements Sha256Writer {
  constructor(private readonly state: NativeSha256Writer) {}

  write(fd: number, position: number, chunks: Buffer[]): Promise<void> {
    return new Promise((resolve, reject) => this.state.write(fd, position, chunks, (err) => (err ? reject(err) : resolve())));
  }

  hashFile(fd: number, position: number): Promise<number> {
    return new Promise((resolve, reject) => this.state.hashFile(fd, position, (err, bytes) => (err ? reject(err) : resolve(bytes))));
  }

  copy(): Sha256Writer {
    return new NativeWriter(this.state.copy());
  }

  digest(): string {
    return this.state.digest();
  }
}

const HASH_READ_BYTES = 1 << 20;

/** The addon's absence: node:crypto on the JS thread, fs.writev on the pool. */
class JsWriter implements Sha256Writer {
  constructor(private readonly hash: Hash = createHash('sha256')) {}

  async write(fd: number, position: number, chunks: Buffer[]): Promise<void> {
    for (const c of chunks) this.hash.update(c);
    let left = chunks;
    while (left.length > 0) {
      const written = await new Promise<number>((resolve, reject) => writev(fd, left, position, (err, n) => (err ? reject(err) : resolve(n))));
      if (written === 0) throw Object.assign(new Error('writev: wrote nothing'), { code: 'EIO' });
      position += written;
      left = skipBytes(left, written);
    }
  }

  async hashFile(fd: number, position: number): Promise<number> {
    const buf = Buffer.allocUnsafe(HASH_READ_BYTES);
    let bytes = 0;
    for (;;) {
      const n = await new Promise<number>((resolve, reject) => read(fd, buf, 0, buf.length, position, (err, got) => (err ? reject(err) : resolve(got))));
      if (n === 0) return bytes;
      this.hash.update(buf.subarray(0, n));
      position += n;
      bytes += n;
    }
  }

  copy(): Sha256Writer {
    return new JsWriter(this.hash.copy());
  }

  digest(): string {
    return this.hash.copy().digest('hex');
  }
}

function skipBytes(chunks: Buffer[], bytes: number): Buffer[] {
  let i = 0;
  while (i < chunks.length && bytes >= chunks[i]!.length) bytes -= chunks[i++]!.length;
  const rest = chunks.slice(i);
  if (bytes > 0 && rest.length > 0) rest[0] = rest[0]!.subarray(bytes);
  return rest;
}

/** A fresh SHA-256 state: on the pool when the addon is built (`native: false` forces node:crypto, for tests). */
export function createSha256Writer(options: { native?: boolean } = {}): Sha256Writer {
  const native = options.native ?? true ? loadAddon() : null;
  return native ? new NativeWriter(new native.Sha256Writer()) : new JsWriter();
}

/** Whether the addon is there (tests say which implementation they ran). */
export function nativeSha256Available(): boolean {
  return loadAddon() !== null;
}
