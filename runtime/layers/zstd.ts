/**
 * zstd decompression, for OCI `tar+zstd` layers and ADD's archives. Node 20's zlib has no
 * zstd. The node's `zstd` program (Debian's zstd) decodes at hundreds of MB/s on its own
 * core, far ahead of any JavaScript decoder, and keeps that work off the daemon's thread
 * and its JIT; where it is not installed, fzstd's streaming decoder runs in process.
 * Either way a stream that is not valid zstd is an error of the stream.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants as fsc } from 'node:fs';
import { delimiter, join } from 'node:path';
import { Duplex, Transform } from 'node:stream';
import { Decompress as ZstdDecompress } from 'fzstd';

let program: string | null | undefined;

/** The `zstd` program on PATH (looked up once), or null. */
export function zstdProgram(): string | null {
  if (program === undefined) {
    program = null;
    for (const dir of (process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin').split(delimiter)) {
      if (!dir) continue;
      try {
        accessSync(join(dir, 'zstd'), fsc.X_OK);
        program = join(dir, 'zstd');
        break;
      } catch {
        /* not here */
      }
    }
  }
  return program;
}

/** A stream that takes zstd and gives what it decodes to: the program when there is one. */
export function zstdDecompressor(opts: { inProcess?: boolean } = {}): Duplex {
  const path = opts.inProcess ? null : zstdProgram();
  return path ? new ProgramDecoder(path) : inProcessDecoder();
}

/** `zstd -d -c -q`: our writes go to its stdin, its stdout is what we read; the output ends
 * only once the program exited 0, so a truncated or corrupt stream is an error, never a short one. */
class ProgramDecoder extends Duplex {
  private readonly child: ChildProcess;
  private stderr = '';
  private exited = false;

  constructor(path: string) {
    super();
    this.child = spawn(path, ['-d', '-c', '-q'], { stdio: ['pipe', 'pipe', 'pipe'] });
    const { stdin, stdout, stderr } = this.child;
    stderr!.setEncoding('utf8').on('data', (d: string) => (this.stderr = (this.stderr + d).slice(-2000)));
    // a program that stops reading (bad input) closes its stdin: its exit status says why
    stdin!.on('error', () => undefined);
    stdout!.on('data', (d: Buffer) => {
      if (!this.push(d)) stdout!.pause();
    });
    this.child.on('error', (e) => this.destroy(e));
    this.child.on('close', (code, signal) => {
      this.exited = true;
      if (code === 0) this.push(null);
      else if (!this.destroyed) this.destroy(new Error(`zstd: not a valid zstd stream (${signal ?? `exit ${code}`}): ${this.stderr.trim()}`));
    });
  }

  override _read(): void {
    this.child.stdout!.resume();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, done: (err?: Error | null) => void): void {
    const stdin = this.child.stdin!;
    if (stdin.write(chunk)) return done();
    const go = () => {
      stdin.off('drain', go).off('close', go);
      done();
    };
    stdin.on('drain', go).on('close', go);
  }

  override _final(done: (err?: Error | null) => void): void {
    this.child.stdin!.end();
    done();
  }

  override _destroy(err: Error | null, done: (err?: Error | null) => void): void {
    if (!this.exited) this.child.kill('SIGKILL');
    done(err);
  }
}

function inProcessDecoder(): Transform {
  const out = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      try {
        zstd.push(chunk);
        done();
      } catch (err) {
        done(new Error(`zstd: not a valid zstd stream: ${(err as Error).message}`));
      }
    },
    flush(done) {
      try {
        zstd.push(new Uint8Array(0), true);
        done();
      } catch (err) {
        done(new Error(`zstd: not a valid zstd stream: ${(err as Error).message}`));
      }
    },
  });
  const zstd = new ZstdDecompress((data) => {
    out.push(Buffer.from(data.buffer, data.byteOffset, data.byteLength));
  });
  return out;
}
