/**
 * An upload in progress on the filesystem: bytes appended to one file under uploads/,
 * hashed as they arrive (the SHA-256 state lives here between PATCHes and is rebuilt
 * from the file only after a restart). The hash and the write of each batch run together
 * on libuv's pool (sha256-writer.ts), one batch at a time: the JS thread only receives. Commit is the fixed pipeline: flush -> verify
 * digest and size -> move into the blob store -> forget; nothing is re-read to verify.
 */
import { createHash, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, unlink, type FileHandle } from 'node:fs/promises';
import { IncomingMessage } from 'node:http';
import { finished, type Readable } from 'node:stream';
import { DigestMismatchError, SizeMismatchError, UploadBusyError, UploadOffsetError, UploadUnknownError } from './errors.js';
import { digestAlgorithm, type Digest, type DigestAlgorithm } from '../oci/names.js';
import type { AppendOptions, BlobInfo, ByteRange, Upload } from './types.js';
import type { Sha256Writer } from './sha256-writer.js';

/** Appends are gathered into writes of at least this size (more when more arrived during the last write). */
const WRITE_BATCH_BYTES = 1 << 20;
/** The stream pauses while this much waits for the write in flight. */
const MAX_PENDING_BYTES = 8 << 20;
const SYNC_AHEAD_BYTES = 64 << 20;
const HASH_READ_BYTES = 4 << 20;

/**
 * A request body's chunks are copied into slabs of this size, taken from a pool of the
 * process and given back when their write is done; the hash and the write take the slabs.
 * A socket's chunk (a fresh 64 KiB buffer outside V8's heap per read, a small wrapper
 * object in it) is then garbage at once, instead of living until its write is done.
 */
const SLAB_BYTES = 256 << 10;
/** Slabs the pool keeps when no append needs them (16 MiB). */
const SLABS_KEPT = 64;
const freeSlabs: Buffer[] = [];

function takeSlab(): Buffer {
  return freeSlabs.pop() ?? Buffer.allocUnsafeSlow(SLAB_BYTES);
}

/** Back to the pool: `chunk` is a slab, or the start of one (the last of an append). */
function giveSlab(chunk: Buffer): void {
  if (freeSlabs.length < SLABS_KEPT) freeSlabs.push(chunk.length === SLAB_BYTES ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, SLAB_BYTES));
}

/**
 * Every this many bytes any upload of the process received, a minor GC, when `gc` is
 * exposed (`wharf serve` runs with --expose-gc: bin/v8-flags.ts). The chunks are dead by
 * then (copied into slabs), but they are buffers outside V8's heap that barely fill its
 * young generation, so V8 would scavenge them rarely; and V8 counts such memory
 * allocated since its last mark-compact against the old generation's limit, where a
 * scavenge's dead buffers still count until their concurrent sweep is done: after more
 * than a few MiB of chunks between scavenges, the check that follows each scavenge
 * starts a mark-compact. Measured (1 GiB cold pull in 4 layers): forced every 8 MiB
 * per upload with the chunks held until written, ~35-50 mark-compacts per GiB; with
 * slabs and every 2 MiB of the process, ~5-10 per GiB, V8's GC threads 0.7 -> 0.25 s
 * of CPU. A 1 GiB push: 2.0-2.5 -> 1.2-1.3 s.
 */
const COLLECT_EVERY_BYTES = 2 << 20;
let uncollected = 0;
const collectYoung = (globalThis as { gc?: (options: { type: 'minor' }) => void }).gc;

/** What an upload needs of the store it belongs to. */
export interface UploadOwner {
  moveIntoPlace(temp: string, digest: Digest): Promise<void>;
  forget(id: string): void;
}

export function isNotFound(err: unknown): boolean {
  return (err as NodeJS.ErrnoException).code === 'ENOENT';
}

export async function hashFile(path: string, algorithm: DigestAlgorithm): Promise<{ hash: Hash; size: number }> {
  const hash = createHash(algorithm);
  let size = 0;
  for await (const chunk of createReadStream(path, { highWaterMark: HASH_READ_BYTES })) {
    hash.update(chunk as Buffer);
    size += (chunk as Buffer).length;
  }
  return { hash, size };
}

/**
 * Every chunk of `stream` to `onChunk`, by 'data' events, the stream paused while the
 * promise onChunk returns is pending. A for-await over the stream cost a promise and an
 * async-iterator step per chunk (64 KiB): the proxy's fill measured 0.26 s of CPU per
 * 256 MiB with it, 0.17 s with events. As a for-await does, a throw of onChunk (or a
 * rejection) destroys the stream, and an error or a premature close of it rejects.
 */
function eachChunk(stream: Readable, onChunk: (chunk: Buffer) => Promise<void> | undefined): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    let done = false;
    const settle = (err?: unknown) => {
      if (done) return;
      done = true;
      stream.off('data', onData);
      stopWatching();
      if (err === undefined) return resolve();
      // A server's request goes as a for-await's stream.destroyer sends it: its socket detached
      // first, so that the error response can still be written on it.
      if (stream instanceof IncomingMessage && (stream as { req?: unknown }).req === undefined) (stream as { socket: unknown }).socket = null;
      stream.destroy();
      reject(err);
    };
    const onData = (chunk: Buffer) => {
      if (done) return;
      let pending: Promise<void> | undefined;
      try {
        pending = onChunk(chunk);
      } catch (err) {
        return settle(err);
      }
      if (!pending) return;
      stream.pause();
      pending.then(
        () => {
          if (!done) stream.resume();
        },
        (err: unknown) => settle(err),
      );
    };
    const stopWatching = finished(stream, { writable: false }, (err) => settle(err ?? undefined));
    stream.on('data', onData);
  });
}

export class FsUpload implements Upload {
  /** a request is appending or committing */
  busy = false;

  constructor(
    private readonly store: UploadOwner,
    readonly id: string,
    private readonly path: string,
    /** the SHA-256 of the bytes so far, and the writer of the next ones */
    private hash: Sha256Writer,
    private bytes: number,
  ) {}

  get size(): number {
    return this.bytes;
  }

  get localPath(): string {
    return this.path;
  }

  async append(stream: Readable, offset: number, declaredBytes = Infinity, options: AppendOptions = {}): Promise<number> {
    const syncAhead = options.syncAhead ?? true;
    if (this.busy) throw new UploadBusyError(this.id);
    if (offset !== this.bytes) throw new UploadOffsetError(this.bytes, offset);
    this.busy = true;
    const savedHash = this.hash.copy();
    const hash = this.hash;
    const start = this.bytes;
    let fh: FileHandle;
    try {
      fh = await open(this.path, 'r+');
    } catch (err) {
      this.busy = false;
      // Committed or cancelled by another request between its lookup and this append.
      if (isNotFound(err)) throw new UploadUnknownError(this.id);
      throw err;
    }
    const fd = fh.fd;
    // One writer per upload: a job hashes and writes one batch while the next one gathers
    // what arrives meanwhile (at least WRITE_BATCH_BYTES, or the rest at the end); the
    // stream pauses only when MAX_PENDING_BYTES wait. The kernel's write-back is started
    // every SYNC_AHEAD_BYTES, so the fsync at commit has little left to do.
    let received = 0;
    let position = start;
    let pending: Buffer[] = [];
    let pendingBytes = 0;
    let ended = false;
    let writing: Promise<void> | undefined;
    let failure: { error: unknown } | undefined;
    let room: { resolve: () => void; reject: (err: unknown) => void } | undefined;
    let syncing: Promise<unknown> = Promise.resolve();
    let unsynced = 0;
    const drain = async (): Promise<void> => {
      try {
        while (pendingBytes >= WRITE_BATCH_BYTES || (ended && pendingBytes > 0)) {
          const chunks = pending;
          const bytes = pendingBytes;
          const end = position + bytes;
          pending = [];
          pendingBytes = 0;
          room?.resolve();
          room = undefined;
          await hash.write(fd, position, chunks);
          for (const c of chunks) giveSlab(c);
          position = end;
          options.onWritten?.(end);
          unsynced += bytes;
          if (syncAhead && unsynced >= SYNC_AHEAD_BYTES) {
            unsynced = 0;
            await syncing;
            syncing = fh.datasync();
            // Awaited at the end; marked handled now so a failing sync cannot become an unhandled rejection.
            syncing.catch(() => undefined);
          }
        }
      } catch (err) {
        failure ??= { error: err };
        room?.reject(err);
        room = undefined;
      } finally {
        writing = undefined;
      }
    };
    const kick = () => {
      if (writing === undefined && (pendingBytes >= WRITE_BATCH_BYTES || (ended && pendingBytes > 0))) writing = drain();
    };
    let slab: Buffer | undefined;
    let slabFill = 0;
    try {
      await eachChunk(stream, (buf) => {
        if (failure) throw failure.error;
        uncollected += buf.length;
        if (uncollected >= COLLECT_EVERY_BYTES && collectYoung) {
          uncollected = 0;
          collectYoung({ type: 'minor' });
        }
        received += buf.length;
        if (received > declaredBytes) throw new SizeMismatchError(`the body is longer than the ${declaredBytes} bytes it declared`);
        for (let at = 0; at < buf.length; ) {
          slab ??= takeSlab();
          const n = buf.copy(slab, slabFill, at);
          at += n;
          slabFill += n;
          if (slabFill < SLAB_BYTES) continue;
          pending.push(slab);
          pendingBytes += SLAB_BYTES;
          slab = undefined;
          slabFill = 0;
        }
        kick();
        if (pendingBytes < MAX_PENDING_BYTES || writing === undefined) return undefined;
        return new Promise<void>((resolve, reject) => (room = { resolve, reject }));
      });
      if (declaredBytes !== Infinity && received !== declaredBytes) {
        throw new SizeMismatchError(`the body carried ${received} bytes, not the ${declaredBytes} it declared`);
      }
      if (slab && slabFill > 0) {
        pending.push(slab.subarray(0, slabFill));
        pendingBytes += slabFill;
      }
      slab = undefined;
      ended = true;
      for (;;) {
        if (failure) throw failure.error;
        kick();
        if (writing === undefined) break;
        await writing;
      }
      await syncing;
      this.bytes = position;
      return this.bytes;
    } catch (err) {
      // Nothing of a failed chunk is kept: the file and the hash go back to where they were.
      ended = false;
      pending = [];
      pendingBytes = 0;
      await Promise.allSettled([writing, syncing]);
      this.hash = savedHash;
      await fh.truncate(start).catch(() => undefined);
      throw err;
    } finally {
      await fh.close();
      this.busy = false;
    }
  }

  async read(range: ByteRange): Promise<Readable> {
    let fh: FileHandle;
    try {
      fh = await open(this.path, 'r');
    } catch (err) {
      if (isNotFound(err)) throw new UploadUnknownError(this.id);
      throw err;
    }
    return fh.createReadStream({ start: range.start, end: range.end, highWaterMark: HASH_READ_BYTES, autoClose: true });
  }

  async commit(expected: Digest, expectedSize?: number): Promise<BlobInfo> {
    if (this.busy) throw new UploadBusyError(this.id);
    this.busy = true;
    try {
      await this.verify(expected, expectedSize);
      await this.flush();
      await this.store.moveIntoPlace(this.path, expected);
      this.store.forget(this.id);
      return { digest: expected, size: this.bytes };
    } catch (err) {
      // As registry:2 does: a failed completion cancels the upload, so nothing stays behind.
      await this.removeFile();
      throw err;
    } finally {
      this.busy = false;
    }
  }

  async cancel(): Promise<void> {
    await this.removeFile();
  }

  async verify(expected: Digest, expectedSize?: number): Promise<void> {
    if (expectedSize !== undefined && expectedSize !== this.bytes) {
      throw new SizeMismatchError(`upload holds ${this.bytes} bytes, not the ${expectedSize} declared`);
    }
    const actual = await this.currentDigest(expected);
    if (actual !== expected) throw new DigestMismatchError(expected, actual);
  }

  private async currentDigest(expected: Digest): Promise<string> {
    const algorithm = digestAlgorithm(expected);
    if (algorithm === 'sha256') return `sha256:${this.hash.digest()}`;
    // Only sha256 is kept running; other algorithms are rare and hashed from the file.
    const { hash } = await hashFile(this.path, algorithm);
    return `${algorithm}:${hash.digest('hex')}`;
  }

  private async flush(): Promise<void> {
    const fh = await open(this.path, 'r');
    try {
      await fh.datasync();
    } finally {
      await fh.close();
    }
  }

  private async removeFile(): Promise<void> {
    this.store.forget(this.id);
    await unlink(this.path).catch((err: unknown) => {
      if (!isNotFound(err)) throw err;
    });
  }
}

