/**
 * Single-flight cache fills: one upstream download per digest, however many clients ask.
 *
 * The first request starts a fill: the upstream body streams into an Upload of the blob
 * store (hashed as it is written, as a push is; no write-back forced while it runs, one
 * fsync at commit), and every request for that digest -- first or late -- follows the
 * growing upload file from where it wants to start: by sendfile(2) from the file on plain
 * HTTP (blobFile gives a GrowingFile), else as a stream of reads. Nothing is re-read to
 * verify, and a reader never waits for the disk, only for the upstream. A client that
 * goes away stops only its own reader; the fill goes on for the others and for the cache.
 * Readers hold back the blob's last byte until the digest and size verified, so no client
 * ever receives a whole blob that has not; on a mismatch or an upstream failure before
 * that, every reader's stream errors and the connection is cut short. The blob becomes
 * visible (fsynced, renamed into the store, linked) after it verified.
 */
import { randomUUID } from 'node:crypto';
import { EventEmitter, once } from 'node:events';
import { Readable } from 'node:stream';
import { UploadUnknownError } from '../../storage/errors.js';
import type { BlobInfo, BlobStore, ByteRange, GrowingFile, Upload } from '../../storage/types.js';
import type { Digest } from '../../oci/names.js';
import type { BlobResponse } from '../../oci/client.js';

/** A stream follower reads the growing file in batches of at least this much (or to its end). */
const FOLLOW_BATCH_BYTES = 1 << 20;

export class BlobFill extends EventEmitter {
  /** filling -> verified (every byte written, digest and size right) -> committed; or failed */
  state: 'filling' | 'verified' | 'committed' | 'failed' = 'filling';
  /** set when it failed: before it verified, readers' streams error with it */
  error: Error | undefined;
  /** bytes in the upload's file so far */
  written = 0;
  /** the digest and size checked out: readers may have every byte */
  verified = false;
  readonly done: Promise<BlobInfo>;
  private upload: Upload | undefined;
  private readonly begun: Promise<Upload>;

  constructor(
    readonly digest: Digest,
    readonly size: number,
    /** `upstream/remote-repository` the bytes come from: only requests for that source join */
    readonly source: string,
    private readonly blobs: BlobStore,
    open: () => Promise<BlobResponse>,
    /** runs after the verified commit, before readers are told: link, record cache state */
    private readonly onCommitted: (info: BlobInfo) => Promise<void>,
    /** commit and link run inside it (GC's barrier: a committed blob is never seen unlinked) */
    private readonly guard: <T>(fn: () => Promise<T>) => Promise<T> = (fn) => fn(),
  ) {
    super();
    this.setMaxListeners(0);
    this.begun = this.blobs.beginUpload(randomUUID());
    this.begun.catch(() => undefined);
    this.done = this.run(open);
    // Readers observe failures through their streams; the promise itself is for bookkeeping.
    this.done.catch(() => undefined);
  }

  private async run(open: () => Promise<BlobResponse>): Promise<BlobInfo> {
    try {
      const upload = (this.upload = await this.begun);
      const response = await open();
      if (response.size !== undefined && response.size !== this.size) {
        response.body.destroy();
        throw new Error(`upstream announced ${response.size} bytes for ${this.digest}, not the ${this.size} it reported before`);
      }
      await upload.append(response.body, 0, this.size, {
        syncAhead: false,
        onWritten: (size) => {
          this.written = size;
          this.emit('progress');
        },
      });
      await upload.verify(this.digest, this.size);
      this.verified = true;
      this.state = 'verified';
      this.emit('progress');
      const info = await this.guard(async () => {
        const committed = await upload.commit(this.digest, this.size);
        await this.onCommitted(committed);
        return committed;
      });
      this.state = 'committed';
      this.emit('progress');
      return info;
    } catch (err) {
      this.error = err as Error;
      this.state = 'failed';
      await this.upload?.cancel().catch(() => undefined);
      this.emit('progress');
      throw err;
    }
  }

  /** How far a reader may go now: everything once verified, else what is on file minus the last byte. */
  private readable(): number {
    return this.verified ? this.size : Math.min(this.written, this.size - 1);
  }

  /** Resolves once more than `from` bytes may be read, with how many; rejects if they never will. */
  async readableAfter(from: number): Promise<number> {
    for (;;) {
      const readable = this.readable();
      if (readable > from) return readable;
      if (this.state === 'failed' && !this.verified) throw this.error ?? new Error('cache fill failed');
      await once(this, 'progress');
    }
  }

  /** The growing file for sendfile(2), while there is one to open (until commit renames it). */
  file(): GrowingFile | undefined {
    if (this.state === 'committed' || this.state === 'failed') return undefined;
    return {
      path: async () => {
        const upload = await this.begun.catch(() => undefined);
        return this.state === 'committed' || this.state === 'failed' ? undefined : upload?.localPath;
      },
      readableAfter: (from) => this.readableAfter(from),
    };
  }

  /** A stream of [range.start, range.end] (default: all) that follows the fill. */
  follow(range?: ByteRange): Readable {
    return Readable.from(this.chunks(range?.start ?? 0, range ? range.end + 1 : this.size), { objectMode: false });
  }

  private async *chunks(start: number, end: number): AsyncGenerator<Buffer> {
    let pos = start;
    while (pos < end) {
      if (this.state === 'committed') {
        yield* (await this.blobs.read(this.digest, { start: pos, end: end - 1 })) as AsyncIterable<Buffer>;
        return;
      }
      // Read in batches rather than once per write: one open per MiB at least.
      const readable = await this.readableAfter(Math.min(pos + FOLLOW_BATCH_BYTES, end) - 1);
      let got = 0;
      try {
        const stream = await (await this.begun).read({ start: pos, end: Math.min(readable, end) - 1 });
        for await (const c of stream as AsyncIterable<Buffer>) {
          got += c.length;
          pos += c.length;
          yield c;
        }
      } catch (err) {
        // Committed (renamed) or cancelled between our check and the read: the state says which.
        if (!(err instanceof UploadUnknownError) && (err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      }
      if (got > 0) continue;
      // The upload's file is gone: it failed, or it commits and the store is about to have the blob.
      const state = this.state as BlobFill['state'];
      if (state === 'failed') throw this.error ?? new Error('cache fill failed');
      if (state !== 'committed') await once(this, 'progress');
    }
  }
}

/** Fills in flight, by digest. */
export class BlobFills {
  private readonly inFlight = new Map<Digest, BlobFill>();

  get(digest: Digest): BlobFill | undefined {
    return this.inFlight.get(digest);
  }

  get count(): number {
    return this.inFlight.size;
  }

  /** The fill for `digest`: the running one (joined: true), or a new one started now. */
  join(digest: Digest, start: () => BlobFill): { fill: BlobFill; joined: boolean } {
    const running = this.inFlight.get(digest);
    if (running) return { fill: running, joined: true };
    const fill = start();
    this.inFlight.set(digest, fill);
    const forget = () => {
      if (this.inFlight.get(digest) === fill) this.inFlight.delete(digest);
    };
    fill.done.then(forget, forget);
    return { fill, joined: false };
  }

  /** Wait for every running fill to end (at close). */
  async settle(): Promise<void> {
    await Promise.allSettled([...this.inFlight.values()].map((f) => f.done));
  }
}
