/**
 * Devices as Docker gives them to a container:
 *
 *   rules   the devices cgroup: deny everything, then allow mknod of any node and
 *           rwm on Docker's list (null, zero, full, random, urandom, tty, console,
 *           ptmx, pts/*, net/tun), then each --device; --privileged allows all
 *   nodes   what the init helper creates in the container (after pivot_root):
 *           each --device, and with --privileged every device of the host's /dev
 *
 * The cgroup drivers (runtime/cgroups/) turn rules into devices.allow/deny (v1) or a
 * BPF_PROG_TYPE_CGROUP_DEVICE program (v2).
 */
import { lstat, readdir, realpath, stat } from 'node:fs/promises';
import { posix } from 'node:path';

/** One devices cgroup rule; `'*'` matches any number. type 'a' = every device. */
export interface DeviceRule {
  allow: boolean;
  type: 'a' | 'c' | 'b';
  major: number | '*';
  minor: number | '*';
  /** a non-empty subset of "rwm" */
  access: string;
}

/** A device node the helper creates inside the container. */
export interface DeviceNode {
  /** absolute path inside the container */
  path: string;
  type: 'c' | 'b';
  major: number;
  minor: number;
  /** permission bits (e.g. 0o660) */
  mode: number;
  uid: number;
  gid: number;
}

export class DeviceError extends Error {
  override name = 'DeviceError';
}

const rule = (type: 'c' | 'b', major: number | '*', minor: number | '*', access = 'rwm'): DeviceRule => ({ allow: true, type, major, minor, access });

/** Docker's default rules (moby oci/defaults.go + runc's allowed devices), in order. */
export const DOCKER_DEFAULT_DEVICE_RULES: readonly DeviceRule[] = [
  { allow: false, type: 'a', major: '*', minor: '*', access: 'rwm' },
  rule('c', '*', '*', 'm'),
  rule('b', '*', '*', 'm'),
  rule('c', 1, 3), // null
  rule('c', 1, 5), // zero
  rule('c', 1, 7), // full
  rule('c', 1, 8), // random
  rule('c', 1, 9), // urandom
  rule('c', 5, 0), // tty
  rule('c', 5, 1), // console
  rule('c', 5, 2), // ptmx
  rule('c', 136, '*'), // pts/*
  rule('c', 10, 200), // net/tun
];

/** --privileged: every device. */
export const ALLOW_ALL_DEVICES: readonly DeviceRule[] = [{ allow: true, type: 'a', major: '*', minor: '*', access: 'rwm' }];

/** "c 1:3 rwm", the devices.allow/deny line of a rule. */
export function deviceRuleLine(r: DeviceRule): string {
  return r.type === 'a' ? 'a' : `${r.type} ${r.major}:${r.minor} ${r.access}`;
}

/** Docker's validDeviceMode: a non-empty subset of rwm, each letter once. */
export function validDeviceAccess(s: string): boolean {
  return s.length > 0 && s.length <= 3 && [...s].every((c, i) => 'rwm'.includes(c) && s.indexOf(c) === i);
}

export interface DeviceMapping {
  hostPath: string;
  containerPath: string;
  access: string;
}

/** --device HOST[:CONTAINER][:rwm], as docker/cli's parseDevice. */
export function parseDeviceFlag(spec: string): DeviceMapping {
  const parts = spec.split(':');
  let access = 'rwm';
  let dst = '';
  if (parts.length < 1 || parts.length > 3 || parts[0] === '') throw new DeviceError(`invalid device specification: ${spec}`);
  if (parts.length === 3) access = parts[2]!;
  if (parts.length >= 2) {
    if (parts.length === 2 && validDeviceAccess(parts[1]!)) access = parts[1]!;
    else dst = parts[1]!;
  }
  if (!validDeviceAccess(access)) throw new DeviceError(`invalid device mode: ${access}`);
  const src = parts[0]!;
  if (dst === '') dst = src;
  for (const p of [src, dst]) {
    if (!p.startsWith('/') || p.includes('\0')) throw new DeviceError(`bad format for path: ${p}`);
  }
  return { hostPath: src, containerPath: posix.normalize(dst), access };
}

async function nodeAt(path: string, containerPath: string): Promise<DeviceNode | undefined> {
  const st = await lstat(path);
  const type = st.isCharacterDevice() ? 'c' : st.isBlockDevice() ? 'b' : undefined;
  if (!type) return undefined;
  const rdev = Number(st.rdev);
  // Linux's new_encode_dev: minor low 8 bits, major 12 bits, minor high bits above.
  const major = (rdev >> 8) & 0xfff;
  const minor = (rdev & 0xff) | ((rdev >> 12) & 0xfff00);
  return { path: containerPath, type, major, minor, mode: st.mode & 0o7777, uid: st.uid, gid: st.gid };
}

/** The node and rule of one --device (symlinks on the host followed, as Docker). */
export async function deviceFromHost(m: DeviceMapping): Promise<{ node: DeviceNode; rule: DeviceRule }> {
  let resolved: string;
  try {
    resolved = await realpath(m.hostPath);
    await stat(resolved);
  } catch (e) {
    throw new DeviceError(`error gathering device information while adding custom device "${m.hostPath}": ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file or directory' : (e as Error).message}`);
  }
  const node = await nodeAt(resolved, m.containerPath);
  if (!node) throw new DeviceError(`error gathering device information while adding custom device "${m.hostPath}": not a device node`);
  return { node, rule: { allow: true, type: node.type, major: node.major, minor: node.minor, access: m.access } };
}

/** Directories of /dev that are not the host's devices (runc's GetDevices skips them). */
const SKIP_DIRS = new Set(['pts', 'shm', 'fd', 'mqueue', '.lxc', '.lxd-mounts', '.udev']);

/** Every char and block device under the host's /dev, for --privileged (runc's HostDevices). */
export async function hostDevices(root = '/dev'): Promise<DeviceNode[]> {
  const out: DeviceNode[] = [];
  const walk = async (dir: string): Promise<void> => {
    let entries;
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const p = posix.join(dir, e.name);
      if (e.isDirectory()) {
        if (!SKIP_DIRS.has(e.name)) await walk(p);
      } else if ((e.isCharacterDevice() || e.isBlockDevice()) && e.name !== 'console') {
        const node = await nodeAt(p, posix.join('/dev', posix.relative(root, p))).catch(() => undefined);
        if (node) out.push(node);
      }
    }
  };
  await walk(root);
  return out;
}
