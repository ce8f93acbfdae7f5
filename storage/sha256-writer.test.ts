/** The upload hash-and-write state, native (when built) and node:crypto alike, on real files. */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, open, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createSha256Writer, nativeSha256Available } from './sha256-writer.js';

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

function chunksOf(total: number, seed: number): Buffer[] {
  const out: Buffer[] = [];
  for (let n = 0, i = 0; n < total; i++) {
    const size = Math.min(total - n, 1 + ((i * 7919 + seed) % 300_000));
    const b = Buffer.alloc(size);
    for (let j = 0; j < size; j += 97) b[j] = (j + i + seed) & 0xff;
    out.push(b);
    n += size;
  }
  return out;
}

for (const native of [true, false]) {
  describe(`Sha256Writer (${native ? 'addon' : 'node:crypto'})`, () => {
    let dir: string;
    before(async () => {
      dir = await mkdtemp(join(tmpdir(), 'wharf-sha256-'));
    });
    after(() => rm(dir, { recursive: true, force: true }));

    if (native) {
      it('is the addon (npm ci builds it)', () => {
        assert.equal(nativeSha256Available(), true);
      });
    }

    it('hashes and writes batches in order at their offsets; copy and digest keep the state', async () => {
      const path = join(dir, `w-${native}`);
      const fh = await open(path, 'w+');
      try {
        const w = createSha256Writer({ native });
        assert.equal(w.digest(), sha256(Buffer.alloc(0)));
        const first = chunksOf(3 << 20, 1);
        const second = [Buffer.alloc(0), ...chunksOf(5 << 20, 2)];
        const firstBytes = Buffer.concat(first);
        await w.write(fh.fd, 0, first);
        const atFirst = w.copy();
        await w.write(fh.fd, firstBytes.length, second);
        const all = Buffer.concat([firstBytes, ...second]);
        assert.equal(w.digest(), sha256(all));
        assert.equal(w.digest(), sha256(all), 'digest leaves the state as it was');
        assert.equal(atFirst.digest(), sha256(firstBytes));
        assert.ok((await readFile(path)).equals(all));
        const resumed = createSha256Writer({ native });
        assert.equal(await resumed.hashFile(fh.fd, 0), all.length);
        assert.equal(resumed.digest(), sha256(all));
        const tail = createSha256Writer({ native });
        assert.equal(await tail.hashFile(fh.fd, firstBytes.length), all.length - firstBytes.length);
        assert.equal(tail.digest(), sha256(all.subarray(firstBytes.length)));
      } finally {
        await fh.close();
      }
    });

    it('a write to a file not open for writing fails with its errno', async () => {
      const path = join(dir, `ro-${native}`);
      await (await open(path, 'w')).close();
      const fh = await open(path, 'r');
      try {
        await assert.rejects(createSha256Writer({ native }).write(fh.fd, 0, [Buffer.from('x')]), { code: 'EBADF' });
      } finally {
        await fh.close();
      }
    });
  });
}

describe('Sha256Writer (addon): one job at a time', () => {
  it('copy and digest refuse while a write runs', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'wharf-sha256-'));
    const fh = await open(join(dir, 'busy'), 'w+');
    try {
      const w = createSha256Writer();
      const running = w.write(fh.fd, 0, [Buffer.alloc(4 << 20, 1)]);
      assert.throws(() => w.digest(), /a job is running/);
      assert.throws(() => w.copy(), /a job is running/);
      await running;
      assert.equal(w.digest(), sha256(Buffer.alloc(4 << 20, 1)));
    } finally {
      await fh.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
