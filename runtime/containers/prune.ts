/**
 * `wharf container prune`: removes every container that is not running under a live
 * `wharf run` — stopped ones (as `docker container prune` does) and the leftovers of a
 * `wharf run` that was SIGKILLed (its record names an owner that is gone).
 *
 * For each such container, in this order: its cgroup is destroyed (which SIGKILLs every
 * process still in it and waits until it is empty), its init is killed if it still runs
 * outside the cgroup (a start killed before the helper was placed), its overlay is
 * unmounted and its directory removed, and its name claim released. A container whose
 * owner still runs is left alone: that `wharf run` cleans up after it. So is every
 * container of the node daemon (a `record.json`): the daemon owns those (`wharf rm`).
 */
import { access, lstat, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { createCgroupDriver } from '../cgroups/detect.js';
import type { NodeLayout } from '../layout.js';
import { removeSnapshot } from '../layers/snapshots.js';
import { ContainerStore, processStartTime, type ContainerRecord } from './records.js';

/** A directory without a record is a start in flight (it writes the record first thing);
 * only one older than this is a leftover (of a wharf run from before records came first). */
const RECORDLESS_GRACE_MS = 60_000;

export interface PruneResult {
  /** ids of the containers removed */
  removed: string[];
  /** bytes the removed upper dirs held */
  reclaimedBytes: number;
  /** per container, what could not be cleaned */
  errors: string[];
}

async function alive(pid: number | undefined, startTime: string | null | undefined): Promise<boolean> {
  if (!pid) return false;
  const now = await processStartTime(pid);
  return now !== null && (startTime == null || now === startTime);
}

/** Is this container still someone's (a live `wharf run`, or a running one from before owners were recorded)? */
async function isOwned(store: ContainerStore, rec: ContainerRecord): Promise<boolean> {
  if (rec.owner) return alive(rec.owner.pid, rec.owner.startTime);
  return store.isRunning(rec);
}

async function diskUsage(path: string): Promise<number> {
  let total = 0;
  let entries;
  try {
    entries = await readdir(path, { withFileTypes: true });
  } catch {
    return 0;
  }
  for (const e of entries) {
    const p = join(path, e.name);
    if (e.isDirectory()) total += await diskUsage(p);
    else total += await lstat(p).then((s) => s.size, () => 0);
  }
  return total;
}

export async function pruneContainers(layout: NodeLayout): Promise<PruneResult> {
  const store = new ContainerStore(layout);
  const result: PruneResult = { removed: [], reclaimedBytes: 0, errors: [] };
  const ids = await readdir(layout.containersDir).catch(() => [] as string[]);
  if (ids.length === 0) return result;
  const driver = await createCgroupDriver();
  const cgroups = new Set(await driver.list());
  for (const id of ids) {
    if (await access(layout.engineRecordPath(id)).then(() => true, () => false)) continue;
    const rec = await store.read(id);
    if (rec && (await isOwned(store, rec))) continue;
    if (!rec) {
      const age = await stat(layout.containerDir(id)).then((s) => Date.now() - s.mtimeMs, () => 0);
      if (age < RECORDLESS_GRACE_MS) continue;
    }
    try {
      if (cgroups.has(id)) await (await driver.open(id)).destroy();
      if (rec?.pid && (await alive(rec.pid, rec.pidStartTime))) {
        try {
          process.kill(rec.pid, 'SIGKILL');
        } catch {
          /* gone meanwhile */
        }
      }
      const bytes = await diskUsage(layout.upperDir(id));
      await removeSnapshot(layout, id);
      if (rec) await store.releaseName(rec.name, id);
      result.removed.push(id);
      result.reclaimedBytes += bytes;
    } catch (e) {
      result.errors.push(`${id.slice(0, 12)}: ${(e as Error).message}`);
    }
  }
  return result;
}

/** Docker's units.HumanSize: decimal units, 4 significant digits ("0B", "12.29kB"). */
export function humanSize(bytes: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB', 'PB'];
  let n = bytes;
  let i = 0;
  while (n >= 1000 && i < units.length - 1) {
    n /= 1000;
    i++;
  }
  return `${Number(n.toPrecision(4))}${units[i]}`;
}
