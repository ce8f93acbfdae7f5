import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { lstat, mkdtemp, readFile, readlink, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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
