/**
 * What a SIGKILLed `wharf run` leaves, and `wharf container prune` removing it: after
 * prune, no process, overlay mount, cgroup, directory or name claim of that container is
 * left (checked in /proc, /proc/self/mountinfo and the cgroup directories). A container
 * whose `wharf run` is alive is left alone; a stopped one is removed (as docker's prune).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildImage, pushImage } from './support/images.js';
import { busyboxLayer, runWharf, WHARF_BIN } from './support/run-node.js';
import { startTestWharf, type TestWharf } from './support/wharf.js';
import { createCgroupDriver } from '../runtime/cgroups/detect.js';
import { NodeLayout } from '../runtime/layout.js';
import { removeAllSnapshots } from '../runtime/layers/snapshots.js';
import type { ContainerRecord } from '../runtime/containers/records.js';

let registry: TestWharf;
let root: string;
let layout: NodeLayout;
let image: string;

const mountsUnder = (dir: string): string[] =>
  readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .filter((l) => l.split(' ')[4]?.startsWith(dir));

function startTime(pid: number): string | null {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return s.slice(s.lastIndexOf(')') + 2).split(' ')[19] ?? null;
  } catch {
    return null;
  }
}

/** Runs (not gone, not a zombie: a dead process whose reaper, here the host's pid 1, has not collected it yet). */
function runs(pid: number, start: string | null): boolean {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
    return f[19] === start && f[0] !== 'Z' && f[0] !== 'X';
  } catch {
    return false;
  }
}

/** Starts `wharf run ... sleep` in the background and waits until its record says running. */
async function startSleeper(extra: string[] = []): Promise<{ child: ChildProcess; rec: ContainerRecord }> {
  const child = spawn(WHARF_BIN, ['run', '--root', root, ...extra, image, 'sleep', '300'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
  for (let i = 0; i < 400; i++) {
    for (const id of existsSync(layout.containersDir) ? readdirSync(layout.containersDir) : []) {
      try {
        const rec = JSON.parse(readFileSync(layout.containerRecordPath(id), 'utf8')) as ContainerRecord;
        if (rec.owner?.pid === child.pid && rec.state === 'running' && rec.pid) return { child, rec };
      } catch {
        /* being written */
      }
    }
    if (child.exitCode !== null) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  child.kill('SIGKILL');
  throw new Error(`the container did not start: ${stderr}`);
}

const closed = (child: ChildProcess) => new Promise<void>((resolve) => (child.exitCode !== null || child.signalCode !== null ? resolve() : child.on('close', () => resolve())));

before(async () => {
  registry = await startTestWharf();
  root = await mkdtemp(join(tmpdir(), 'wharf-prune-node-'));
  layout = new NodeLayout(root);
  await pushImage(registry.url, 'prune/bb', 'v1', buildImage([await busyboxLayer(['sh', 'sleep', 'true'])], { Cmd: ['sh'] }));
  image = `${registry.hostPort}/prune/bb:v1`;
  const pulled = await runWharf(['run', '--rm', '--root', root, image, 'true']);
  assert.equal(pulled.code, 0, pulled.stderr);
});

after(async () => {
  await removeAllSnapshots(layout).catch(() => undefined);
  await rm(root, { recursive: true, force: true });
  await registry.destroy();
});

describe('wharf container prune', () => {
  test('after a SIGKILLed wharf run: no process, mount, cgroup, directory or name claim is left', async () => {
    const { child, rec } = await startSleeper(['--name', 'victim']);
    const driver = await createCgroupDriver();
    const cgroupDirs = (await driver.open(rec.id)).paths;
    assert.ok(cgroupDirs.length > 0 && cgroupDirs.every((d) => existsSync(d)));
    const pidStart = startTime(rec.pid!);

    child.kill('SIGKILL');
    await closed(child);
    // What the kill left behind: the overlay and the cgroup (the record too).
    assert.ok(mountsUnder(layout.containerDir(rec.id)).length > 0, 'the rootfs is still mounted');
    assert.ok(cgroupDirs.every((d) => existsSync(d)), 'the cgroup is still there');

    // Without -f it asks; "n" changes nothing.
    const declined = await runWharf(['container', 'prune', '--root', root], { stdin: Buffer.from('n\n') });
    assert.equal(declined.code, 0, declined.stderr);
    assert.match(declined.stderr, /Are you sure you want to continue\? \[y\/N\]/);
    assert.ok(existsSync(layout.containerDir(rec.id)));

    const pruned = await runWharf(['container', 'prune', '-f', '--root', root]);
    assert.equal(pruned.code, 0, pruned.stderr);
    assert.match(pruned.stdout.toString(), new RegExp(`^Deleted Containers:\\n(?:[0-9a-f]{64}\\n)*${rec.id}\\n`, 'm'));
    assert.match(pruned.stdout.toString(), /^Total reclaimed space: \d+(\.\d+)?[kMG]?B$/m);

    assert.equal(runs(rec.pid!, pidStart), false, 'the container process is gone');
    assert.deepEqual(mountsUnder(root), [], 'no mount under the node root');
    for (const d of cgroupDirs) assert.equal(existsSync(d), false, `${d} is removed`);
    assert.ok(!(await driver.list()).includes(rec.id));
    assert.equal(existsSync(layout.containerDir(rec.id)), false);
    // The name is free again.
    const again = await runWharf(['run', '--rm', '--root', root, '--name', 'victim', image, 'true']);
    assert.equal(again.code, 0, again.stderr);
  });

  test('a container whose wharf run is alive is left running; a stopped one is removed', async () => {
    const stopped = await runWharf(['run', '--root', root, image, 'true']);
    assert.equal(stopped.code, 0, stopped.stderr);
    const stoppedIds = readdirSync(layout.containersDir);
    assert.equal(stoppedIds.length, 1);

    const { child, rec } = await startSleeper();
    try {
      const pruned = await runWharf(['container', 'prune', '-f', '--root', root]);
      assert.equal(pruned.code, 0, pruned.stderr);
      assert.match(pruned.stdout.toString(), new RegExp(`^${stoppedIds[0]}$`, 'm'));
      assert.doesNotMatch(pruned.stdout.toString(), new RegExp(rec.id));
      assert.equal(existsSync(layout.containerDir(stoppedIds[0]!)), false);
      assert.ok(runs(rec.pid!, startTime(rec.pid!)), 'the running container still runs');
      assert.ok(mountsUnder(layout.containerDir(rec.id)).length > 0);
    } finally {
      // The container's PID 1 (sleep) has no handlers, so a SIGTERM forwarded by wharf run
      // would be ignored for 300 s: kill the program; wharf run then cleans up as usual.
      process.kill(rec.pid!, 'SIGKILL');
      await closed(child);
      await runWharf(['container', 'prune', '-f', '--root', root]);
    }
  });

  test("the node daemon's containers are never touched", async () => {
    const id = 'd'.repeat(64);
    const dir = layout.containerDir(id);
    await mkdir(dir, { recursive: true });
    await writeFile(layout.engineRecordPath(id), '{}');
    const old = new Date(Date.now() - 3600_000);
    await utimes(dir, old, old);
    const pruned = await runWharf(['container', 'prune', '-f', '--root', root]);
    assert.equal(pruned.code, 0, pruned.stderr);
    assert.doesNotMatch(pruned.stdout.toString(), new RegExp(id));
    assert.ok(existsSync(layout.engineRecordPath(id)));
    await rm(dir, { recursive: true, force: true });
  });

  test('a directory without any record is a leftover only once it is old (a start writes its record first)', async () => {
    const fresh = 'e'.repeat(64);
    const stale = 'f'.repeat(64);
    await mkdir(layout.containerDir(fresh), { recursive: true });
    await mkdir(layout.containerDir(stale), { recursive: true });
    const old = new Date(Date.now() - 3600_000);
    await utimes(layout.containerDir(stale), old, old);
    const pruned = await runWharf(['container', 'prune', '-f', '--root', root]);
    assert.equal(pruned.code, 0, pruned.stderr);
    assert.match(pruned.stdout.toString(), new RegExp(`^${stale}$`, 'm'));
    assert.ok(existsSync(layout.containerDir(fresh)));
    assert.equal(existsSync(layout.containerDir(stale)), false);
    await rm(layout.containerDir(fresh), { recursive: true, force: true });
  });

  test('--help', async () => {
    const r = await runWharf(['container', 'prune', '--help']);
    assert.equal(r.code, 0);
    assert.match(r.stdout.toString(), /^Usage: wharf container prune/m);
    assert.match(r.stdout.toString(), /-f, --force/);
  });
});
