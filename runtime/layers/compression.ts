/**
 * Compressed tars, for layers and ADD's archives: the compression a stream's first bytes
 * announce (moby's DetectCompression: by magic, never by media type or name), and a stream
 * that decodes it.
 *
 *   gzip    node's zlib
 *   zstd    Node 20's zlib has none: the node's `zstd` program (Debian's zstd) when it is on
 *           PATH (hundreds of MB/s on its own core, off the daemon's thread and its JIT),
 *           else fzstd's streaming decoder in process
 *   bzip2   the node's `bzip2`, and xz the node's `xz` (dockerd runs `xz` the same way)
 *
 * A stream that does not decode (corrupt, truncated) is an error of the decoder, never a
 * short output.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants as fsc } from 'node:fs';
import { delimiter, join } from 'node:path';
import { Duplex, Transform } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { Decompress as ZstdDecompress } from 'fzstd';

export type Compression = 'none' | 'gzip' | 'bzip2' | 'xz' | 'zstd';

const XZ_MAGIC = Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]);

/** The compression a stream's first bytes (6 are enough) announce. */
export function compressionOf(head: Buffer): Compression {
  if (head.length >= 3 && head[0] === 0x1f && head[1] === 0x8b && head[2] === 0x08) return 'gzip';
  if (head.length >= 3 && head.toString('latin1', 0, 3) === 'BZh') return 'bzip2';
  if (head.length >= 6 && head.subarray(0, 6).equals(XZ_MAGIC)) return 'xz';
  if (head.length >= 4 && head.readUInt32LE(0) === 0xfd2fb528) return 'zstd';
  return 'none';
}

/** The Debian package of each program, for the message when it is missing. */
const PACKAGES = { bzip2: 'bzip2', xz: 'xz-utils', zstd: 'zstd' } as const;

/** A stream that decodes `compression` (undefined for none). */
export function decompressor(compression: Compression): Duplex | undefined {
  switch (compression) {
    case 'none':
      return undefined;
    case 'gzip':
      return createGunzip();
    case 'zstd':
      return zstdDecompressor();
    case 'bzip2':
    case 'xz': {
      const path = findProgram(compression);
      if (!path) throw new Error(`a ${compression} archive needs \`${compression}\` on the node: apt-get install ${PACKAGES[compression]}`);
      return new ProgramDecoder(path, compression);
    }
  }
}

const programs = new Map<string, string | null>();

/** A program on PATH (looked up once per name), or null. */
export function findProgram(name: string): string | null {
  let found = programs.get(name);
  if (found === undefined) {
    found = null;
    for (const dir of (process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin').split(delimiter)) {
      if (!dir) continue;
      try {
        accessSync(join(dir, name), fsc.X_OK);
        found = join(dir, name);
        break;
      } catch {
        /* not here */
      }
    }
    programs.set(name, found);
  }
  return found;
}

/** zstd: the program when there is one, else fzstd in process (or when asked for). */
export function zstdDecompressor(opts: { inProcess?: boolean } = {}): Duplex {
  const path = opts.inProcess ? null : findProgram('zstd');
  return path ? new ProgramDecoder(path, 'zstd') : inProcessZstd();
}

/** `<program> -d -c -q`: our writes go to its stdin, its stdout is what we read; the output
 * ends only once the program exited 0. */
class ProgramDecoder extends Duplex {
  private readonly child: ChildProcess;
  private stderr = '';
  private exited = false;

  constructor(path: string, private readonly format: string) {
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
      else if (!this.destroyed) this.destroy(new Error(`${this.format}: not a valid ${this.format} stream (${signal ?? `exit ${code}`}): ${this.stderr.trim()}`));
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

function inProcessZstd(): Transform {
  const fail = (err: unknown) => new Error(`zstd: not a valid zstd stream: ${(err as Error).message}`);
  const out = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      try {
        zstd.push(chunk);
        done();
      } catch (err) {
        done(fail(err));
      }
    },
    flush(done) {
      try {
        zstd.push(new Uint8Array(0), true);
        done();
      } catch (err) {
        done(fail(err));
      }
    },
  });
  const zstd = new ZstdDecompress((data) => {
    out.push(Buffer.from(data.buffer, data.byteOffset, data.byteLength));
  });
  return out;
}
