/**
 * Single-flight cache fills: one upstream download per digest, however many clients ask.
 *
 * The first request starts a fill: the upstream body streams into an Upload of the blob
 * store (hashed as it is written, as a push is), and every request for that digest --
 * first or late -- follows the growing upload file from where it wants to start. A
 * client that goes away stops only its own reader; the fill goes on for the others and
 * for the cache. The blob becomes visible (renamed into the store, linked) only after its
 * digest and size verified. Until then a reader holds back the blob's last byte, so no
 * client ever receives a whole blob that has not verified; on a mismatch or an upstream
 * failure every reader's stream errors, and the connection is cut short.
 */
import { randomUUID } from 'node:crypto';
import { EventEmitter, once } from 'node:events';
import { Readable, Transform } from 'node:stream';
import { UploadUnknownError } from '../../storage/errors.js';
import type { BlobInfo, BlobStore, ByteRange, Upload } from '../../storage/types.js';
import type { Digest } from '../../oci/names.js';
import type { BlobResponse } from '../../oci/client.js';

type FillState = 'filling' | 'done' | 'failed';

/** A follower reads the growing file in batches of at least this much (or to its end). */
const FOLLOW_BATCH_BYTES = 1 << 20;

export class BlobFill extends EventEmitter {
  state: FillState = 'filling';
  error: Error | undefined;
  /** bytes handed to the upload so far (the file may lag a little behind) */
  received = 0;
  readonly done: Promise<BlobInfo>;
  private upload: Upload | undefined;

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
    this.done = this.run(open);
    // Readers observe failures through their streams; the promise itself is for bookkeeping.
    this.done.catch(() => undefined);
  }

  private async run(open: () => Promise<BlobResponse>): Promise<BlobInfo> {
    try {
      this.upload = await this.blobs.beginUpload(randomUUID());
      const response = await open();
      if (response.size !== undefined && response.size !== this.size) {
        response.body.destroy();
        throw new Error(`upstream announced ${response.size} bytes for ${this.digest}, not the ${this.size} it reported before`);
      }
      const counter = new Transform({
        transform: (chunk: Buffer, _enc, cb) => {
          this.received += chunk.length;
          cb(null, chunk);
          this.emit('progress');
        },
      });
      response.body.on('error', (err) => counter.destroy(err));
      await this.upload.append(response.body.pipe(counter), 0, this.size);
      const upload = this.upload;
      const info = await this.guard(async () => {
        const committed = await upload.commit(this.digest, this.size);
        await this.onCommitted(committed);
        return committed;
      });
      this.state = 'done';
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

  /** How far a reader may go now: everything once verified, else what arrived minus the last byte. */
  private readable(): number {
    return this.state === 'done' ? this.size : Math.min(this.received, this.size - 1);
  }

  /** A stream of [range.start, range.end] (default: all) that follows the fill. */
  follow(range?: ByteRange): Readable {
    return Readable.from(this.chunks(range?.start ?? 0, range ? range.end + 1 : this.size), { objectMode: false });
  }

  private async *chunks(start: number, end: number): AsyncGenerator<Buffer> {
    let pos = start;
    while (pos < end) {
      if (this.state === 'failed') throw this.error ?? new Error('cache fill failed');
      if (this.state === 'done') {
        yield* (await this.blobs.read(this.digest, { start: pos, end: end - 1 })) as AsyncIterable<Buffer>;
        return;
      }
      // Read in batches rather than once per upstream chunk: one open per MiB, not per 64 KiB.
      if (this.readable() - pos < Math.min(FOLLOW_BATCH_BYTES, end - pos)) {
        await once(this, 'progress');
        continue;
      }
      let got = 0;
      try {
        const stream = await this.upload!.read({ start: pos, end: Math.min(this.readable(), end) - 1 });
        for await (const c of stream as AsyncIterable<Buffer>) {
          got += c.length;
          pos += c.length;
          yield c;
        }
      } catch (err) {
        // Committed (renamed) or cancelled between our check and the read: the state says which.
        if (!(err instanceof UploadUnknownError) && (err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      }
      // The file lags what was received by a write batch: wait rather than spin.
      if (got === 0 && this.state === 'filling') await once(this, 'progress');
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
