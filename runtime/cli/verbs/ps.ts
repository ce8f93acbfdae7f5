/** `wharf ps`: GET /containers/json, printed as `docker ps` prints it. */
import type { EngineClient } from '../engine/client.js';
import { CliError } from '../engine/client.js';
import { formatListing, type Listing } from '../format/table.js';
import { ellipsis, goTime, humanDuration, humanSize, truncateId } from '../format/units.js';

/** One item of GET /containers/json (the fields ps reads). */
export interface ContainerSummary {
  Id: string;
  Names?: string[];
  Image?: string;
  ImageID?: string;
  Command?: string;
  Created?: number;
  Ports?: Array<{ IP?: string; PrivatePort: number; PublicPort?: number; Type: string }>;
  Labels?: Record<string, string> | null;
  State?: string;
  Status?: string;
  SizeRw?: number;
  SizeRootFs?: number;
  Mounts?: Array<{ Name?: string; Source?: string }>;
  NetworkSettings?: { Networks?: Record<string, unknown> };
}

export interface PsOptions {
  all?: boolean;
  quiet?: boolean;
  filter?: string[];
  format?: string;
  trunc?: boolean;
  last?: string;
  latest?: boolean;
  size?: boolean;
}

/** `-f key=value` flags as the docker CLI sends them: {"key":{"value":true}}. */
export function filtersParam(filters: string[] | undefined): string | undefined {
  if (!filters || filters.length === 0) return undefined;
  const out: Record<string, Record<string, boolean>> = {};
  for (const f of filters) {
    const eq = f.indexOf('=');
    if (eq <= 0) throw new CliError(`invalid filter '${f}'`);
    (out[f.slice(0, eq).trim().toLowerCase()] ??= {})[f.slice(eq + 1)] = true;
  }
  return JSON.stringify(out);
}

function ports(c: ContainerSummary): string {
  return (c.Ports ?? [])
    .map((p) => (p.PublicPort ? `${p.IP ? `${p.IP.includes(':') ? `[${p.IP}]` : p.IP}:` : ''}${p.PublicPort}->${p.PrivatePort}/${p.Type}` : `${p.PrivatePort}/${p.Type}`))
    .join(', ');
}

function names(c: ContainerSummary, trunc: boolean): string {
  const all = (c.Names ?? []).map((n) => n.replace(/^\//, ''));
  // docker: truncated output shows the container's own name, not its link aliases (a/b).
  const own = trunc ? all.find((n) => !n.includes('/')) : undefined;
  return (own !== undefined ? [own] : all).join(',');
}

export function psListing(trunc: boolean, now = Date.now()): Listing<ContainerSummary> {
  return {
    defaultFormat: 'table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}',
    headers: {
      ID: 'CONTAINER ID',
      Image: 'IMAGE',
      Command: 'COMMAND',
      CreatedAt: 'CREATED AT',
      RunningFor: 'CREATED',
      Ports: 'PORTS',
      State: 'STATE',
      Status: 'STATUS',
      Size: 'SIZE',
      Names: 'NAMES',
      Labels: 'LABELS',
      Mounts: 'MOUNTS',
      Networks: 'NETWORKS',
      LocalVolumes: 'LOCAL VOLUMES',
    },
    context: (c) => {
      const created = new Date((c.Created ?? 0) * 1000);
      let image = c.Image ?? '';
      if (trunc && image.startsWith('sha256:')) image = truncateId(image);
      return {
        ID: trunc ? truncateId(c.Id) : c.Id,
        Image: image,
        Command: JSON.stringify(trunc ? ellipsis(c.Command ?? '', 20) : (c.Command ?? '')),
        CreatedAt: goTime(created),
        RunningFor: `${humanDuration(now - created.getTime())} ago`,
        Ports: ports(c),
        State: c.State ?? '',
        Status: c.Status ?? '',
        Size: c.SizeRw === undefined && c.SizeRootFs === undefined ? '0B' : `${humanSize(c.SizeRw ?? 0)} (virtual ${humanSize(c.SizeRootFs ?? 0)})`,
        Names: names(c, trunc),
        Labels: Object.entries(c.Labels ?? {})
          .map(([k, v]) => `${k}=${v}`)
          .join(','),
        Mounts: (c.Mounts ?? []).map((m) => m.Name ?? m.Source ?? '').join(','),
        Networks: Object.keys(c.NetworkSettings?.Networks ?? {}).sort().join(','),
        LocalVolumes: String((c.Mounts ?? []).filter((m) => m.Name).length),
      };
    },
  };
}

export async function ps(client: EngineClient, opts: PsOptions): Promise<void> {
  const limit = opts.latest ? 1 : opts.last !== undefined ? Number(opts.last) : undefined;
  if (limit !== undefined && !Number.isInteger(limit)) throw new CliError(`invalid argument "${opts.last}" for "-n, --last" flag`);
  const list = await client.json<ContainerSummary[]>('GET', '/containers/json', {
    query: { all: opts.all || (limit !== undefined && limit > 0), limit: limit !== undefined && limit > 0 ? limit : undefined, size: opts.size, filters: filtersParam(opts.filter) },
  });
  const trunc = opts.trunc !== false;
  const format = opts.quiet ? '{{.ID}}' : opts.format;
  process.stdout.write(formatListing(list, psListing(trunc), format));
}
