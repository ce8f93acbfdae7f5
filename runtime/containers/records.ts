/**
 * Container records on the node root: one `container.json` per container (NodeLayout
 * decides where), and name claims under `names/`.
 *
 * A name is claimed by creating `names/<name>` exclusively; the claim holds the container
 * id and the claiming `wharf` process (pid + start time). A claim is live while that
 * process or the container's init runs; a stale claim (crash, or a stopped container) is
 * taken over, so `--name` is unique among running containers; the node daemon's claims
 * hold while its container exists (Docker's rule: unique among all containers).
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { readFile, readdir, rename, rm, writeFile } from 'node:fs/promises';
import type { NodeLayout } from '../layout.js';

export type ContainerState = 'created' | 'running' | 'exited';

export interface ContainerRecord {
  id: string;
  name: string;
  /** the image reference as stored (registry/name:tag) */
  image: string;
  /** config digest */
  imageId: string;
  command: string[];
  created: string;
  state: ContainerState;
  /** the `wharf run` process that started the container and cleans up after it: once it
   * is gone, the container is a leftover (`wharf container prune`) */
  owner?: { pid: number; startTime: string | null };
  /** host pid of the container's init while it runs */
  pid?: number;
  /** /proc/<pid>/stat start time, so that a reused pid is not mistaken for it */
  pidStartTime?: string;
  exitCode?: number;
  oomKilled?: boolean;
  finished?: string;
}

export class NameConflictError extends Error {
  override name = 'NameConflictError';
}

interface Claim {
  id: string;
  pid: number;
  startTime: string | null;
  /** a claim of the node daemon: it holds while the daemon's container exists, running or not */
  daemon?: true;
}

/** Field 22 of /proc/<pid>/stat (start time in clock ticks), or null when the process is gone. */
export async function processStartTime(pid: number): Promise<string | null> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? null;
  } catch {
    return null;
  }
}

/** This process's start time: it does not change, read once. */
let ownStartTime: string | null | undefined;
function selfStartTime(): string | null {
  if (ownStartTime === undefined) {
    try {
      const stat = readFileSync(`/proc/${process.pid}/stat`, 'utf8');
      ownStartTime = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? null;
    } catch {
      ownStartTime = null;
    }
  }
  return ownStartTime;
}

async function alive(pid: number | undefined, startTime: string | null | undefined): Promise<boolean> {
  if (!pid) return false;
  const now = await processStartTime(pid);
  return now !== null && (startTime == null || now === startTime);
}

export class ContainerStore {
  constructor(readonly layout: NodeLayout) {}

  newId(): string {
    return randomBytes(32).toString('hex');
  }

  async read(id: string): Promise<ContainerRecord | undefined> {
    try {
      return JSON.parse(await readFile(this.layout.containerRecordPath(id), 'utf8')) as ContainerRecord;
    } catch {
      return undefined;
    }
  }

  /** Atomic replace (temp file + rename) in the container's directory, which must exist. */
  async write(rec: ContainerRecord): Promise<void> {
    const path = this.layout.containerRecordPath(rec.id);
    const tmp = `${path}.tmp`;
    await writeFile(tmp, JSON.stringify(rec));
    await rename(tmp, path);
  }

  async list(): Promise<ContainerRecord[]> {
    const ids = await readdir(this.layout.containersDir).catch(() => [] as string[]);
    const out: ContainerRecord[] = [];
    for (const id of ids) {
      const rec = await this.read(id);
      if (rec) out.push(rec);
    }
    return out;
  }

  /** Is the container's init still running? */
  async isRunning(rec: ContainerRecord): Promise<boolean> {
    return rec.state === 'running' && (await alive(rec.pid, rec.pidStartTime));
  }

  private async claimIsLive(claim: Claim): Promise<boolean> {
    if (claim.daemon) return existsSync(this.layout.engineRecordPath(claim.id));
    if (await alive(claim.pid, claim.startTime)) return true;
    const rec = await this.read(claim.id);
    return rec !== undefined && (await this.isRunning(rec));
  }

  /**
   * Claims `name` for container `id` (this process is the claimant). The node daemon claims
   * with `daemon`: its names hold for as long as its containers exist, so a foreground
   * `wharf run --name` on the same node root cannot take one, nor the daemon a running one's.
   * The first attempt is synchronous: a small file in the page cache costs less than the
   * libuv pool round trips of its mkdir and exclusive create.
   */
  async claimName(name: string, id: string, opts: { daemon?: boolean } = {}): Promise<void> {
    mkdirSync(this.layout.namesDir, { recursive: true });
    const path = this.layout.nameClaimPath(name);
    const claim: Claim = { id, pid: process.pid, startTime: selfStartTime(), ...(opts.daemon ? { daemon: true as const } : {}) };
    for (let attempt = 0; attempt < 5; attempt++) {
      try {
        writeFileSync(path, JSON.stringify(claim), { flag: 'wx' });
        return;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      }
      let held: Claim | undefined;
      try {
        held = JSON.parse(await readFile(path, 'utf8')) as Claim;
      } catch {
        held = undefined; // being written or removed right now: retry
      }
      if (held?.id === id) {
        await writeFile(path, JSON.stringify(claim)); // ours already (a daemon restart)
        return;
      }
      if (held && (await this.claimIsLive(held))) {
        throw new NameConflictError(`the container name "${name}" is already in use by container ${held.id.slice(0, 12)}; choose another name`);
      }
      if (held) {
        // Stale: remove it only if it is still the one we judged.
        const again = await readFile(path, 'utf8').catch(() => '');
        if (again === JSON.stringify(held)) await rm(path, { force: true });
      }
    }
    throw new NameConflictError(`cannot claim the container name "${name}": it keeps changing hands`);
  }

  /** Releases the claim if it is still ours. */
  async releaseName(name: string, id: string): Promise<void> {
    const path = this.layout.nameClaimPath(name);
    try {
      const held = JSON.parse(readFileSync(path, 'utf8')) as Claim;
      if (held.id === id) rmSync(path, { force: true });
    } catch {
      /* no claim */
    }
  }
}
