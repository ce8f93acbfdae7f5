/**
 * The whole path `wharf run` stands on, minus the container: a static binary compiled in
 * the test, pushed to Wharf as a 3-layer image, pulled, mounted as an overlay rootfs, and
 * executed inside it with chroot.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { binaryLayer, buildImage, buildLayer, compileStatic, pushImage } from '../../spec-tests/support/images.js';
import { startWharfRegistry } from '../../spec-tests/support/registry.js';
import { ImageStore } from './store.js';
import { prepareSnapshot, removeSnapshot, removeAllSnapshots, isMounted } from '../layers/snapshots.js';
import { NodeLayout } from '../layout.js';

const execFileP = promisify(execFile);

const LS = `
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
int main(int argc, char **argv) {
  for (int i = 1; i < argc; i++) {
    DIR *d = opendir(argv[i]);
    if (!d) { printf("%s: missing\\n", argv[i]); continue; }
    struct dirent *e;
    while ((e = readdir(d))) if (e->d_name[0] != '.') printf("%s/%s\\n", argv[i], e->d_name);
    closedir(d);
  }
  printf("GREETING=%s\\n", getenv("GREETING") ? getenv("GREETING") : "");
  return 3;
}
`;

test("a pulled image mounts as a rootfs whose binary runs and sees Docker's merged view", async (t) => {
  const registry = await startWharfRegistry();
  t.after(() => registry.close());
  const root = await mkdtemp(join(tmpdir(), 'wharf-node-'));
  t.after(async () => {
    await removeAllSnapshots(new NodeLayout(root));
    await rm(root, { recursive: true, force: true });
  });

  const bin = await compileStatic(LS, 'ls');
  const image = buildImage(
    [
      await binaryLayer(bin, 'bin/ls'),
      await buildLayer([
        { type: 'file', path: 'etc/gone', content: 'x' },
        { type: 'file', path: 'etc/kept', content: 'x' },
        { type: 'dir', path: 'var/cache' },
        { type: 'file', path: 'var/cache/old', content: 'x' },
      ]),
      await buildLayer([
        { type: 'whiteout', path: 'etc/gone' },
        { type: 'dir', path: 'var/cache' },
        { type: 'opaque', path: 'var/cache' },
        { type: 'file', path: 'var/cache/new', content: 'x' },
      ]),
    ],
    { Entrypoint: ['/bin/ls'], Cmd: ['/etc', '/var/cache'], Env: ['GREETING=hi'] },
  );
  await pushImage(registry.url, 'e2e/ls', 'v1', image);

  const store = new ImageStore(root, { defaultRegistry: registry.host });
  const rec = await store.pull('e2e/ls:v1');
  const snap = await prepareSnapshot(store.layout, 'e2e', rec.layers.map((l) => l.diffId));

  const argv = [...(rec.config.Entrypoint ?? []), ...(rec.config.Cmd ?? [])];
  const env = Object.fromEntries((rec.config.Env ?? []).map((kv) => kv.split('=', 2) as [string, string]));
  const run = await execFileP('/usr/sbin/chroot', [snap.rootfs, ...argv], { env }).then(
    () => assert.fail('exit code 3 expected'),
    (err: { code: number; stdout: string }) => err,
  );
  assert.equal(run.code, 3);
  assert.equal(run.stdout.split('\n').sort().join('\n'), ['', '/etc/kept', '/var/cache/new', 'GREETING=hi'].join('\n'));

  // Writes land in the container's upper dir, never in the shared layers.
  await writeFile(join(snap.rootfs, 'etc/kept'), 'changed');
  const base = await store.layerDirs(rec);
  assert.equal((await execFileP('cat', [join(base[1]!, 'etc/kept')])).stdout, 'x');

  await removeSnapshot(store.layout, 'e2e');
  assert.equal(await isMounted(snap.rootfs), false);
});

test('a read-only snapshot refuses writes', async (t) => {
  const root = await mkdtemp(join(tmpdir(), 'wharf-node-'));
  t.after(async () => {
    await removeAllSnapshots(new NodeLayout(root));
    await rm(root, { recursive: true, force: true });
  });
  const store = new ImageStore(root);
  const snap = await prepareSnapshot(store.layout, 'ro', [], { readOnly: true });
  await assert.rejects(writeFile(join(snap.rootfs, 'x'), 'x'), { code: 'EROFS' });
});
