/** Both zstd decoders (the zstd program and fzstd in process) on data made by the real zstd. */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, test } from 'node:test';

import { zstdDecompressor, zstdProgram } from './zstd.js';

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

describe('zstd decoders', () => {
  test('the zstd program is found on PATH (the package zstd, installed by .ci/run)', () => {
    assert.match(zstdProgram() ?? '', /\/zstd$/);
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
