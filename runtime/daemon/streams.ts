/**
 * Stream plumbing of attach and exec start: between a hijacked client connection and a
 * shim's attach socket. The shim sends the Engine API's 8-byte frames
 * ([stream, 0, 0, 0, u32 BE length] + payload) and one 0xff frame with the exit; with a
 * TTY the client gets the payloads raw, else the frames as they are. Detach keys
 * (default Ctrl-P Ctrl-Q) in the client's input end the attach without touching stdin.
 */
import type { Socket } from 'node:net';
import type { Hijacked } from './router.js';
import { badParameter } from './errors.js';

export const STREAM_EXIT = 0xff;

/** Splits 8-byte frames out of a byte stream. */
export class FrameReader {
  private buf: Buffer = Buffer.alloc(0);
  push(chunk: Buffer, onFrame: (stream: number, payload: Buffer) => void): void {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    while (this.buf.length >= 8) {
      const len = this.buf.readUInt32BE(4);
      if (this.buf.length < 8 + len) break;
      onFrame(this.buf[0]!, this.buf.subarray(8, 8 + len));
      this.buf = this.buf.subarray(8 + len);
    }
  }
}

export function frame(stream: number, payload: Buffer): Buffer {
  const h = Buffer.alloc(8);
  h[0] = stream;
  h.writeUInt32BE(payload.length, 4);
  return Buffer.concat([h, payload]);
}

/** `detachKeys=ctrl-p,ctrl-q` -> bytes (moby pkg/term ToBytes). */
export function parseDetachKeys(spec: string | null): number[] {
  const s = spec || 'ctrl-p,ctrl-q';
  return s.split(',').map((k) => {
    const key = k.trim().toLowerCase();
    if (key.length === 1) return key.charCodeAt(0);
    const m = /^ctrl-([a-z@[\\\]^_])$/.exec(key);
    if (!m) throw badParameter(`Invalid detach keys (${spec}) provided`);
    const c = m[1]!;
    return c >= 'a' && c <= 'z' ? c.charCodeAt(0) - 96 : c.charCodeAt(0) - 64;
  });
}

export interface PipeOptions {
  tty: boolean;
  stdin: boolean;
  detachKeys: number[];
  /** called with the exit frame's text ("exited <code> <signal>") */
  onExit?: (line: string) => void;
}

/** Connects a client and a shim attach socket until either side ends. */
export function pipeAttach(client: Hijacked, shim: Socket, o: PipeOptions): Promise<void> {
  return new Promise((resolve) => {
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      shim.destroy();
      if (client.socket) client.socket.end();
      else client.output.end();
      resolve();
    };
    const reader = new FrameReader();
    shim.on('data', (chunk: Buffer) => {
      reader.push(chunk, (stream, payload) => {
        if (stream === STREAM_EXIT) {
          o.onExit?.(payload.toString('utf8'));
          finish();
          return;
        }
        if (!client.output.writable) return;
        client.output.write(o.tty ? payload : frame(stream, payload));
      });
    });
    shim.on('end', finish);
    shim.on('close', finish);
    shim.on('error', finish);
    let matched = 0;
    if (o.stdin) {
      client.input.on('data', (chunk: Buffer) => {
        if (done) return;
        // Detach keys: pass everything but a complete sequence.
        if (o.detachKeys.length > 0 && o.tty) {
          for (const byte of chunk) {
            if (byte === o.detachKeys[matched]) {
              matched++;
              if (matched === o.detachKeys.length) {
                finish();
                return;
              }
            } else matched = 0;
          }
        }
        shim.write(chunk);
      });
      client.input.on('end', () => {
        if (!done) shim.end(); // the shim closes stdin when StdinOnce
      });
    }
    client.input.on('error', finish);
    (client.socket ?? client.output).on('close', finish);
    client.input.resume();
  });
}
