import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { lstat, mkdtemp, readFile, readlink, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { buildLayer, type LayerEntry } from '../../../spec-tests/support/images.js';
import { extractContext } from './context.js';

async function extract(t: { after: (f: () => Promise<void>) => void }, entries: LayerEntry[], gzip: boolean): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'wharf-ctx-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const layer = await buildLayer(entries, { gzip });
  await extractContext(Readable.from([layer.blob]), join(dir, 'c'));
  return join(dir, 'c');
}

test('a context tar (plain or gzip) is extracted with modes, mtimes, links; .wh. names are plain files', async (t) => {
  for (const gzip of [false, true]) {
    const mtime = new Date('2024-05-06T07:08:09Z');
    const c = await extract(
      t,
      [
        { type: 'dir', path: 'src' },
        { type: 'file', path: 'src/run.sh', content: 'echo hi\n', mode: 0o755, mtime },
        { type: 'symlink', path: 'link', target: '/etc/passwd' },
        { type: 'hardlink', path: 'src/again.sh', target: 'src/run.sh' },
        { type: 'file', path: '.wh.notawhiteout', content: 'x' },
        { type: 'file', path: 'big.bin', content: Buffer.alloc(3 * 1024 * 1024, 7) },
      ],
      gzip,
    );
    const st = await stat(join(c, 'src/run.sh'));
    assert.equal(st.mode & 0o777, 0o755);
    assert.equal(st.mtime.getTime(), mtime.getTime());
    assert.equal(await readlink(join(c, 'link')), '/etc/passwd');
    assert.equal((await stat(join(c, 'src/again.sh'))).ino, st.ino);
    assert.equal(await readFile(join(c, '.wh.notawhiteout'), 'utf8'), 'x');
    assert.equal((await stat(join(c, 'big.bin'))).size, 3 * 1024 * 1024);
  }
});

test('entries that would leave the context are refused', async (t) => {
  const victim = await mkdtemp(join(tmpdir(), 'wharf-ctx-victim-'));
  t.after(() => rm(victim, { recursive: true, force: true }));
  const cases: LayerEntry[][] = [
    [{ type: 'raw', header: { name: '../evil', type: 'file' }, content: Buffer.from('x') }],
    [{ type: 'raw', header: { name: '/abs', type: 'file' }, content: Buffer.from('x') }],
    [
      { type: 'symlink', path: 'out', target: victim },
      { type: 'file', path: 'out/evil', content: 'x' },
    ],
    [
      { type: 'symlink', path: 'out', target: victim },
      { type: 'raw', header: { name: 'h', type: 'link', linkname: 'out/../../etc/passwd' } },
    ],
  ];
  for (const entries of cases) {
    await assert.rejects(extract(t, entries, false), (e: Error) => /refused|not a valid|non-directory|\.\./.test(e.message), JSON.stringify(entries.map((e) => e.type)));
  }
  assert.ok(!existsSync(join(victim, 'evil')), 'nothing written through the symlink');
  assert.ok(!(await lstat(victim)).isSymbolicLink());
});

test("the extraction hands back each file's sha256 as written, and the bytes of the top-level names asked for", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'wharf-ctx-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const big = Buffer.alloc(3 * 1024 * 1024 + 5, 9);
  const layer = await buildLayer([
    { type: 'file', path: 'Dockerfile', content: 'FROM scratch\n' },
    { type: 'dir', path: 'src' },
    { type: 'file', path: 'src/a', content: 'old' },
    { type: 'hardlink', path: 'src/b', target: 'src/a' },
    { type: 'file', path: 'src/a', content: 'new' }, // a later entry wins; the hard link keeps the old bytes
    { type: 'file', path: 'big.bin', content: big },
    { type: 'symlink', path: '.dockerignore', target: 'src/a' },
    { type: 'file', path: 'other', content: 'x' },
  ]);
  const c = join(dir, 'c');
  const { digests, top } = await extractContext(Readable.from([layer.blob]), c, ['Dockerfile', '.dockerignore', 'big.bin', 'absent']);
  const sha = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');
  for (const p of ['Dockerfile', 'src/a', 'src/b', 'big.bin', 'other']) assert.equal(digests.get(join(c, p)), sha(await readFile(join(c, p))), p);
  assert.equal(await readFile(join(c, 'src/b'), 'utf8'), 'old');
  assert.equal(digests.has(join(c, '.dockerignore')), false, 'a symlink has no digest');
  assert.equal(top.get('Dockerfile')?.toString(), 'FROM scratch\n');
  assert.equal(top.get('.dockerignore'), null, 'a symlink is read from the directory, inside the root');
  assert.equal(top.get('big.bin'), null, 'a file over 1 MiB is read from the directory');
  assert.equal(top.has('absent'), false);
  assert.equal(top.has('other'), false, 'only the names asked for');
});
