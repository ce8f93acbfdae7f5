import { after, before, describe, test } from 'node:test';
import { spawn } from 'node:child_process';
import assert from 'node:assert/strict';
import { closeSync, existsSync, openSync, readFileSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import {
  ContainerStartError,
  DOCKER_DEFAULT_CAPABILITIES,
  DOCKER_MASKED_PATHS,
  InvalidSpecError,
  execInContainer,
  exitStatusCode,
  spawnContainer,
} from './spawn.js';
import { alive, makeBusyboxRootfs, runCaptured } from './testing.js';

describe('native spawn', () => {
  let rootfs: string;
  const pids: number[] = [];
  const sh = (script: string): string[] => ['sh', '-c', script];

  before(() => {
    rootfs = makeBusyboxRootfs();
  });

  after(() => {
    // Nothing left behind: no container process, no mount of the rootfs on the host.
    for (const pid of pids) assert.equal(alive(pid), false, `process ${pid} still alive`);
    assert.ok(!readFileSync('/proc/self/mountinfo', 'utf8').includes(rootfs), 'a container mount leaked to the host');
    rmSync(rootfs, { recursive: true, force: true });
  });

  async function run(opts: Partial<Parameters<typeof spawnContainer>[0]> & { args: string[] }) {
    const r = await runCaptured({ rootfs, ...opts });
    pids.push(r.pid);
    return r;
  }

  test('exit codes propagate', async () => {
    assert.deepEqual((await run({ args: sh('exit 7') })).status, { exitCode: 7 });
    assert.deepEqual((await run({ args: ['true'] })).status, { exitCode: 0 });
  });

  test('signals propagate (shared pid namespace: the shell kills itself)', async () => {
    const r = await run({ args: sh('kill -TERM $$; sleep 5'), namespaces: { pid: false } });
    assert.deepEqual(r.status, { signal: 'SIGTERM' });
    assert.equal(exitStatusCode(r.status), 143);
  });

  test('kill() from outside ends the container with that signal', async () => {
    const proc = await spawnContainer({ rootfs, args: ['sleep', '1000'] });
    pids.push(proc.pid);
    proc.kill('SIGKILL');
    assert.deepEqual(await proc.wait(), { signal: 'SIGKILL' });
  });

  test('the program is PID 1 and sees no host process', async () => {
    const r = await run({ args: sh('echo $$; for p in /proc/[0-9]*; do echo ${p#/proc/}; done') });
    const [self, ...procs] = r.output.trim().split('\n');
    assert.equal(self, '1');
    assert.deepEqual(procs.filter((p) => p !== '1' && p !== 'self' && p !== 'thread-self'), []);
  });

  test('hostname and env are applied', async () => {
    const r = await run({ args: sh('hostname; echo "$FOO|$BAR"; pwd'), hostname: 'wharfbox', env: ['FOO=bar', 'BAR=a b=c'], cwd: '/work' });
    assert.equal(r.output, 'wharfbox\nbar|a b=c\n/work\n');
  });

  test('the program is found through PATH and Docker\'s default PATH', async () => {
    assert.equal((await run({ args: ['echo', 'hi'], env: ['PATH=/bin'] })).output, 'hi\n');
    assert.equal((await run({ args: ['echo', 'default'] })).output, 'default\n');
  });

  test('a missing program fails at the exec step with ENOENT', async () => {
    await assert.rejects(spawnContainer({ rootfs, args: ['no-such-program'] }), (e: unknown) => {
      assert.ok(e instanceof ContainerStartError);
      assert.equal(e.step, 'exec');
      assert.equal(e.code, 'ENOENT');
      assert.match(e.message, /^container start failed at exec: ENOENT/);
      return true;
    });
  });

  test('a working directory that is a file fails at the chdir step', async () => {
    await assert.rejects(spawnContainer({ rootfs, args: ['true'], cwd: '/bin/busybox/x' }), (e: unknown) => {
      assert.ok(e instanceof ContainerStartError);
      assert.equal(e.step, 'chdir');
      assert.equal(e.code, 'ENOTDIR');
      return true;
    });
  });

  test('capabilities are Docker\'s default set, no_new_privs is set', async () => {
    const r = await run({ args: ['grep', '-E', '^(Cap|NoNewPrivs)', '/proc/self/status'] });
    const status = Object.fromEntries(r.output.trim().split('\n').map((l) => l.split(/:\s+/) as [string, string]));
    const want = DOCKER_DEFAULT_CAPABILITIES.toString(16).padStart(16, '0');
    assert.equal(want, '00000000a80425fb');
    assert.equal(status.CapEff, want);
    assert.equal(status.CapPrm, want);
    assert.equal(status.CapBnd, want);
    assert.equal(status.CapInh, '0000000000000000');
    assert.equal(status.CapAmb, '0000000000000000');
    assert.equal(status.NoNewPrivs, '1');
  });

  test('a non-root user gets no effective capabilities', async () => {
    const r = await run({ args: sh('id -u; id -g; id -G; grep CapEff /proc/self/status'), user: { uid: 1000, gid: 1000, additionalGids: [10, 20] } });
    assert.equal(r.output, '1000\n1000\n1000 10 20\nCapEff:\t0000000000000000\n');
  });

  test('read-only rootfs refuses writes; /dev/shm stays writable', async () => {
    const r = await run({ args: sh('touch /x 2>&1; echo rc=$?; touch /dev/shm/y && echo shm-ok'), readOnlyRootfs: true });
    assert.match(r.output, /Read-only file system/);
    assert.match(r.output, /rc=1/);
    assert.match(r.output, /shm-ok/);
  });

  test('a new net namespace has only lo', async () => {
    const r = await run({ args: ['ls', '/sys/class/net'] });
    assert.equal(r.output.trim(), 'lo');
  });

  test('masked and read-only paths', async () => {
    // Docker's list, limited to what this kernel has (e.g. /proc/kcore may be absent).
    const present = DOCKER_MASKED_PATHS.filter((p) => existsSync(p));
    assert.ok(present.length > 0);
    const checks = present.map((p) => (statSync(p).isDirectory() ? `echo ${p}=$(ls -A ${p} | wc -l)` : `echo ${p}=$(wc -c < ${p})`));
    const r = await run({ args: sh(`${checks.join('; ')}; echo x > /proc/sys/kernel/hostname; echo sys=$?`) });
    assert.equal(r.output, `${present.map((p) => `${p}=0\n`).join('')}sh: can't create /proc/sys/kernel/hostname: Read-only file system\nsys=1\n`);
  });

  test('/dev holds the standard nodes and a private devpts', async () => {
    const r = await run({ args: sh('for d in null zero full random urandom tty ptmx pts/ptmx shm mqueue; do [ -e /dev/$d ] && echo $d; done; echo hi > /dev/null && echo null-ok') });
    assert.equal(r.output, 'null\nzero\nfull\nrandom\nurandom\ntty\nptmx\npts/ptmx\nshm\nmqueue\nnull-ok\n');
  });

  test('execInContainer joins the namespaces of a running container', async () => {
    const proc = await spawnContainer({ rootfs, args: ['sleep', '1000'], hostname: 'target' });
    pids.push(proc.pid);
    const dir = mkdtempSync(join(tmpdir(), 'wharf-exec-'));
    const fd = openSync(join(dir, 'out'), 'w');
    try {
      const ex = await execInContainer(proc.pid, { args: sh('hostname; echo $$; cat /proc/1/cmdline; echo; echo $E; exit 5'), env: ['E=exec', 'PATH=/bin'], stdio: [0, fd, fd] });
      pids.push(ex.pid);
      assert.deepEqual(await ex.wait(), { exitCode: 5 });
      const out = readFileSync(join(dir, 'out'), 'utf8').split('\n');
      assert.equal(out[0], 'target');
      assert.ok(Number(out[1]) > 1 && Number(out[1]) < 100, `pid inside the container: ${out[1]}`);
      assert.equal(out[2], 'sleep\x001000\x00');
      assert.equal(out[3], 'exec');
      await assert.rejects(execInContainer(proc.pid, { args: ['missing'], stdio: [0, fd, fd] }), (e: unknown) => e instanceof ContainerStartError && e.step === 'exec');
    } finally {
      closeSync(fd);
      rmSync(dir, { recursive: true, force: true });
      proc.kill();
      await proc.wait();
    }
  });

  test('execInContainer: the program leads its own session and gets only fds 0-2', async () => {
    const proc = await spawnContainer({ rootfs, args: ['sleep', '1000'] });
    pids.push(proc.pid);
    const dir = mkdtempSync(join(tmpdir(), 'wharf-exec-'));
    const fd = openSync(join(dir, 'out'), 'w');
    try {
      // stat fields 1, 5, 6: pid, pgrp, session (in the container's pid namespace).
      const ex = await execInContainer(proc.pid, { args: sh('cut -d" " -f1,5,6 /proc/$$/stat; ls /proc/$$/fd; true'), stdio: [0, fd, fd] }); // `; true`: sh forks ls instead of becoming it
      pids.push(ex.pid);
      assert.deepEqual(await ex.wait(), { exitCode: 0 });
      const [stat, ...fds] = readFileSync(join(dir, 'out'), 'utf8').trim().split('\n');
      const [pid, pgrp, sid] = stat!.split(' ');
      assert.equal(pgrp, pid);
      assert.equal(sid, pid);
      assert.deepEqual(fds, ['0', '1', '2']);
    } finally {
      closeSync(fd);
      rmSync(dir, { recursive: true, force: true });
      proc.kill();
      await proc.wait();
    }
  });

  test('dieWithParent: the container dies with the process that started it, even SIGKILLed', async () => {
    // A Node process that starts a container and waits; we SIGKILL it.
    const script = `
      import { spawnContainer } from ${JSON.stringify(new URL('./spawn.js', import.meta.url).href)};
      const p = await spawnContainer({ rootfs: ${JSON.stringify(rootfs)}, args: ['sleep', '1000'], dieWithParent: true, stdio: [0, 2, 2] });
      process.stdout.write(String(p.pid) + '\\n');
      setInterval(() => {}, 1000);
    `;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    const pid = await new Promise<number>((resolve, reject) => {
      child.stdout.once('data', (c: Buffer) => resolve(Number(c.toString().trim())));
      child.once('exit', (code) => reject(new Error(`starter exited ${code}`)));
    });
    assert.ok(alive(pid));
    child.kill('SIGKILL');
    let left = 500;
    while (alive(pid) && left-- > 0) await new Promise((r) => setTimeout(r, 20));
    assert.equal(alive(pid), false, `container ${pid} outlived the process that started it`);
  });

  test('execInContainer: the working directory resolves inside the container, through its symlinks', async () => {
    // /hostlink -> <a host dir that exists only on the host>: inside, it names nothing.
    const hostOnly = mkdtempSync(join(tmpdir(), 'wharf-exec-hostonly-'));
    symlinkSync(hostOnly, join(rootfs, 'hostlink'));
    const proc = await spawnContainer({ rootfs, args: ['sleep', '1000'] });
    pids.push(proc.pid);
    try {
      await assert.rejects(execInContainer(proc.pid, { args: ['true'], cwd: '/hostlink' }), (e: unknown) => e instanceof ContainerStartError && e.step === 'chdir' && e.code === 'ENOENT');
      await assert.rejects(execInContainer(proc.pid, { args: ['true'], cwd: '/proc/1/root/bin' }), (e: unknown) => e instanceof ContainerStartError && e.step === 'chdir' && e.code === 'ELOOP');
    } finally {
      rmSync(join(rootfs, 'hostlink'));
      rmSync(hostOnly, { recursive: true, force: true });
      proc.kill();
      await proc.wait();
    }
  });

  test('dieWithParent in exec: helper and program die with the process that started them', async () => {
    const proc = await spawnContainer({ rootfs, args: ['sleep', '1000'] });
    pids.push(proc.pid);
    const script = `
      import { execInContainer } from ${JSON.stringify(new URL('./spawn.js', import.meta.url).href)};
      const ex = await execInContainer(${proc.pid}, { args: ['sleep', '1000'], dieWithParent: true, stdio: [0, 2, 2] });
      process.stdout.write(String(ex.pid) + '\\n');
      setInterval(() => {}, 1000);
    `;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      const helper = await new Promise<number>((resolve, reject) => {
        child.stdout.once('data', (c: Buffer) => resolve(Number(c.toString().trim())));
        child.once('exit', (code) => reject(new Error(`starter exited ${code}`)));
      });
      const program = Number(readFileSync(`/proc/${helper}/task/${helper}/children`, 'utf8').trim());
      assert.ok(program > 0 && alive(program));
      child.kill('SIGKILL');
      for (const pid of [helper, program]) {
        let left = 500;
        while (alive(pid) && left-- > 0) await new Promise((r) => setTimeout(r, 20));
        assert.equal(alive(pid), false, `${pid === helper ? 'helper' : 'program'} ${pid} outlived the process that started it`);
      }
      assert.ok(alive(proc.pid), 'the container itself keeps running');
    } finally {
      proc.kill();
      await proc.wait();
    }
  });

  test('arguments are validated before any native call', async () => {
    await assert.rejects(spawnContainer({ rootfs: 'relative', args: ['true'] }), InvalidSpecError);
    await assert.rejects(spawnContainer({ rootfs, args: [] }), InvalidSpecError);
    await assert.rejects(spawnContainer({ rootfs, args: ['a\0b'] }), InvalidSpecError);
    await assert.rejects(spawnContainer({ rootfs, args: ['true'], env: ['NOEQUALS'] }), InvalidSpecError);
    await assert.rejects(spawnContainer({ rootfs, args: ['true'], hostname: 'bad host' }), InvalidSpecError);
    await assert.rejects(spawnContainer({ rootfs, args: ['true'], hostname: 'h', namespaces: { uts: false } }), InvalidSpecError);
    await assert.rejects(spawnContainer({ rootfs, args: ['true'], user: { uid: -1, gid: 0 } }), InvalidSpecError);
    await assert.rejects(spawnContainer({ rootfs, args: ['true'], stdio: [0, 1] as unknown as [number, number, number] }), InvalidSpecError);
    await assert.rejects(execInContainer(0, { args: ['true'] }), InvalidSpecError);
    await assert.rejects(spawnContainer({ rootfs, args: ['true'], init: 1 as unknown as boolean }), InvalidSpecError);
    await assert.rejects(spawnContainer({ rootfs, args: ['true'], dieWithParent: 'yes' as unknown as boolean }), InvalidSpecError);
    await assert.rejects(spawnContainer({ rootfs, args: ['true'], cgroupfs: { version: 3 } as never }), InvalidSpecError);
    await assert.rejects(spawnContainer({ rootfs, args: ['true'], cgroupfs: { version: 1, hierarchies: ['../x'] } }), InvalidSpecError);
    await assert.rejects(spawnContainer({ rootfs, args: ['true'], cgroupfs: { version: 2 }, namespaces: { cgroup: false } }), InvalidSpecError);
  });

  test('a failing beforeStart hook aborts the start and reaps the helper', async () => {
    let seen = 0;
    await assert.rejects(
      spawnContainer({ rootfs, args: ['true'], beforeStart: (pid) => { seen = pid; throw new Error('no cgroup for you'); } }),
      /no cgroup for you/,
    );
    assert.ok(seen > 0);
    assert.equal(alive(seen), false);
  });
});
