/**
 * ADD's local archives, detected as moby's classic builder does (builder/dockerfile/copy.go
 * isArchivePath, pkg/archive DecompressStream): a source file is an archive when, decompressed
 * by its magic (gzip, bzip2, xz, zstd, or none), it begins with a valid tar header. Anything
 * else (a gzip'd text file, an empty tar, a short file) is copied as the file it is.
 *
 * gzip and zstd are decompressed in process; bzip2 and xz by the node's `bzip2` and `xz`
 * (dockerd runs `xz` the same way), fed the file on stdin.
 */
import { spawn } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { PassThrough, pipeline, type Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';

import { zstdDecompressor } from '../../layers/zstd.js';

export type Compression = 'none' | 'gzip' | 'bzip2' | 'xz' | 'zstd';

const XZ_MAGIC = Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]);

/** The compression a file's first bytes announce (moby's DetectCompression). */
export function compressionOf(head: Buffer): Compression {
  if (head.length >= 3 && head[0] === 0x1f && head[1] === 0x8b && head[2] === 0x08) return 'gzip';
  if (head.length >= 3 && head.toString('latin1', 0, 3) === 'BZh') return 'bzip2';
  if (head.length >= 6 && head.subarray(0, 6).equals(XZ_MAGIC)) return 'xz';
  if (head.length >= 4 && head.readUInt32LE(0) === 0xfd2fb528) return 'zstd';
  return 'none';
}

/** Whether a 512-byte block is a tar header: not all zeros, and its checksum adds up
 * (the unsigned or the historical signed sum, as Go's archive/tar accepts). */
export function isTarHeader(block: Buffer): boolean {
  if (block.length < 512 || block.subarray(0, 512).every((b) => b === 0)) return false;
  const field = block.toString('latin1', 148, 156).replace(/[\0 ]+$/, '').trim();
  if (!/^[0-7]+$/.test(field)) return false;
  const stored = parseInt(field, 8);
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < 512; i++) {
    const b = i >= 148 && i < 156 ? 0x20 : block[i]!;
    unsigned += b;
    signed += b > 127 ? b - 256 : b;
  }
  return stored === unsigned || stored === signed;
}

const TOOLS = { bzip2: { cmd: 'bzip2', pkg: 'bzip2' }, xz: { cmd: 'xz', pkg: 'xz-utils' } } as const;

/** The file's bytes, decompressed; a failure to decompress is an error of the stream. */
export function decompressedFile(path: string, compression: Compression): Readable {
  const file = createReadStream(path);
  const noop = () => undefined;
  switch (compression) {
    case 'none':
      return file;
    case 'gzip':
      return pipeline(file, createGunzip(), noop);
    case 'zstd':
      return pipeline(file, zstdDecompressor(), noop);
    case 'bzip2':
    case 'xz': {
      const tool = TOOLS[compression];
      const out = new PassThrough();
      const child = spawn(tool.cmd, ['-d', '-c', '-q'], { stdio: ['pipe', 'pipe', 'pipe'] });
      let stderr = '';
      let exited = false;
      child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
      child.stdin.on('error', noop);
      file.on('error', (e) => out.destroy(e));
      file.pipe(child.stdin);
      child.stdout.pipe(out, { end: false });
      child.on('error', (e: NodeJS.ErrnoException) =>
        out.destroy(e.code === 'ENOENT' ? new Error(`ADD of a ${compression} archive needs \`${tool.cmd}\` on the node: apt-get install ${tool.pkg}`) : e),
      );
      // every byte of stdout has been passed on by the time the process is closed
      child.on('close', (code, signal) => {
        exited = true;
        if (code === 0) out.end();
        else if (!out.destroyed) out.destroy(new Error(`${tool.cmd} could not decompress the archive (${signal ?? `exit ${code}`}): ${stderr.trim()}`));
      });
      out.on('close', () => {
        file.destroy();
        if (!exited) child.kill('SIGKILL');
      });
      return out;
    }
  }
}

/** How to decompress `path` into a tar, or undefined when it is not an archive ADD extracts. */
export async function archiveCompression(path: string): Promise<Compression | undefined> {
  const fh = await open(path, 'r');
  let head: Buffer;
  try {
    head = Buffer.alloc(8);
    const { bytesRead } = await fh.read(head, 0, 8, 0);
    head = head.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
  const compression = compressionOf(head);
  const block = await firstBytes(decompressedFile(path, compression), 512);
  return block && isTarHeader(block) ? compression : undefined;
}

/** The first n bytes of a stream (undefined when it ends sooner or fails); the stream is then closed. */
function firstBytes(stream: Readable, n: number): Promise<Buffer | undefined> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let got = 0;
    const finish = (value: Buffer | undefined) => {
      stream.off('data', onData);
      stream.destroy();
      resolve(value);
    };
    const onData = (c: Buffer) => {
      chunks.push(c);
      got += c.length;
      if (got >= n) finish(Buffer.concat(chunks).subarray(0, n));
    };
    stream.on('data', onData);
    stream.on('end', () => finish(undefined));
    stream.on('error', () => finish(undefined));
  });
}
