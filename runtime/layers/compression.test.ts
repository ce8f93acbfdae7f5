/** The decoders: both zstd ones (the zstd program and fzstd in process), bzip2 and xz, on data made by the real programs. */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, test } from 'node:test';

import { compressionOf, decompressor, findProgram, zstdDecompressor } from './compression.js';

// 8 MiB, half random (incompressible), half repetitive, in several zstd blocks
const plain = Buffer.concat([randomBytes(4 << 20), Buffer.alloc(4 << 20, 'wharf ')]);
const packed = execFileSync('zstd', ['-q', '-c', '-3'], { input: plain, maxBuffer: 64 << 20 });

/** Decodes `input` fed in `piece`-byte writes, read by a consumer that is slow now and then. */
async function decode(input: Buffer, inProcess: boolean, piece = 64 * 1024): Promise<Buffer> {
  const out: Buffer[] = [];
  let n = 0;
  const slowSink = new Writable({
    highWaterMark: 16 * 1024,
    write(chunk: Buffer, _e, done) {
      out.push(chunk);
      if (++n % 16 === 0) setTimeout(done, 1);
      else done();
    },
  });
  const pieces = Array.from({ length: Math.ceil(input.length / piece) }, (_, i) => input.subarray(i * piece, (i + 1) * piece));
  await pipeline(Readable.from(pieces), zstdDecompressor({ inProcess }), slowSink);
  return Buffer.concat(out);
}

describe('compression by magic, and its decoders', () => {
  test('each compression is known by its first bytes, whatever it is called; plain bytes are none', async () => {
    const made = { gzip: 'gzip', bzip2: 'bzip2', xz: 'xz', zstd: 'zstd' } as const;
    for (const [kind, tool] of Object.entries(made)) {
      const bytes = execFileSync(tool, ['-c'], { input: plain.subarray(0, 1 << 20), maxBuffer: 8 << 20 });
      assert.equal(compressionOf(bytes.subarray(0, 6)), kind, tool);
      const chunks: Buffer[] = [];
      await pipeline(Readable.from([bytes]), decompressor(kind as 'gzip')!, new Writable({ write: (c: Buffer, _e, done) => (chunks.push(c), done()) }));
      assert.ok(Buffer.concat(chunks).equals(plain.subarray(0, 1 << 20)), `${tool} decodes`);
    }
    assert.equal(compressionOf(plain.subarray(0, 6)), 'none');
    assert.equal(decompressor('none'), undefined);
  });

  test('the zstd program is found on PATH (the package zstd, installed by .ci/run)', () => {
    assert.match(findProgram('zstd') ?? '', /\/zstd$/);
  });

  for (const inProcess of [false, true]) {
    const which = inProcess ? 'fzstd in process' : 'the zstd program';
    test(`${which}: decodes byte for byte, with backpressure from a slow reader`, async () => {
      const got = await decode(packed, inProcess);
      assert.equal(got.length, plain.length);
      assert.ok(got.equals(plain));
    });

    test(`${which}: a corrupt stream and a truncated one are errors, not short output`, async () => {
      const corrupt = Buffer.from(packed);
      corrupt.fill(0xff, 8, 4096);
      await assert.rejects(decode(corrupt, inProcess), /zstd: not a valid zstd stream/);
      await assert.rejects(decode(packed.subarray(0, packed.length - 1000), inProcess), /zstd: not a valid zstd stream/);
    });
  }
});
