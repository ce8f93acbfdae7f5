import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmdirSync, rmSync, statfsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exitStatusCode, spawnContainer } from '../native/spawn.js';
import { alive, compileStatic, makeBusyboxRootfs, runCaptured } from '../native/testing.js';
import { CGROUP2_SUPER_MAGIC, createCgroupDriver, detectCgroupVersion } from './detect.js';
import { type Cgroup, type CgroupDriver, CgroupError, checkLimits } from './driver.js';
import { CgroupV2Driver, sharesToWeight } from './v2.js';

const HOG = `
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
int main(void) {
  size_t total = 256u << 20, chunk = 1u << 20;
  for (size_t done = 0; done < total; done += chunk) {
    char *p = malloc(chunk);
    if (!p) { puts("malloc failed"); return 2; }
    memset(p, 1, chunk);
  }
  puts("allocated 256MiB");
  return 0;
}
`;

const FORKER = `
#include <errno.h>
#include <stdio.h>
#include <unistd.h>
int main(void) {
  int n = 0;
  for (; n < 64; n++) {
    pid_t pid = fork();
    if (pid < 0) { printf("forked %d errno %d\\n", n, errno); fflush(stdout); return 0; }
    if (pid == 0) { pause(); _exit(0); }
  }
  printf("forked %d errno 0\\n", n);
  return 0;
}
`;

describe('cgroups', () => {
  let rootfs: string;
  let driver: CgroupDriver;
  const made: Cgroup[] = [];
  let seq = 0;
  const newId = (): string => `test-${process.pid}-${seq++}`;

  before(async () => {
    rootfs = makeBusyboxRootfs();
    compileStatic(rootfs, 'hog', HOG);
    compileStatic(rootfs, 'forker', FORKER);
    driver = await createCgroupDriver();
  });

  after(async () => {
    for (const cg of made) {
      await cg.destroy();
      for (const p of cg.paths) assert.equal(existsSync(p), false, `${p} left behind`);
    }
    rmSync(rootfs, { recursive: true, force: true });
  });

  async function create(limits: Parameters<CgroupDriver['create']>[1]): Promise<Cgroup> {
    const cg = await driver.create(newId(), limits);
    made.push(cg);
    return cg;
  }

  test('detects the version from the /sys/fs/cgroup mount', async () => {
    const isV2 = statfsSync('/sys/fs/cgroup').type === CGROUP2_SUPER_MAGIC;
    assert.equal(await detectCgroupVersion(), isV2 ? 2 : 1);
    assert.equal(driver.version, isV2 ? 2 : 1);
    // This machine is hybrid: v1 controllers plus an empty cgroup2 at /sys/fs/cgroup/unified.
    if (existsSync('/sys/fs/cgroup/memory/memory.limit_in_bytes')) assert.equal(driver.version, 1);
  });

  test('cgroup files hold the requested cpu, cpuset, pids and memory values', async () => {
    const cg = await create({ cpus: 1.5, cpuShares: 512, cpusetCpus: '0', pidsLimit: 16, memoryBytes: 64 << 20 });
    if (cg.version === 1) {
      assert.equal(await cg.read('cpu.cfs_period_us', 'cpu'), '100000');
      assert.equal(await cg.read('cpu.cfs_quota_us', 'cpu'), '150000');
      assert.equal(await cg.read('cpu.shares', 'cpu'), '512');
      assert.equal(await cg.read('cpuset.cpus', 'cpuset'), '0');
      assert.equal(await cg.read('pids.max', 'pids'), '16');
      assert.equal(await cg.read('memory.limit_in_bytes', 'memory'), String(64 << 20));
      assert.equal(await cg.read('memory.memsw.limit_in_bytes', 'memory'), String(128 << 20)); // Docker: swap = memory
    } else {
      assert.equal(await cg.read('cpu.max'), '150000 100000');
      assert.equal(await cg.read('cpu.weight'), String(sharesToWeight(512)));
      assert.equal(await cg.read('cpuset.cpus'), '0');
      assert.equal(await cg.read('pids.max'), '16');
      assert.equal(await cg.read('memory.max'), String(64 << 20));
    }
    // The container sees the same values through its own cgroup.
    const r = await runCaptured({
      rootfs,
      args: ['sh', '-c', 'cat /proc/self/cgroup | grep -c wharf; echo done'],
      beforeStart: (pid) => cg.addProcess(pid),
    });
    assert.deepEqual(r.status, { exitCode: 0 });
    assert.equal(r.output, '0\ndone\n', 'cgroup namespace hides the wharf/ path');
    await cg.destroy();
  });

  test('limits are validated', async () => {
    assert.throws(() => checkLimits({ memoryBytes: 1024 }), CgroupError);
    assert.throws(() => checkLimits({ memoryBytes: 64 << 20, memorySwapBytes: 32 << 20 }), CgroupError);
    assert.throws(() => checkLimits({ cpus: 0 }), CgroupError);
    assert.throws(() => checkLimits({ cpusetCpus: '0;1' }), CgroupError);
    assert.throws(() => checkLimits({ cpuShares: 1 }), CgroupError);
    await assert.rejects(driver.create('../escape', {}), CgroupError);
  });

  test('a 256 MiB allocation under --memory 32m is OOM-killed and reported', async () => {
    const cg = await create({ memoryBytes: 32 << 20, memorySwapBytes: 32 << 20 });
    const r = await runCaptured({ rootfs, args: ['/hog'], beforeStart: (pid) => cg.addProcess(pid) });
    assert.deepEqual(r.status, { signal: 'SIGKILL' });
    assert.equal(exitStatusCode(r.status), 137);
    assert.doesNotMatch(r.output, /allocated/);
    const stats = await cg.stats();
    assert.ok(stats.oomKills >= 1, `oom kills: ${stats.oomKills}`);
    await cg.destroy();
  });

  test('--pids-limit 16 stops a fork loop', async () => {
    const cg = await create({ pidsLimit: 16 });
    const r = await runCaptured({ rootfs, args: ['/forker'], beforeStart: (pid) => cg.addProcess(pid) });
    assert.deepEqual(r.status, { exitCode: 0 });
    const m = /^forked (\d+) errno (\d+)$/.exec(r.output.trim());
    assert.ok(m, r.output);
    assert.ok(Number(m[1]) < 16, `forked ${m[1]}`);
    assert.equal(Number(m[2]), 11 /* EAGAIN */);
    await cg.destroy();
  });

  test('destroy kills what is left and removes every directory', async () => {
    const id = newId();
    const cg = await driver.create(id, { pidsLimit: 100 });
    const proc = await spawnContainer({ rootfs, args: ['sh', '-c', 'sleep 1000 & sleep 1000'], beforeStart: (pid) => cg.addProcess(pid) });
    const exited = proc.wait();
    assert.ok((await cg.procs()).includes(proc.pid));
    assert.ok((await driver.list()).includes(id));
    const pids = await cg.procs();
    await Promise.all([cg.destroy(), exited]);
    assert.deepEqual(await exited, { signal: 'SIGKILL' });
    for (const p of cg.paths) assert.equal(existsSync(p), false, `${p} left behind`);
    for (const pid of pids) assert.equal(alive(pid), false);
    assert.ok(!(await driver.list()).includes(id));
    await cg.destroy(); // idempotent
  });

  test('creating an existing cgroup fails without touching it', async () => {
    const cg = await create({});
    await assert.rejects(driver.create(cg.id, {}), /exists already/);
    for (const p of cg.paths) assert.equal(existsSync(p), true);
  });

  test('v2 driver places, lists and removes a container cgroup on a cgroup2 mount', async () => {
    const mnt = mkdtempSync(join(tmpdir(), 'wharf-cg2-'));
    execFileSync('mount', ['-t', 'cgroup2', 'none', mnt]);
    // The cgroup2 hierarchy is one per machine: other test runs on it may hold wharf/<their ids>.
    let cg: Awaited<ReturnType<CgroupV2Driver['create']>> | undefined;
    try {
      const v2 = new CgroupV2Driver(mnt);
      const id = newId();
      const controllers = readFileSync(join(mnt, 'cgroup.controllers'), 'utf8');
      cg = await v2.create(id, controllers.includes('pids') ? { pidsLimit: 16 } : {});
      const proc = await spawnContainer({ rootfs, args: ['sleep', '1000'], beforeStart: (pid) => cg!.addProcess(pid) });
      assert.deepEqual(await cg.procs(), [proc.pid]);
      assert.ok((await v2.list()).includes(id));
      const exited = proc.wait();
      await Promise.all([cg.destroy(), exited]);
      assert.deepEqual(await exited, { signal: 'SIGKILL' });
      assert.equal(existsSync(join(mnt, 'wharf', id)), false);
      assert.ok(!(await v2.list()).includes(id));
    } finally {
      await cg?.destroy(); // after a failed assertion: no container left to hang the file
      try {
        rmdirSync(join(mnt, 'wharf'));
      } catch (e) {
        if (!['ENOENT', 'EBUSY'].includes((e as NodeJS.ErrnoException).code ?? '')) throw e;
      }
      execFileSync('umount', [mnt]);
      rmSync(mnt, { recursive: true, force: true });
    }
  });
});
