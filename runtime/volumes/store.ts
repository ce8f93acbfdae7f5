/**
 * The node's volumes (driver "local", as Docker's): each one a directory
 * `volumes/<name>/_data` under the node root (its Mountpoint) and a record beside it,
 * written atomically. Loaded once when the daemon starts; the map is the index.
 * Who uses a volume is the containers' business (their mount points): the caller passes
 * that in where it matters (remove, prune, dangling).
 */
import { mkdir, readFile, readdir, rm } from 'node:fs/promises';
import type { NodeLayout } from '../layout.js';
import { writeDurable } from '../containers/container.js';
import { badParameter, conflict, notFound } from '../daemon/errors.js';
import { anonymousVolumeName, checkVolumeName } from './mount-points.js';
import type { EventBus } from '../daemon/events.js';

/** Docker's label on the volumes it creates for `-v /path` and image VOLUMEs. */
export const ANONYMOUS_LABEL = 'com.docker.volume.anonymous';

export interface VolumeRecord {
  Name: string;
  Driver: 'local';
  Labels: Record<string, string>;
  Options: Record<string, string>;
  CreatedAt: string;
  anonymous: boolean;
}

export interface CreateVolume {
  Name?: unknown;
  Driver?: unknown;
  DriverOpts?: unknown;
  Labels?: unknown;
}

function stringMap(what: string, v: unknown): Record<string, string> {
  if (v === undefined || v === null) return {};
  if (typeof v !== 'object' || Array.isArray(v) || !Object.values(v).every((x) => typeof x === 'string')) throw badParameter(`${what} must be an object of strings`);
  return { ...(v as Record<string, string>) };
}

export class VolumeStore {
  private byName = new Map<string, VolumeRecord>();

  /** `events`: volume create / destroy go there (docker events) */
  constructor(
    readonly layout: NodeLayout,
    private readonly events?: EventBus,
  ) {}

  async load(): Promise<void> {
    await mkdir(this.layout.volumesDir, { recursive: true, mode: 0o701 });
    for (const name of await readdir(this.layout.volumesDir)) {
      try {
        this.byName.set(name, JSON.parse(await readFile(this.layout.volumeRecordPath(name), 'utf8')) as VolumeRecord);
      } catch {
        /* a create that did not finish: no record, no volume */
      }
    }
  }

  get(name: string): VolumeRecord | undefined {
    return this.byName.get(name);
  }

  /** 404 "no such volume", in moby's words ("get NAME: no such volume"). */
  find(name: string): VolumeRecord {
    const v = this.byName.get(name);
    if (!v) throw notFound(`get ${name}: no such volume`);
    return v;
  }

  list(): VolumeRecord[] {
    return [...this.byName.values()];
  }

  mountpoint(name: string): string {
    return this.layout.volumeDataDir(name);
  }

  /** POST /volumes/create: an existing name answers the existing volume, as dockerd. */
  async create(body: CreateVolume, anonymous = false): Promise<VolumeRecord> {
    if (typeof body !== 'object' || body === null || Array.isArray(body)) throw badParameter('the volume create body must be a JSON object');
    const name = body.Name === undefined || body.Name === null || body.Name === '' ? anonymousVolumeName() : body.Name;
    if (typeof name !== 'string') throw badParameter('Name must be a string');
    checkVolumeName(name);
    const driver = body.Driver === undefined || body.Driver === null || body.Driver === '' ? 'local' : body.Driver;
    if (driver !== 'local') throw notFound(`plugin "${String(driver)}" not found`);
    const options = stringMap('DriverOpts', body.DriverOpts);
    if (Object.keys(options).length > 0) throw badParameter(`create ${name}: options of the local driver (${Object.keys(options).join(', ')}) are not supported on this node`);
    const labels = stringMap('Labels', body.Labels);
    const existing = this.byName.get(name);
    if (existing) return existing;
    if (anonymous) labels[ANONYMOUS_LABEL] = '';
    const rec: VolumeRecord = { Name: name, Driver: 'local', Labels: labels, Options: options, CreatedAt: new Date().toISOString().replace(/\.\d+Z$/, 'Z'), anonymous };
    await mkdir(this.layout.volumeDataDir(name), { recursive: true, mode: 0o755 });
    await writeDurable(this.layout.volumeRecordPath(name), rec);
    this.byName.set(name, rec);
    this.events?.emit('volume', 'create', name, { driver: 'local' });
    return rec;
  }

  /** Removes the volume and its data; `users` are the containers that reference it (409 when any). */
  async remove(name: string, users: readonly string[]): Promise<void> {
    this.find(name);
    if (users.length > 0) throw conflict(`remove ${name}: volume is in use - [${users.join(', ')}]`);
    this.byName.delete(name);
    // The record first: a crash halfway leaves data without a record, which load() ignores.
    await rm(this.layout.volumeRecordPath(name), { force: true });
    await rm(this.layout.volumeDir(name), { recursive: true, force: true });
    this.events?.emit('volume', 'destroy', name, { driver: 'local' });
  }

  /** GET /volumes/{name} and the list's entries (api/types/volume Volume). */
  view(v: VolumeRecord): Record<string, unknown> {
    // dockerd answers null for no labels and no options
    const orNull = (m: Record<string, string>) => (Object.keys(m).length > 0 ? m : null);
    return { CreatedAt: v.CreatedAt, Driver: v.Driver, Labels: orNull(v.Labels), Mountpoint: this.mountpoint(v.Name), Name: v.Name, Options: orNull(v.Options), Scope: 'local' };
  }
}
