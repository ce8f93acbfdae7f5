/**
 * cgroup v2: the unified hierarchy (normally /sys/fs/cgroup). A container's
 * cgroup is <root>/wharf/<id>; the controllers it needs are enabled in the
 * subtree_control of the root and of wharf/.
 */
import { join } from 'node:path';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { attachDeviceProgram } from '../native/devices.js';
import { deviceFilterProgram } from './device-filter.js';
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

const PARENT = 'wharf';
const WANTED = ['cpu', 'cpuset', 'memory', 'pids'];

/** Docker/runc's mapping of cpu shares (2..262144) to cpu.weight (1..10000). */
export function sharesToWeight(shares: number): number {
  return 1 + Math.floor(((shares - 2) * 9999) / 262142);
}

function keyed(text: string, key: string): number {
  return Number(new RegExp(`^${key} (\\d+)$`, 'm').exec(text)?.[1] ?? 0);
}

class V2Cgroup implements Cgroup {
  readonly version = 2 as const;
  readonly warnings: string[] = [];
  private destroyed = false;

  constructor(
    readonly id: string,
    readonly dir: string,
  ) {}

  readonly fs = { version: 2 as const };

  get paths(): string[] {
    return [this.dir];
  }

  async read(file: string): Promise<string> {
    return (readFileSync(join(this.dir, file), 'utf8')).trim();
  }

  private async write(file: string, value: string): Promise<void> {
    try {
      writeFileSync(join(this.dir, file), value);
    } catch (e) {
      throw new CgroupError(`cannot write ${value} to ${file}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
    }
  }

  async apply(l: CgroupLimits): Promise<void> {
    if (l.cpusetCpus !== undefined) await this.write('cpuset.cpus', l.cpusetCpus);
    if (l.cpusetMems !== undefined) await this.write('cpuset.mems', l.cpusetMems);
    if (l.memoryBytes !== undefined) {
      await this.write('memory.max', String(l.memoryBytes));
      const total = memorySwapTotal(l)!;
      if (await exists(join(this.dir, 'memory.swap.max'))) {
        await this.write('memory.swap.max', total === -1 ? 'max' : String(total - l.memoryBytes));
      } else if (l.memorySwapBytes !== undefined) {
        this.warnings.push('no swap accounting: memory-swap limit not applied');
      }
    }
    if (l.cpuShares !== undefined) await this.write('cpu.weight', String(sharesToWeight(l.cpuShares)));
    if (l.cpus !== undefined) {
      const period = l.cpuPeriodUs ?? 100000;
      await this.write('cpu.max', `${Math.round(l.cpus * period)} ${period}`);
    }
    if (l.pidsLimit !== undefined) await this.write('pids.max', l.pidsLimit > 0 ? String(l.pidsLimit) : 'max');
    if (l.devices !== undefined) {
      try {
        attachDeviceProgram(this.dir, deviceFilterProgram(l.devices));
      } catch (e) {
        throw new CgroupError(`cannot attach the device program to ${this.dir}: ${(e as Error).message}`, { cause: e });
      }
    }
  }

  async addProcess(pid: number): Promise<void> {
    if (!Number.isInteger(pid) || pid <= 0) throw new CgroupError(`invalid pid ${pid}`);
    await this.write('cgroup.procs', String(pid));
  }

  async procs(): Promise<number[]> {
    return parsePids(await readOr(join(this.dir, 'cgroup.procs'), ''));
  }

  async stats(): Promise<CgroupStats> {
    const events = await readOr(join(this.dir, 'memory.events'), '');
    const num = async (file: string): Promise<number> => Number((await readOr(join(this.dir, file), '0')).trim()) || 0;
    const peak = await readOr(join(this.dir, 'memory.peak'), '');
    return {
      memoryUsageBytes: await num('memory.current'),
      memoryMaxUsageBytes: peak ? Number(peak.trim()) : null,
      oomKills: keyed(events, 'oom_kill'),
      memoryLimitHits: keyed(events, 'max'),
      pidsCurrent: await num('pids.current'),
      cpuUsageNs: keyed(await readOr(join(this.dir, 'cpu.stat'), ''), 'usage_usec') * 1000,
    };
  }

  /** cgroup.freeze; cgroup.events says `frozen 1` once every process stopped. */
  private async setFrozen(on: boolean): Promise<void> {
    await this.write('cgroup.freeze', on ? '1' : '0');
    for (let i = 0; i < 1000; i++) {
      const events = await readOr(join(this.dir, 'cgroup.events'), '');
      if (new RegExp(`^frozen ${on ? 1 : 0}$`, 'm').test(events)) return;
      await sleep(2);
    }
    throw new CgroupError(`cgroup ${this.id} did not ${on ? 'freeze' : 'thaw'}`);
  }

  freeze(): Promise<void> {
    return this.setFrozen(true);
  }

  thaw(): Promise<void> {
    return this.setFrozen(false);
  }

  async destroy(): Promise<void> {
    if (this.destroyed) return;
    if (await exists(join(this.dir, 'cgroup.kill'))) {
      try {
        writeFileSync(join(this.dir, 'cgroup.kill'), '1');
      } catch {
        /* killed below */
      }
    }
    await killAndRemove(() => this.procs(), [this.dir]);
    this.destroyed = true;
  }
}

export class CgroupV2Driver implements CgroupDriver {
  readonly version = 2 as const;

  /** the daemon's own cgroup.procs, for primeAttach (looked up once) */
  private ownProcs: string | undefined | null = null;

  constructor(private readonly root = '/sys/fs/cgroup') {}

  primeAttach(): void {
    if (this.ownProcs === null) this.ownProcs = ownProcsFile(this.root, undefined);
    primeAttach(this.ownProcs);
  }

  /** Enables the controllers we need (those the kernel offers) in dir's subtree_control. */
  private async delegate(dir: string): Promise<void> {
    const available = (await readOr(join(dir, 'cgroup.controllers'), '')).trim().split(/\s+/);
    const enable = WANTED.filter((c) => available.includes(c));
    if (enable.length === 0) return;
    try {
      writeFileSync(join(dir, 'cgroup.subtree_control'), enable.map((c) => `+${c}`).join(' '));
    } catch (e) {
      throw new CgroupError(`cannot enable ${enable.join(' ')} in ${dir}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
    }
  }

  async create(id: string, limits: CgroupLimits = {}): Promise<Cgroup> {
    checkId(id);
    const l = checkLimits(limits);
    const parent = join(this.root, PARENT);
    const dir = join(parent, id);
    if (await exists(dir)) throw new CgroupError(`cgroup ${id} exists already`);
    await this.delegate(this.root);
    mkdirSync(parent, { recursive: true });
    await this.delegate(parent);
    mkdirSync(dir);
    const cg = new V2Cgroup(id, dir);
    try {
      await cg.apply(l);
    } catch (e) {
      await cg.destroy().catch(() => undefined);
      throw e;
    }
    return cg;
  }

  async open(id: string): Promise<Cgroup> {
    checkId(id);
    const dir = join(this.root, PARENT, id);
    if (!(await exists(dir))) throw new CgroupError(`no cgroup ${id}`);
    return new V2Cgroup(id, dir);
  }

  pathsOf(id: string): string[] {
    checkId(id);
    return [join(this.root, PARENT, id)];
  }

  async list(): Promise<string[]> {
    try {
      return (readdirSync(join(this.root, PARENT), { withFileTypes: true }))
        .filter((e) => e.isDirectory())
        .map((e) => e.name)
        .sort();
    } catch {
      return [];
    }
  }
}
