/**
 * Isolation of `wharf run` that the init helper provides, tried for real (as root, real
 * containers, images built here from a static probe): paths through an image's symlinks
 * stay in the rootfs (`-w`, the image's WorkingDir, a /dev that is a symlink, a /dev/null
 * that is not the null device), the container has its own session and no fd of ours, lo is
 * up in --network none, the container's own cgroups show read-only at /sys/fs/cgroup, a
 * SIGKILLed `wharf run` leaves no process (and prune then no mount or cgroup), and --init
 * makes a handler-less program stop on SIGTERM and reaps zombies.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildImage, buildLayer, compileStatic, pushImage, type BuiltLayer } from './support/images.js';
import { ISO_PROBE_SOURCE } from './support/iso-probe.js';
import { startTestWharf, type TestWharf } from './support/wharf.js';
import { createCgroupDriver } from '../runtime/cgroups/detect.js';
import { NodeLayout } from '../runtime/layout.js';
import { removeAllSnapshots } from '../runtime/layers/snapshots.js';
import { ContainerStartError, spawnContainer } from '../runtime/native/spawn.js';
import { makeBusyboxRootfs } from '../runtime/native/testing.js';

const WHARF = join(dirname(fileURLToPath(import.meta.url)), '..', 'bin', 'wharf.js');

interface Ran {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

let registry: TestWharf;
let root: string;
let scratch: string;
/** A host directory the crafted images' symlinks point at: it must stay as it is. */
let hostDir: string;
/** Names under the host's /tmp that `-w` and WorkingDir name through `evil -> /tmp`. */
const wdFlag = `wharf-iso-w-${randomBytes(4).toString('hex')}`;
const wdImage = `wharf-iso-wd-${randomBytes(4).toString('hex')}`;
const img = { iso: '', evil: '', devlink: '' };

type Child = ReturnType<typeof spawn>;

function wharfRun(args: string[], opts: { stdin?: boolean; onStdout?: (text: string, child: Child) => void } = {}): Promise<Ran> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [WHARF, 'run', '--root', root, ...args], { stdio: [opts.stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdin?.on('error', () => undefined); // EPIPE once the container is gone
    child.stdout!.on('data', (c: Buffer) => {
      stdout += c.toString();
      opts.onStdout?.(stdout, child);
    });
    child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

/** Host pids of the processes in the container's cgroup, with their pid inside (NSpid). */
async function containerProcs(cidfile: string): Promise<{ host: number; inside: number }[]> {
  const id = await readFile(cidfile, 'utf8');
  const cg = await (await createCgroupDriver()).open(id);
  return (await cg.procs()).map((host) => {
    const ns = /^NSpid:\s+(.*)$/m.exec(readFileSync(`/proc/${host}/status`, 'utf8'))![1]!.trim().split(/\s+/);
    return { host, inside: Number(ns[ns.length - 1]) };
  });
}

async function gone(pid: number): Promise<boolean> {
  for (let i = 0; i < 500; i++) {
    if (!existsSync(`/proc/${pid}`)) return true;
    await new Promise((r) => setTimeout(r, 20));
  }
  return false;
}

before(async () => {
  registry = await startTestWharf();
  root = await mkdtemp(join(tmpdir(), 'wharf-iso-node-'));
  scratch = await mkdtemp(join(tmpdir(), 'wharf-iso-scratch-'));
  hostDir = await mkdtemp(join(tmpdir(), 'wharf-iso-host-'));
  writeFileSync(join(hostDir, 'secret'), 'host secret\n');
  symlinkSync(join(hostDir, 'secret'), join(hostDir, 'null'));
  const iso = await readFile(await compileStatic(ISO_PROBE_SOURCE, 'iso'));
  const isoLayer: BuiltLayer = await buildLayer([
    { type: 'dir', path: 'bin' },
    { type: 'file', path: 'bin/iso', content: iso, mode: 0o755 },
  ]);
  const push = async (repo: string, layers: BuiltLayer[], config: Parameters<typeof buildImage>[1]) => {
    await pushImage(registry.url, repo, 'v1', buildImage(layers, config));
    return `${registry.hostPort}/${repo}:v1`;
  };
  img.iso = await push('iso/plain', [isoLayer], { Entrypoint: ['/bin/iso'] });
  // `evil -> /tmp`, and a WorkingDir through it.
  img.evil = await push('iso/evil', [isoLayer, await buildLayer([{ type: 'symlink', path: 'evil', target: '/tmp' }])], {
    Entrypoint: ['/bin/iso'],
    WorkingDir: `/evil/${wdImage}/w`,
  });
  // /dev a symlink to a host directory whose `null` is a symlink to a host file.
  img.devlink = await push('iso/devlink', [isoLayer, await buildLayer([{ type: 'symlink', path: 'dev', target: hostDir }])], {
    Entrypoint: ['/bin/iso'],
  });
});

after(async () => {
  await removeAllSnapshots(new NodeLayout(root)).catch(() => undefined);
  await rm(root, { recursive: true, force: true });
  await rm(scratch, { recursive: true, force: true });
  await rm(hostDir, { recursive: true, force: true });
  await registry.destroy();
});

describe('paths through an image\'s symlinks stay inside the rootfs', () => {
  test('-w /evil/a/b with evil -> /tmp creates the directory inside the rootfs, none on the host', async () => {
    const r = await wharfRun(['--rm', '-w', `/evil/${wdFlag}/b`, img.evil, 'pwd']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, `/tmp/${wdFlag}/b\n`); // as Docker: /evil resolves to the image's /tmp
    assert.equal(existsSync(join('/tmp', wdFlag)), false, 'a directory was made on the host');
  });

  test("the image's WorkingDir through evil -> /tmp, no flags: the same", async () => {
    const r = await wharfRun(['--rm', img.evil, 'pwd']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, `/tmp/${wdImage}/w\n`);
    assert.equal(existsSync(join('/tmp', wdImage)), false, 'a directory was made on the host');
  });

  test('an image whose /dev is a symlink to a host directory gets its /dev inside, the null device masks', async () => {
    const r = await wharfRun(['--rm', img.devlink, 'stat', '/dev/null']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'char 1:3\n');
    const masked = await wharfRun(['--rm', img.devlink, 'cat', '/proc/timer_list', '/proc/keys']);
    assert.equal(masked.code, 0, masked.stderr);
    assert.equal(masked.stdout, '', 'masked paths show nothing');
    assert.deepEqual(readdirSync(hostDir).sort(), ['null', 'secret']);
    assert.equal(readFileSync(join(hostDir, 'secret'), 'utf8'), 'host secret\n');
  });

  test('a /dev/null that is not the null device is refused as the mask source (CVE-2025-31133 class)', async () => {
    const rootfs = makeBusyboxRootfs();
    try {
      const refused = (e: unknown) => e instanceof ContainerStartError && e.step === 'mask_paths' && /not the null device/.test(e.message);
      // A bind over /dev/null swaps the mask source for a host file...
      await assert.rejects(
        spawnContainer({ rootfs, args: ['true'], binds: [{ source: join(hostDir, 'null'), target: '/dev/null', readonly: false }] }),
        refused,
      );
      // ... and a bind of a directory over /dev swaps it for a symlink (null -> a host file).
      await assert.rejects(spawnContainer({ rootfs, args: ['true'], binds: [{ source: hostDir, target: '/dev', readonly: false }] }), refused);
      assert.equal(readFileSync(join(hostDir, 'secret'), 'utf8'), 'host secret\n');
    } finally {
      await rm(rootfs, { recursive: true, force: true });
    }
  });
});

describe('the container has its own session and none of our descriptors', () => {
  test('it leads its own session and process group; /dev/tty is no terminal', async () => {
    const r = await wharfRun(['--rm', img.iso, 'session']);
    assert.equal(r.code, 0, r.stderr);
    // Inside its pid namespace: session and group led by itself, PID 1 (0 = led from outside).
    assert.equal(r.stdout, 'sid=1 pgrp=1 pid=1\ntty=ENXIO\n');
    // Under --init: the init's session, a process group of its own (tini's way).
    const init = await wharfRun(['--rm', '--init', img.iso, 'session']);
    assert.equal(init.code, 0, init.stderr);
    assert.equal(init.stdout, 'sid=1 pgrp=2 pid=2\ntty=ENXIO\n');
  });

  test('only fds 0, 1 and 2 reach the program', async () => {
    const r = await wharfRun(['--rm', img.iso, 'fds']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, '0\n1\n2\n');
  });
});

describe('--network none', () => {
  test('lo is UP and 127.0.0.1 and ::1 carry a TCP round trip', async () => {
    const r = await wharfRun(['--rm', '--network', 'none', img.iso, 'lo']);
    assert.equal(r.code, 0, r.stderr);
    const flags = Number(/^flags=(0x[0-9a-f]+)$/m.exec(r.stdout)?.[1]);
    assert.equal(flags & 0x1, 0x1, `lo flags ${r.stdout}`); // IFF_UP
    assert.match(r.stdout, /^tcp4=ok$/m);
    assert.match(r.stdout, /^tcp6=ok$/m);
  });
});

describe('cgroup namespace and /sys/fs/cgroup', () => {
  test('the container reads its own limits there, read-only', async () => {
    const driver = await createCgroupDriver();
    const r =
      driver.version === 1
        ? await wharfRun(['--rm', '-m', '64m', '--pids-limit', '50', img.iso, 'cat', '/sys/fs/cgroup/memory/memory.limit_in_bytes', '/sys/fs/cgroup/pids/pids.max', '/sys/fs/cgroup/pids/cgroup.procs', '/proc/self/cgroup'])
        : await wharfRun(['--rm', '-m', '64m', '--pids-limit', '50', img.iso, 'cat', '/sys/fs/cgroup/memory.max', '/sys/fs/cgroup/pids.max', '/sys/fs/cgroup/cgroup.procs', '/proc/self/cgroup']);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.split('\n');
    assert.equal(lines[0], String(64 * 1024 * 1024));
    assert.equal(lines[1], '50');
    assert.equal(lines[2], '1', 'cgroup.procs lists only the container (its own cgroup)');
    // The namespace makes the container's cgroup its root.
    for (const l of lines.slice(3).filter((x) => x !== '')) assert.match(l, /:\/$/, `own cgroup is the root: ${l}`);
    const file = driver.version === 1 ? '/sys/fs/cgroup/memory/memory.limit_in_bytes' : '/sys/fs/cgroup/memory.max';
    const w = await wharfRun(['--rm', '-m', '64m', img.iso, 'write', file, '1000000000']);
    assert.equal(w.stdout, 'EROFS\n');
    const mk = await wharfRun(['--rm', img.iso, 'mkdir', '/sys/fs/cgroup/new']);
    assert.equal(mk.stdout, 'EROFS\n');
    if (driver.version === 1) {
      // Docker's layout: a directory per hierarchy the container is in.
      const ls = await wharfRun(['--rm', img.iso, 'ls', '/sys/fs/cgroup']);
      for (const c of ['cpu', 'cpuacct', 'cpuset', 'freezer', 'memory', 'pids']) assert.ok(ls.stdout.split('\n').includes(c), `${c} in ${ls.stdout}`);
    }
  });
});

describe('a SIGKILLed wharf run', () => {
  test('takes its container with it (PR_SET_PDEATHSIG); wharf container prune then clears its cgroup and mount', async () => {
    const cidfile = join(scratch, 'cid-pdeathsig');
    let pids: number[] = [];
    let problem = '';
    const r = await wharfRun(['--cidfile', cidfile, img.iso, 'sleep', '1000'], {
      onStdout(out, child) {
        if (!out.includes('ready') || pids.length > 0) return;
        void containerProcs(cidfile)
          .then((procs) => {
            pids = procs.map((p) => p.host);
            child.kill('SIGKILL');
          })
          .catch((e: Error) => {
            problem = e.message;
            child.kill('SIGKILL');
          });
      },
    });
    assert.equal(problem, '');
    assert.equal(r.signal, 'SIGKILL');
    assert.equal(pids.length, 1);
    assert.ok(await gone(pids[0]!), `container process ${pids[0]} outlived wharf run`);
    // The cgroup and the overlay mount it left are for `wharf container prune`.
    const id = await readFile(cidfile, 'utf8');
    const driver = await createCgroupDriver();
    assert.deepEqual(await (await driver.open(id)).procs(), [], 'a process is left in the cgroup');
    const pruned = await new Promise<Ran>((resolve, reject) => {
      const child = spawn(process.execPath, [WHARF, 'container', 'prune', '-f', '--root', root], { stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
      child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
      child.on('error', reject);
      child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
    });
    assert.equal(pruned.code, 0, pruned.stderr);
    assert.ok(!(await driver.list()).includes(id), 'the cgroup is left after prune');
    assert.match(pruned.stdout, new RegExp(`^Deleted Containers:\n${id}\n`));
    const mounts = readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((l) => l.includes(id));
    assert.deepEqual(mounts, [], 'a mount is left after prune');
  });
});

describe('--init', () => {
  async function signalPid1(init: boolean): Promise<{ ran: Ran; procs: { host: number; inside: number }[] }> {
    const cidfile = join(scratch, `cid-init-${init}`);
    let procs: { host: number; inside: number }[] = [];
    let problem = '';
    const ran = await wharfRun(['--rm', '-i', '--cidfile', cidfile, ...(init ? ['--init'] : []), img.iso, 'wait-stdin'], {
      stdin: true,
      onStdout(out, child) {
        if (!out.includes('ready') || procs.length > 0) return;
        void containerProcs(cidfile)
          .then((p) => {
            procs = p;
            // SIGTERM to PID 1 straight from the host: a PID 1 without a handler drops it
            // before kill() returns, so the line after it finds the program still there.
            process.kill(p.find((x) => x.inside === 1)!.host, 'SIGTERM');
            if (!init) child.stdin!.end('go\n');
            // The init forwards it; should it not, the program would wait for ever: end its
            // stdin after a while so that the test fails (with "survived") instead of hanging.
            else setTimeout(() => child.stdin!.end('go\n'), 20_000).unref();
          })
          .catch((e: Error) => {
            problem = e.message;
            child.kill('SIGKILL');
          });
      },
    });
    assert.equal(problem, '');
    return { ran, procs };
  }

  test('without it, a handler-less PID 1 ignores SIGTERM', async () => {
    const { ran, procs } = await signalPid1(false);
    assert.deepEqual(procs.map((p) => p.inside), [1]);
    assert.equal(ran.code, 0, ran.stderr);
    assert.equal(ran.stdout, 'ready\nsurvived\n');
  });

  test('with it, SIGTERM reaches the program, which stops (exit 143)', async () => {
    const { ran, procs } = await signalPid1(true);
    assert.deepEqual(procs.map((p) => p.inside).sort(), [1, 2]);
    assert.equal(ran.stdout, 'ready\n');
    assert.equal(ran.code, 143, ran.stderr);
  });

  test('zombies reparented to PID 1 are reaped with it, not without it', async () => {
    const with_ = await wharfRun(['--rm', '--init', img.iso, 'orphan', 'reaped']);
    assert.equal(with_.code, 0, with_.stderr);
    assert.equal(with_.stdout, 'reaped\n');
    const without = await wharfRun(['--rm', img.iso, 'orphan', 'zombie']);
    assert.equal(without.code, 0, without.stderr);
    assert.equal(without.stdout, 'zombie\n');
  });

  test('the init, our host binary, stays non-dumpable and confined: its exe and environ are closed to the program', async () => {
    // The CVE-2019-5736 class: /proc/1/exe would be the host's wharf-init.
    const r = await wharfRun(['--rm', '--init', img.iso, 'cat', '/proc/1/exe', '/proc/1/environ', '/proc/1/status']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^\/proc\/1\/exe: EACCES\n\/proc\/1\/environ: EACCES\n/);
    assert.match(r.stdout, /^CapEff:\t00000000a80425fb$/m); // Docker's default set, as the program's
    assert.match(r.stdout, /^Seccomp:\t2$/m); // under the same filter as the program
  });

  test('exit codes pass through the init', async () => {
    const r = await wharfRun(['--rm', '--init', img.iso, 'nonsense']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /iso: unknown command nonsense/);
  });
});
