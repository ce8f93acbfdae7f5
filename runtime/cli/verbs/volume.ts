/** `wharf volume create|ls|inspect|rm|prune` through the Engine API, printed as the docker CLI prints them. */
import type { EngineClient } from '../engine/client.js';
import { CliError } from '../engine/client.js';
import { formatListing, type Listing } from '../format/table.js';
import { compile } from '../format/go-template.js';
import { humanSize } from '../format/units.js';
import { forEach } from '../verb.js';

interface Volume {
  Name: string;
  Driver: string;
  Labels?: Record<string, string> | null;
  Mountpoint: string;
  Scope?: string;
  CreatedAt?: string;
}

const path = (name: string): string => `/volumes/${encodeURIComponent(name)}`;

/** key=value pairs of --label / --opt into a map (a bare key has an empty value). */
function pairs(list: string[] | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const p of list ?? []) {
    const i = p.indexOf('=');
    out[i < 0 ? p : p.slice(0, i)] = i < 0 ? '' : p.slice(i + 1);
  }
  return out;
}

/** -f key=value (repeatable) as the API's filters JSON. */
function filtersOf(list: string[] | undefined): string | undefined {
  if (!list?.length) return undefined;
  const f: Record<string, Record<string, boolean>> = {};
  for (const x of list) {
    const i = x.indexOf('=');
    if (i <= 0) throw new CliError(`bad format of filter (expected name=value)`);
    (f[x.slice(0, i)] ??= {})[x.slice(i + 1)] = true;
  }
  return JSON.stringify(f);
}

export async function create(client: EngineClient, name: string | undefined, o: { driver?: string; label?: string[]; opt?: string[]; name?: string }): Promise<void> {
  if (name && o.name && name !== o.name) throw new CliError(`conflicting options: either specify --name or provide positional arg, not both`);
  const v = await client.json<Volume>('POST', '/volumes/create', {
    body: { Name: name ?? o.name ?? '', Driver: o.driver ?? 'local', DriverOpts: pairs(o.opt), Labels: pairs(o.label) },
  });
  process.stdout.write(`${v.Name}\n`);
}

const LISTING: Listing<Volume> = {
  defaultFormat: 'table {{.Driver}}\t{{.Name}}',
  headers: { Driver: 'DRIVER', Name: 'VOLUME NAME', Mountpoint: 'MOUNTPOINT', Scope: 'SCOPE', Labels: 'LABELS', CreatedAt: 'CREATED' },
  context: (v) => ({
    ...v,
    Labels: Object.entries(v.Labels ?? {})
      .map(([k, val]) => `${k}=${val}`)
      .join(','),
    Label: (k: string) => v.Labels?.[k] ?? '',
  }),
};

export async function ls(client: EngineClient, o: { quiet?: boolean; filter?: string[]; format?: string }): Promise<void> {
  const res = await client.json<{ Volumes: Volume[] | null }>('GET', '/volumes', { query: { filters: filtersOf(o.filter) } });
  const vols = (res.Volumes ?? []).sort((a, b) => a.Name.localeCompare(b.Name));
  if (o.quiet) {
    process.stdout.write(vols.map((v) => `${v.Name}\n`).join(''));
    return;
  }
  process.stdout.write(formatListing(vols, LISTING, o.format));
}

export async function inspect(client: EngineClient, names: string[], o: { format?: string }): Promise<void> {
  const found: unknown[] = [];
  const errors: string[] = [];
  for (const n of names) {
    try {
      found.push(await client.json('GET', path(n)));
    } catch (e) {
      if (!(e instanceof CliError)) throw e;
      errors.push(e.message);
    }
  }
  if (o.format) {
    const tpl = compile(o.format);
    for (const v of found) process.stdout.write(`${tpl.execute(v)}\n`);
  } else if (found.length > 0 || errors.length === 0) {
    process.stdout.write(`${JSON.stringify(found, null, 4)}\n`);
  }
  if (errors.length > 0) throw new CliError(errors.join('\n'));
}

export async function rm(client: EngineClient, names: string[], o: { force?: boolean }): Promise<void> {
  await forEach(names, async (n) => {
    await client.request('DELETE', path(n), { query: { force: o.force } });
  });
}

export async function prune(client: EngineClient, o: { filter?: string[] }): Promise<void> {
  const res = await client.json<{ VolumesDeleted: string[] | null; SpaceReclaimed: number }>('POST', '/volumes/prune', { query: { filters: filtersOf(o.filter) } });
  const deleted = res.VolumesDeleted ?? [];
  if (deleted.length > 0) process.stdout.write(`Deleted Volumes:\n${deleted.map((d) => `${d}\n`).join('')}\n`);
  process.stdout.write(`Total reclaimed space: ${humanSize(res.SpaceReclaimed)}\n`);
}
