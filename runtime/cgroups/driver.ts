/**
 * Cgroups for containers: one CgroupDriver interface, two implementations
 * (v1.ts: one hierarchy per controller; v2.ts: the unified hierarchy), chosen
 * at start by detect.ts. Every container gets `wharf/<id>` under each hierarchy
 * it uses; nothing else in Wharf builds a cgroup path.
 */
import { existsSync, readFileSync, rmdirSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { DeviceRule } from '../security/devices.js';

/** Resource limits, in Docker's terms. Unset fields mean "no limit". */
export interface CgroupLimits {
  /** --memory, bytes. */
  memoryBytes?: number;
  /** --memory-swap: memory + swap in bytes, -1 unlimited. Unset with memoryBytes set: twice memoryBytes (Docker). */
  memorySwapBytes?: number;
  /** --cpu-shares (relative weight, 2..262144; v2 maps it to cpu.weight). */
  cpuShares?: number;
  /** --cpus, e.g. 1.5: quota = cpus * period. */
  cpus?: number;
  /** CFS period in µs for --cpus. Default 100000. */
  cpuPeriodUs?: number;
  /** --cpuset-cpus, e.g. "0" or "0-1". */
  cpusetCpus?: string;
  /** --cpuset-mems. */
  cpusetMems?: string;
  /** --pids-limit; 0 or -1: unlimited. */
  pidsLimit?: number;
  /** The devices cgroup, in order (runtime/security/devices.ts: Docker's defaults, --device,
   * --privileged). Unset: every device, as a fresh cgroup. */
  devices?: readonly DeviceRule[];
}

export interface CgroupStats {
  memoryUsageBytes: number;
  /** Peak usage, when the kernel reports it. */
  memoryMaxUsageBytes: number | null;
  /** OOM kills inside this cgroup (v1: memory.oom_control oom_kill, v2: memory.events oom_kill). */
  oomKills: number;
  /** Times the memory limit was hit (v1 memory.failcnt, v2 memory.events max). */
  memoryLimitHits: number;
  pidsCurrent: number;
  cpuUsageNs: number;
}

export interface Cgroup {
  readonly id: string;
  readonly version: 1 | 2;
  /** Limits that could not be applied on this kernel (e.g. no swap accounting). */
  readonly warnings: readonly string[];
  /** Directories of this cgroup (one per v1 hierarchy, one for v2). */
  readonly paths: readonly string[];
  /** What the container sees at /sys/fs/cgroup through its cgroup namespace: v1 the
   * hierarchies it sits in, named by their controllers as mounted ("memory", "cpu,cpuacct");
   * v2 the unified hierarchy. */
  readonly fs: { version: 1; hierarchies: readonly string[] } | { version: 2 };
  /** Moves a process (and, v1, its threads) into the cgroup: call before the container's program runs. */
  addProcess(pid: number): Promise<void>;
  /** Pids of the processes in the cgroup. */
  procs(): Promise<number[]>;
  stats(): Promise<CgroupStats>;
  /** Reads one control file of this cgroup, e.g. ("cpu", "cpu.cfs_quota_us") or (undefined, "cpu.max"). */
  read(file: string, controller?: string): Promise<string>;
  /** Freezes every process of the cgroup (docker pause); resolves once they are frozen. */
  freeze(): Promise<void>;
  /** Thaws them (docker unpause). */
  thaw(): Promise<void>;
  /** SIGKILLs every process left, waits until the cgroup is empty and removes it. Idempotent. */
  destroy(): Promise<void>;
}

export interface CgroupDriver {
  readonly version: 1 | 2;
  /** Creates wharf/<id> with the limits. Fails (leaving nothing behind) when a limit cannot be set. */
  create(id: string, limits?: CgroupLimits): Promise<Cgroup>;
  /** Ids of the containers that have a cgroup (e.g. leftovers after a crash). */
  list(): Promise<string[]>;
  /** Opens an existing cgroup (e.g. to destroy a leftover). */
  open(id: string): Promise<Cgroup>;
  /** The directories create(id) makes (Cgroup.paths), known before it runs. */
  pathsOf(id: string): string[];
  /** Starts, now, the kernel's wait that the next move of a process into a cgroup would pay
   * (see primeAttach): call it once the cgroup exists, well before the shim moves the
   * container's init in. Never fails. */
  primeAttach(): void;
}

export class CgroupError extends Error {
  override name = 'CgroupError';
}

const ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;
const CPU_LIST = /^\d+(-\d+)?(,\d+(-\d+)?)*$/;

export function checkId(id: string): string {
  if (typeof id !== 'string' || !ID.test(id)) throw new CgroupError(`invalid cgroup id: ${String(id)}`);
  return id;
}

function int(what: string, n: unknown, min: number, max = Number.MAX_SAFE_INTEGER): void {
  if (typeof n !== 'number' || !Number.isInteger(n) || n < min || n > max) {
    throw new CgroupError(`${what} must be an integer in ${min}..${max}`);
  }
}

/** Validates limits (Docker's rules) and returns them normalised. */
export function checkLimits(limits: CgroupLimits = {}): CgroupLimits {
  const l = { ...limits };
  if (l.memoryBytes !== undefined) int('memoryBytes', l.memoryBytes, 6 * 1024 * 1024);
  if (l.memorySwapBytes !== undefined) {
    if (l.memorySwapBytes !== -1) {
      int('memorySwapBytes', l.memorySwapBytes, 0);
      if (l.memoryBytes === undefined) throw new CgroupError('memorySwapBytes needs memoryBytes');
      if (l.memorySwapBytes < l.memoryBytes) throw new CgroupError('memorySwapBytes must be at least memoryBytes');
    }
  }
  if (l.cpuShares !== undefined) int('cpuShares', l.cpuShares, 2, 262144);
  if (l.cpuPeriodUs !== undefined) int('cpuPeriodUs', l.cpuPeriodUs, 1000, 1_000_000);
  if (l.cpus !== undefined) {
    if (typeof l.cpus !== 'number' || !Number.isFinite(l.cpus) || l.cpus <= 0) throw new CgroupError('cpus must be a positive number');
    if (Math.round(l.cpus * (l.cpuPeriodUs ?? 100000)) < 1000) throw new CgroupError('cpus too small (quota below 1ms)');
  }
  for (const k of ['cpusetCpus', 'cpusetMems'] as const) {
    const v = l[k];
    if (v !== undefined && (typeof v !== 'string' || !CPU_LIST.test(v))) throw new CgroupError(`${k} must be a list like 0-2,4`);
  }
  if (l.pidsLimit !== undefined) int('pidsLimit', l.pidsLimit, -1);
  if (l.devices !== undefined) {
    if (!Array.isArray(l.devices)) throw new CgroupError('devices must be an array of rules');
    l.devices.forEach((r: DeviceRule, i) => {
      const num = (n: unknown) => n === '*' || (typeof n === 'number' && Number.isInteger(n) && n >= 0 && n < 2 ** 31);
      if (typeof r !== 'object' || r === null || typeof r.allow !== 'boolean' || !['a', 'b', 'c'].includes(r.type) || !num(r.major) || !num(r.minor)) {
        throw new CgroupError(`devices[${i}] is not a device rule`);
      }
      if (typeof r.access !== 'string' || !/^(?!.*(.).*\1)[rwm]{1,3}$/.test(r.access)) throw new CgroupError(`devices[${i}].access must be a subset of rwm`);
    });
  }
  return l;
}

/** memory+swap total Docker would use: explicit, -1, or twice the memory. */
export function memorySwapTotal(l: CgroupLimits): number | undefined {
  if (l.memoryBytes === undefined) return undefined;
  return l.memorySwapBytes ?? l.memoryBytes * 2;
}

export function parsePids(text: string): number[] {
  return text
    .split('\n')
    .filter((s) => s.trim() !== '')
    .map(Number);
}

/* cgroupfs is kernel memory: its calls never wait for a disk, so they are made
 * synchronously (a start or an exit makes dozens; each libuv pool round trip costs more). */

export async function exists(p: string): Promise<boolean> {
  return existsSync(p);
}

export async function readOr(file: string, fallback: string): Promise<string> {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return fallback;
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * This process's own cgroup.procs in one hierarchy (from /proc/self/cgroup: v1 the line
 * naming `controller`, v2 the `0::` line), when it is there under `mount`.
 */
export function ownProcsFile(mount: string, controller: string | undefined): string | undefined {
  try {
    for (const line of readFileSync('/proc/self/cgroup', 'utf8').split('\n')) {
      const [, names, path] = /^\d+:([^:]*):(.*)$/.exec(line) ?? [];
      if (path === undefined || (controller === undefined ? names !== '' : !names!.split(',').includes(controller))) continue;
      const file = join(mount, path, 'cgroup.procs');
      return existsSync(file) ? file : undefined;
    }
  } catch {
    /* no /proc: no priming */
  }
  return undefined;
}

/**
 * A move into a cgroup (a write to cgroup.procs) takes the kernel's global
 * cgroup_threadgroup_rwsem for writing, and the first writer after a quiet spell waits for
 * an RCU grace period (rcu_sync_enter): 4 to 15 ms on this HZ=250 kernel, the slowest step
 * of a container start, paid by the shim's move of the container's init. Writers that come
 * during that grace period wait only for the rest of it, and those right after it not at
 * all. So the daemon moves itself to the cgroup it already is in (a migration that changes
 * nothing) on a libuv pool thread as soon as the container's cgroup exists: the grace period
 * runs while the rootfs is mounted, the spec written and the shim launched. (cgroup_mutex is
 * held meanwhile: a cgroup mkdir or rmdir waits, as it waits for any move.)
 */
export function primeAttach(ownProcs: string | undefined): void {
  if (ownProcs) void writeFile(ownProcs, String(process.pid)).catch(() => undefined);
}

/** Kills what `procs` lists until nothing is left, then removes the directories (deepest first). */
export async function killAndRemove(procs: () => Promise<number[]>, dirs: readonly string[]): Promise<void> {
  for (let round = 0; ; round++) {
    const pids = await procs();
    if (pids.length === 0) break;
    if (round > 1000) throw new CgroupError(`processes survive SIGKILL: ${pids.join(' ')}`);
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* gone already */
      }
    }
    await sleep(10);
  }
  for (const dir of dirs) {
    for (let round = 0; ; round++) {
      try {
        rmdirSync(dir);
        break;
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code === 'ENOENT') break;
        if (code !== 'EBUSY' || round > 500) throw new CgroupError(`cannot remove ${dir}: ${code}`);
        await sleep(10); // exiting tasks (zombies not yet reaped) still hold it
      }
    }
  }
}
