/**
 * cgroup v1: one hierarchy per controller, found in /proc/self/mountinfo
 * (e.g. /sys/fs/cgroup/memory, or a co-mounted /sys/fs/cgroup/cpu,cpuacct).
 * A container's cgroup is <hierarchy>/wharf/<id> in each hierarchy below.
 */
import { basename, dirname, join } from 'node:path';
import { closeSync, mkdirSync, openSync, readdirSync, readFileSync, writeFileSync, writeSync } from 'node:fs';
import { deviceRuleLine, type DeviceRule } from '../security/devices.js';
import {
  type Cgroup,
  type CgroupDriver,
  type CgroupLimits,
  type CgroupStats,
  CgroupError,
  checkId,
  checkLimits,
  exists,
  killAndRemove,
  memorySwapTotal,
  ownProcsFile,
  primeAttach,
  parsePids,
  readOr,
  sleep,
} from './driver.js';

/** The controllers a container is placed in. */
export const V1_CONTROLLERS = ['memory', 'cpu', 'cpuacct', 'cpuset', 'pids', 'freezer', 'devices'] as const;
export type V1Controller = (typeof V1_CONTROLLERS)[number];

const PARENT = 'wharf';

/** controller -> mount point of its v1 hierarchy. */
export async function v1Mounts(mountinfo = '/proc/self/mountinfo'): Promise<Map<string, string>> {
  const mounts = new Map<string, string>();
  for (const line of (readFileSync(mountinfo, 'utf8')).split('\n')) {
    const [pre, post] = line.split(' - ');
    if (!pre || !post) continue;
    const [fstype, , superOpts] = post.split(' ');
    if (fstype !== 'cgroup' || !superOpts) continue;
    const mountPoint = pre.split(' ')[4];
    if (!mountPoint) continue;
    for (const opt of superOpts.split(',')) if (!mounts.has(opt)) mounts.set(opt, mountPoint.replace(/\\040/g, ' '));
  }
  return mounts;
}

class V1Cgroup implements Cgroup {
  readonly version = 1 as const;
  readonly warnings: string[] = [];
  private destroyed = false;

  constructor(
    readonly id: string,
    /** controller -> directory (co-mounted controllers share one). */
    private readonly dirs: Map<V1Controller, string>,
  ) {}

  get paths(): string[] {
    return [...new Set(this.dirs.values())];
  }

  get fs(): { version: 1; hierarchies: string[] } {
    const byDir = new Map<string, string[]>();
    for (const [c, d] of this.dirs) byDir.set(d, [...(byDir.get(d) ?? []), c]);
    // A hierarchy is mounted with all its controllers: its mount point's name says them
    // ("cpu,cpuacct"), else those we placed the container in.
    const hierarchies = [...byDir].map(([d, controllers]) => {
      const name = basename(dirname(dirname(d)));
      return /^[a-z0-9_]+(,[a-z0-9_]+)*$/.test(name) && controllers.every((c) => name.split(',').includes(c)) ? name : controllers.join(',');
    });
    return { version: 1, hierarchies };
  }

  dir(controller: V1Controller): string {
    const d = this.dirs.get(controller);
    if (!d) throw new CgroupError(`cgroup v1 controller ${controller} is not mounted`);
    return d;
  }

  async read(file: string, controller?: string): Promise<string> {
    const c = (controller ?? file.split('.')[0]) as V1Controller;
    return (readFileSync(join(this.dir(c), file), 'utf8')).trim();
  }

  async write(controller: V1Controller, file: string, value: string): Promise<void> {
    try {
      writeFileSync(join(this.dir(controller), file), value);
    } catch (e) {
      throw new CgroupError(`cannot write ${value} to ${controller}/${file}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
    }
  }

  async apply(l: CgroupLimits): Promise<void> {
    if (l.memoryBytes !== undefined) {
      await this.write('memory', 'memory.limit_in_bytes', String(l.memoryBytes));
      const total = memorySwapTotal(l);
      if (total !== undefined) {
        if (await exists(join(this.dir('memory'), 'memory.memsw.limit_in_bytes'))) {
          await this.write('memory', 'memory.memsw.limit_in_bytes', String(total));
        } else if (l.memorySwapBytes !== undefined) {
          this.warnings.push('no swap accounting: memory-swap limit not applied');
        }
      }
    }
    if (l.cpuShares !== undefined) await this.write('cpu', 'cpu.shares', String(l.cpuShares));
    if (l.cpus !== undefined) {
      const period = l.cpuPeriodUs ?? 100000;
      await this.write('cpu', 'cpu.cfs_period_us', String(period));
      await this.write('cpu', 'cpu.cfs_quota_us', String(Math.round(l.cpus * period)));
    }
    if (l.pidsLimit !== undefined) await this.write('pids', 'pids.max', l.pidsLimit > 0 ? String(l.pidsLimit) : 'max');
    if (l.devices) this.writeDevices(l.devices);
  }

  /** One rule per write(2), as the kernel parses them, in order: "a" in devices.deny empties
   * the whitelist, later allows add to it. Synchronous: a dozen tiny writes on two open
   * fds cost less than one round trip through the libuv pool. */
  private writeDevices(rules: readonly DeviceRule[]): void {
    const fds = new Map<string, number>();
    const dir = this.dir('devices');
    try {
      for (const r of rules) {
        const file = r.allow ? 'devices.allow' : 'devices.deny';
        let fd = fds.get(file);
        if (fd === undefined) fds.set(file, (fd = openSync(join(dir, file), 'w')));
        try {
          writeSync(fd, deviceRuleLine(r));
        } catch (e) {
          throw new CgroupError(`cannot write ${deviceRuleLine(r)} to devices/${file}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
        }
      }
    } finally {
      for (const fd of fds.values()) closeSync(fd);
    }
  }

  async addProcess(pid: number): Promise<void> {
    if (!Number.isInteger(pid) || pid <= 0) throw new CgroupError(`invalid pid ${pid}`);
    for (const dir of this.paths) {
      try {
        writeFileSync(join(dir, 'cgroup.procs'), String(pid));
      } catch (e) {
        throw new CgroupError(`cannot add ${pid} to ${dir}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
      }
    }
  }

  async procs(): Promise<number[]> {
    const all = new Set<number>();
    for (const dir of this.paths) for (const pid of parsePids(await readOr(join(dir, 'cgroup.procs'), ''))) all.add(pid);
    return [...all];
  }

  async stats(): Promise<CgroupStats> {
    const mem = this.dir('memory');
    const oomControl = await readOr(join(mem, 'memory.oom_control'), '');
    const oomKills = Number(/^oom_kill (\d+)$/m.exec(oomControl)?.[1] ?? 0);
    const num = async (dir: string, file: string): Promise<number> => Number((await readOr(join(dir, file), '0')).trim()) || 0;
    return {
      memoryUsageBytes: await num(mem, 'memory.usage_in_bytes'),
      memoryMaxUsageBytes: await num(mem, 'memory.max_usage_in_bytes'),
      oomKills,
      memoryLimitHits: await num(mem, 'memory.failcnt'),
      pidsCurrent: this.dirs.has('pids') ? await num(this.dir('pids'), 'pids.current') : 0,
      cpuUsageNs: this.dirs.has('cpuacct') ? await num(this.dir('cpuacct'), 'cpuacct.usage') : 0,
    };
  }

  /** freezer.state: FROZEN is reached once every task stopped (FREEZING until then). */
  private async setFreezer(state: 'FROZEN' | 'THAWED'): Promise<void> {
    await this.write('freezer', 'freezer.state', state);
    for (let i = 0; i < 1000; i++) {
      if ((await this.read('freezer.state', 'freezer')) === state) return;
      await sleep(2);
      await this.write('freezer', 'freezer.state', state);
    }
    throw new CgroupError(`cgroup ${this.id} did not reach ${state}`);
  }

  freeze(): Promise<void> {
    return this.setFreezer('FROZEN');
  }

  thaw(): Promise<void> {
    return this.setFreezer('THAWED');
  }

  async destroy(): Promise<void> {
    if (this.destroyed) return;
    // SIGKILL waits for a frozen task to thaw.
    if (this.dirs.has('freezer')) await this.write('freezer', 'freezer.state', 'THAWED').catch(() => undefined);
    await killAndRemove(() => this.procs(), this.paths);
    this.destroyed = true;
  }
}

export class CgroupV1Driver implements CgroupDriver {
  readonly version = 1 as const;

  /** the daemon's own cgroup.procs in the cpu hierarchy, for primeAttach */
  private readonly ownProcs: string | undefined;

  private constructor(private readonly mounts: Map<V1Controller, string>) {
    this.ownProcs = ownProcsFile(mounts.get('cpu')!, 'cpu');
  }

  primeAttach(): void {
    primeAttach(this.ownProcs);
  }

  static async open(mountinfo?: string): Promise<CgroupV1Driver> {
    const all = await v1Mounts(mountinfo);
    const mounts = new Map<V1Controller, string>();
    for (const c of V1_CONTROLLERS) {
      const m = all.get(c);
      if (m) mounts.set(c, m);
    }
    for (const needed of ['memory', 'cpu', 'pids'] as const) {
      if (!mounts.has(needed)) throw new CgroupError(`cgroup v1 controller ${needed} is not mounted`);
    }
    return new CgroupV1Driver(mounts);
  }

  private dirsFor(id: string): Map<V1Controller, string> {
    const dirs = new Map<V1Controller, string>();
    for (const [c, m] of this.mounts) dirs.set(c, join(m, PARENT, id));
    return dirs;
  }

  /** cpuset needs cpus and mems before any task joins: inherit them from the parent. */
  private async initCpuset(dir: string, parent: string, l: CgroupLimits): Promise<void> {
    const cpus = l.cpusetCpus ?? (readFileSync(join(parent, 'cpuset.cpus'), 'utf8')).trim();
    const mems = l.cpusetMems ?? (readFileSync(join(parent, 'cpuset.mems'), 'utf8')).trim();
    try {
      writeFileSync(join(dir, 'cpuset.cpus'), cpus);
      writeFileSync(join(dir, 'cpuset.mems'), mems);
    } catch (e) {
      throw new CgroupError(`cannot set cpuset ${cpus}/${mems}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
    }
  }

  async create(id: string, limits: CgroupLimits = {}): Promise<Cgroup> {
    checkId(id);
    const l = checkLimits(limits);
    const dirs = this.dirsFor(id);
    for (const dir of new Set(dirs.values())) if (await exists(dir)) throw new CgroupError(`cgroup ${id} exists already`);
    const cg = new V1Cgroup(id, dirs);
    try {
      const made = new Set<string>();
      for (const [c, mount] of this.mounts) {
        const parent = join(mount, PARENT);
        if (!(await exists(parent))) {
          mkdirSync(parent, { recursive: true });
          if (c === 'cpuset') await this.initCpuset(parent, mount, {});
        }
        const dir = join(parent, id);
        if (!made.has(dir)) mkdirSync(dir); // co-mounted controllers share one directory
        made.add(dir);
        if (c === 'cpuset') await this.initCpuset(dir, parent, l);
      }
      await cg.apply(l);
    } catch (e) {
      await cg.destroy().catch(() => undefined);
      throw e instanceof CgroupError ? e : new CgroupError(`cannot create cgroup ${id}: ${String(e)}`);
    }
    return cg;
  }

  async open(id: string): Promise<Cgroup> {
    checkId(id);
    const dirs = this.dirsFor(id);
    if (!(await exists(dirs.get('memory')!))) throw new CgroupError(`no cgroup ${id}`);
    return new V1Cgroup(id, dirs);
  }

  pathsOf(id: string): string[] {
    checkId(id);
    return [...new Set(this.dirsFor(id).values())];
  }

  async list(): Promise<string[]> {
    const ids = new Set<string>();
    for (const mount of new Set(this.mounts.values())) {
      try {
        for (const e of readdirSync(join(mount, PARENT), { withFileTypes: true })) if (e.isDirectory()) ids.add(e.name);
      } catch {
        /* no wharf/ yet */
      }
    }
    return [...ids].sort();
  }
}
