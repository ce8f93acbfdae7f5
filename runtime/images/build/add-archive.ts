/**
 * ADD's local archives, detected as moby's classic builder does (builder/dockerfile/copy.go
 * isArchivePath, pkg/archive DecompressStream): a source file is an archive when, decompressed
 * by its magic (gzip, bzip2, xz, zstd, or none), it begins with a valid tar header. Anything
 * else (a gzip'd text file, an empty tar, a short file) is copied as the file it is.
 *
 * The decoders are runtime/layers/compression.ts's, as for layers.
 */
import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { pipeline, type Readable } from 'node:stream';

import { compressionOf, decompressor, type Compression } from '../../layers/compression.js';

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

/** The file's bytes, decompressed; a failure to decompress is an error of the stream. */
export function decompressedFile(path: string, compression: Compression): Readable {
  const file = createReadStream(path);
  const decode = decompressor(compression);
  return decode ? pipeline(file, decode, () => undefined) : file;
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
