/**
 * A container start's mounts, made ready on the host side before its shim runs:
 *
 *   - a bind source from -v is created when missing (as `docker run -v` does); one from
 *     --mount must exist (moby: "bind source path does not exist");
 *   - an empty volume whose mount point still has CopyData is filled from the image's
 *     content at that destination, resolved inside the rootfs (runtime/layers/in-root.ts),
 *     once, as dockerd does;
 *   - every bind source (host path or volume directory) is opened here with O_PATH: the
 *     fd is what wharf-init mounts (runtime/native/spawn.ts PreparedMount), so what was
 *     checked is what lands in the container, and no path is looked up again.
 *
 * The caller hands `passFds` to the shim and calls `close()` once it has them.
 */
import { closeSync, constants as fsConstants, openSync, fstatSync } from 'node:fs';
import { lstat, mkdir, readdir } from 'node:fs/promises';
import { spawn } from 'node:child_process';
import type { PreparedMount } from '../native/spawn.js';
import { resolveInRoot } from '../layers/in-root.js';
import { badParameter } from '../daemon/errors.js';
import type { MountPoint } from './mount-points.js';
import type { VolumeStore } from './store.js';

/** O_PATH (Linux, every architecture Node runs on here): node:fs does not export it. */
const O_PATH = 0o10000000;

export interface PreparedMounts {
  mounts: PreparedMount[];
  /** true when a mount point's CopyData was used up: the record changed */
  copied: boolean;
  close(): void;
}

async function exists(p: string): Promise<boolean> {
  return lstat(p).then(
    () => true,
    () => false,
  );
}

/** cp -a of a directory's content (owners, modes, times, links as links, xattrs). */
function copyTree(from: string, to: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('cp', ['-a', '--', `${from}/.`, `${to}/`], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (c: Buffer) => (err += c.toString()));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`copying the image's content into the volume failed: ${err.trim()}`))));
  });
}

/** Fills an empty volume from the image's directory at the mount point's destination. */
async function copyUp(rootfs: string, m: MountPoint, data: string): Promise<boolean> {
  if ((await readdir(data)).length > 0) return false;
  const from = await resolveInRoot(rootfs, m.Destination);
  const st = await lstat(from).catch(() => undefined);
  if (!st?.isDirectory()) return false;
  await copyTree(from, data);
  return true;
}

/** At create, as dockerd: a --mount bind source must exist (a -v one is made at start). */
export async function checkBindSources(points: readonly MountPoint[]): Promise<void> {
  for (const m of points) {
    if (m.Type === 'bind' && !m.CreateSource && !(await exists(m.Source))) {
      throw badParameter(`invalid mount config for type "bind": bind source path does not exist: ${m.Source}`);
    }
  }
}

export async function prepareMounts(points: MountPoint[], rootfs: string, volumes: VolumeStore): Promise<PreparedMounts> {
  const fds: number[] = [];
  const close = () => {
    for (const fd of fds.splice(0)) closeSync(fd);
  };
  const mounts: PreparedMount[] = [];
  let copied = false;
  try {
    for (const m of points) {
      if (m.Type === 'tmpfs') {
        mounts.push({ type: 'tmpfs', target: m.Destination, readonly: !m.RW, flags: m.Tmpfs?.flags ?? ['noexec', 'nosuid', 'nodev'], data: m.Tmpfs?.data ?? '' });
        continue;
      }
      let source: string;
      if (m.Type === 'volume') {
        volumes.find(m.Name!);
        source = volumes.mountpoint(m.Name!);
        await mkdir(source, { recursive: true, mode: 0o755 });
        if (m.CopyData) {
          await copyUp(rootfs, m, source);
          m.CopyData = false; // once per container, as dockerd
          copied = true;
        }
      } else {
        source = m.Source;
        if (!(await exists(source))) {
          if (!m.CreateSource) throw badParameter(`invalid mount config for type "bind": bind source path does not exist: ${source}`);
          await mkdir(source, { recursive: true, mode: 0o755 });
        }
      }
      const fd = openSync(source, O_PATH | (m.Type === 'volume' ? fsConstants.O_DIRECTORY | fsConstants.O_NOFOLLOW : 0));
      fds.push(fd);
      const st = fstatSync(fd);
      if (!st.isDirectory() && !st.isFile()) throw badParameter(`invalid mount config for type "bind": bind source ${source} is neither a directory nor a file`);
      mounts.push({ type: 'bind', fd, target: m.Destination, readonly: !m.RW });
    }
  } catch (e) {
    close();
    throw e;
  }
  return { mounts, copied, close };
}
