/**
 * SpawnOptions.cgroupfs through the helper's cgroup namespace: v1 hierarchies below a
 * read-only tmpfs (the CLI test, spec-tests/isolation-init.test.ts, reads limits there),
 * and v2's unified hierarchy, which this machine has even when it drives v1 (hybrid).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, rmSync } from 'node:fs';
import { runCaptured, makeBusyboxRootfs } from './testing.js';

const mountsAt = (info: string, dir: string) =>
  info
    .split('\n')
    .filter((l) => l.split(' ')[4]?.startsWith(dir))
    .map((l) => {
      const f = l.split(' ');
      const post = l.split(' - ')[1]!.split(' ');
      return `${f[4]} ${post[0]} ${f[5]!.split(',')[0]}`; // mount point, fstype, ro|rw
    });

describe('cgroupfs', () => {
  let rootfs: string;
  before(() => {
    rootfs = makeBusyboxRootfs();
  });
  after(() => rmSync(rootfs, { recursive: true, force: true }));

  test('v2: cgroup2 read-only at /sys/fs/cgroup, its root the namespace\'s', async () => {
    const hostHasV2 = readFileSync('/proc/self/mountinfo', 'utf8').includes(' - cgroup2 ');
    assert.ok(hostHasV2, 'this test needs a cgroup2 hierarchy on the host (v2 or hybrid)');
    const r = await runCaptured({ rootfs, args: ['cat', '/proc/self/mountinfo'], cgroupfs: { version: 2 } });
    assert.deepEqual(r.status, { exitCode: 0 }, r.output);
    assert.deepEqual(mountsAt(r.output, '/sys/fs/cgroup'), ['/sys/fs/cgroup cgroup2 ro']);
    const root = r.output.split('\n').find((l) => l.split(' ')[4] === '/sys/fs/cgroup')!.split(' ')[3];
    assert.equal(root, '/');
  });

  test('v1: a read-only tmpfs and one read-only mount per hierarchy', async () => {
    const v1 = readFileSync('/proc/self/mountinfo', 'utf8').includes(' - cgroup cgroup ');
    assert.ok(v1, 'this test needs cgroup v1 hierarchies on the host');
    const r = await runCaptured({
      rootfs,
      args: ['sh', '-c', 'cat /proc/self/mountinfo; ls -l /sys/fs/cgroup'],
      cgroupfs: { version: 1, hierarchies: ['memory', 'pids'] },
    });
    assert.deepEqual(r.status, { exitCode: 0 }, r.output);
    assert.deepEqual(mountsAt(r.output, '/sys/fs/cgroup'), ['/sys/fs/cgroup tmpfs ro', '/sys/fs/cgroup/memory cgroup ro', '/sys/fs/cgroup/pids cgroup ro']);
  });
});
