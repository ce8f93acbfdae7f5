/**
 * A dockerd and a containerd of a test's own: own data root, exec root / state, pid file
 * and socket, so the shared dockerd is never touched, and stopped when the test ends.
 * dockerd runs with --iptables=false --bridge=none: nothing it does reaches beyond the
 * machine's loopback.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { openSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { requireCommand, run } from './peers.js';

export interface OwnDaemon {
  /** unix socket path */
  socket: string;
  dir: string;
  stop(): Promise<void>;
}

async function waitFor(ready: () => Promise<boolean>, child: ChildProcess, what: string, log: string): Promise<void> {
  for (let i = 0; i < 240; i++) {
    if (child.exitCode !== null) throw new Error(`${what} exited with ${child.exitCode}; see ${log}`);
    if (await ready()) return;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`${what} did not come up in 60 s; see ${log}`);
}

function stopper(child: ChildProcess, dir: string): () => Promise<void> {
  return async () => {
    if (child.exitCode === null) {
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
      await exited;
      clearTimeout(timer);
    }
    // Overlay mounts of a daemon's data root are gone with it; whatever is left is plain files.
    await run('sh', ['-c', `grep -o " ${dir}[^ ]*" /proc/mounts | sort -r | xargs -r -n1 umount -l`]).catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  };
}

/** dockerd with `--registry-mirror=<mirror>` (Docker Hub names go there, un-prefixed). */
export async function startOwnDockerd(options: { registryMirror?: string } = {}): Promise<OwnDaemon> {
  await requireCommand('dockerd', 'docker.io');
  const dir = await mkdtemp(join(tmpdir(), 'wharf-dockerd-'));
  const socket = join(dir, 'docker.sock');
  const log = join(dir, 'dockerd.log');
  const args = [
    `--data-root=${join(dir, 'data')}`,
    `--exec-root=${join(dir, 'exec')}`,
    `--pidfile=${join(dir, 'dockerd.pid')}`,
    `--host=unix://${socket}`,
    '--iptables=false',
    '--bridge=none',
    '--ip-masq=false',
    ...(options.registryMirror ? [`--registry-mirror=${options.registryMirror}`] : []),
  ];
  const out = openSync(log, 'a');
  const child = spawn('dockerd', args, { stdio: ['ignore', out, out] });
  await waitFor(
    () => run('docker', ['--host', `unix://${socket}`, 'info', '--format', '{{.ServerVersion}}'], { timeout: 5_000 }).then(() => true, () => false),
    child,
    'the test dockerd',
    log,
  );
  return { socket, dir, stop: stopper(child, dir) };
}

/** containerd with its own root, state and socket; the CRI plugin off. */
export async function startOwnContainerd(): Promise<OwnDaemon> {
  await requireCommand('containerd', 'containerd');
  await requireCommand('ctr', 'containerd');
  const dir = await mkdtemp(join(tmpdir(), 'wharf-containerd-'));
  const socket = join(dir, 'containerd.sock');
  const log = join(dir, 'containerd.log');
  const config = join(dir, 'config.toml');
  await writeFile(
    config,
    [
      'version = 2',
      `root = "${join(dir, 'root')}"`,
      `state = "${join(dir, 'state')}"`,
      'disabled_plugins = ["io.containerd.grpc.v1.cri"]',
      '[grpc]',
      `  address = "${socket}"`,
      '[ttrpc]',
      `  address = "${socket}.ttrpc"`,
      '[debug]',
      `  address = "${socket}.debug"`,
      '',
    ].join('\n'),
  );
  const out = openSync(log, 'a');
  const child = spawn('containerd', ['--config', config], { stdio: ['ignore', out, out] });
  await waitFor(() => run('ctr', ['--address', socket, 'version'], { timeout: 5_000 }).then(() => true, () => false), child, 'the test containerd', log);
  return { socket, dir, stop: stopper(child, dir) };
}
