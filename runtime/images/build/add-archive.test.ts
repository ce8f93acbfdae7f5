/** ADD's archive detection against real files made by tar, gzip, bzip2, xz and zstd. */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';

import { archiveCompression, decompressedFile, isTarHeader } from './add-archive.js';

let dir: string;
let tar: Buffer;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'wharf-add-archive-'));
  await writeFile(join(dir, 'a.txt'), 'hello\n');
  tar = execFileSync('tar', ['-C', dir, '--owner=0', '--group=0', '-cf', '-', 'a.txt']);
  await writeFile(join(dir, 'x.tar'), tar);
  for (const [tool, ext] of [['gzip', 'gz'], ['bzip2', 'bz2'], ['xz', 'xz'], ['zstd', 'zst']] as const) {
    await writeFile(join(dir, `x.tar.${ext}`), execFileSync(tool, ['-c'], { input: tar }));
    await writeFile(join(dir, `text.${ext}`), execFileSync(tool, ['-c'], { input: 'just text, no tar\n'.repeat(100) }));
  }
  await writeFile(join(dir, 'empty.tar'), Buffer.alloc(1024));
  await writeFile(join(dir, 'short.bin'), 'BZh');
});

after(() => rm(dir, { recursive: true, force: true }));

async function readAll(s: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of s) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

describe('ADD archive detection (moby isArchivePath)', () => {
  test('a tar, plain or compressed four ways, is an archive, and decompresses to the same tar', async () => {
    for (const [name, want] of [['x.tar', 'none'], ['x.tar.gz', 'gzip'], ['x.tar.bz2', 'bzip2'], ['x.tar.xz', 'xz'], ['x.tar.zst', 'zstd']] as const) {
      const path = join(dir, name);
      assert.equal(await archiveCompression(path), want, name);
      assert.deepEqual(await readAll(decompressedFile(path, want)), tar, `${name} decompresses to the tar`);
    }
  });

  test('compressed text, an empty tar and a file shorter than a header are not archives', async () => {
    for (const name of ['text.gz', 'text.bz2', 'text.xz', 'text.zst', 'empty.tar', 'short.bin']) {
      assert.equal(await archiveCompression(join(dir, name)), undefined, name);
    }
  });

  test('a tar header with one byte changed fails its checksum', () => {
    const block = Buffer.from(tar.subarray(0, 512));
    assert.equal(isTarHeader(block), true);
    block[10] = (block[10]! + 1) & 0xff;
    assert.equal(isTarHeader(block), false);
  });

  test('a truncated xz archive is an error of the stream, not a short tar', async () => {
    const whole = await readFile(join(dir, 'x.tar.xz'));
    const cut = join(dir, 'cut.tar.xz');
    await writeFile(cut, whole.subarray(0, whole.length - 20));
    await assert.rejects(readAll(decompressedFile(cut, 'xz')), /xz: not a valid xz stream/);
  });
});
