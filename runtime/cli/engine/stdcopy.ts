/**
 * Docker's multiplexed stream (moby `pkg/stdcopy`): without a TTY, attach, exec and logs
 * send frames of an 8-byte header — stream (0 stdin, 1 stdout, 2 stderr, 3 systemerr),
 * three zero bytes, a big-endian uint32 length — then that many bytes. Frames may be
 * split or joined arbitrarily by the transport, so the demuxer keeps what it has not yet
 * framed.
 */

export const STREAM_STDIN = 0;
export const STREAM_STDOUT = 1;
export const STREAM_STDERR = 2;
/** the daemon's own error, sent in-band (moby: Systemerr) */
export const STREAM_SYSTEMERR = 3;

export type FrameHandler = (stream: number, payload: Buffer) => void;

export class Demuxer {
  private pending: Buffer = Buffer.alloc(0);

  constructor(private readonly onFrame: FrameHandler) {}

  push(chunk: Buffer): void {
    this.pending = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    while (this.pending.length >= 8) {
      const stream = this.pending[0]!;
      if (stream > 3 || this.pending[1] !== 0 || this.pending[2] !== 0 || this.pending[3] !== 0) {
        throw new Error(`not a multiplexed stream: unexpected header byte ${stream}`);
      }
      const size = this.pending.readUInt32BE(4);
      if (this.pending.length < 8 + size) return;
      const payload = this.pending.subarray(8, 8 + size);
      this.pending = this.pending.subarray(8 + size);
      this.onFrame(stream, payload);
    }
  }

  /** Bytes left that did not make a whole frame (0 at a clean end). */
  get leftover(): number {
    return this.pending.length;
  }
}

/** One frame, as the daemon writes it. */
export function frame(stream: number, payload: Buffer | string): Buffer {
  const body = typeof payload === 'string' ? Buffer.from(payload) : payload;
  const header = Buffer.alloc(8);
  header[0] = stream;
  header.writeUInt32BE(body.length, 4);
  return Buffer.concat([header, body]);
}
