/**
 * Which cgroup version to drive, decided once at start:
 *   /sys/fs/cgroup is a cgroup2 mount            -> v2 (unified)
 *   otherwise (v1, or hybrid: v1 controllers plus an empty cgroup2 at
 *   /sys/fs/cgroup/unified)                       -> v1
 */
import { statfs } from 'node:fs/promises';
import type { CgroupDriver } from './driver.js';
import { CgroupV1Driver } from './v1.js';
import { CgroupV2Driver } from './v2.js';

export const CGROUP2_SUPER_MAGIC = 0x63677270;

export async function detectCgroupVersion(root = '/sys/fs/cgroup'): Promise<1 | 2> {
  const st = await statfs(root);
  return st.type === CGROUP2_SUPER_MAGIC ? 2 : 1;
}

/** The driver for this machine (or the forced version). */
export async function createCgroupDriver(options: { root?: string; version?: 1 | 2 } = {}): Promise<CgroupDriver> {
  const root = options.root ?? '/sys/fs/cgroup';
  const version = options.version ?? (await detectCgroupVersion(root));
  return version === 2 ? new CgroupV2Driver(root) : CgroupV1Driver.open();
}
