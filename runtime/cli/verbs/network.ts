/** `wharf network ...` and `wharf port`: the docker CLI's output over the daemon's /networks routes. */
import type { EngineClient } from '../engine/client.js';
import { CliError, EngineApiError } from '../engine/client.js';
import { compile } from '../format/go-template.js';
import { formatListing, type Listing } from '../format/table.js';
import { truncateId } from '../format/units.js';
import { filtersParam } from './ps.js';

interface NetworkJson {
  Id: string;
  Name: string;
  Driver: string;
  Scope: string;
  Internal: boolean;
  Created: string;
  Labels: Record<string, string> | null;
}

function keyValues(what: string, list: string[] | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const kv of list ?? []) {
    const eq = kv.indexOf('=');
    if (eq <= 0) throw new CliError(`invalid ${what} "${kv}": expected key=value`);
    out[kv.slice(0, eq)] = kv.slice(eq + 1);
  }
  return out;
}

export async function create(
  c: EngineClient,
  name: string,
  o: { driver: string; subnet?: string; gateway?: string; internal?: boolean; attachable?: boolean; opt?: string[]; label?: string[] },
): Promise<void> {
  if (o.gateway && !o.subnet) throw new CliError('every ip-range or gateway must have a corresponding subnet');
  const body = {
    Name: name,
    CheckDuplicate: true,
    Driver: o.driver,
    Internal: o.internal ?? false,
    Attachable: o.attachable ?? false,
    IPAM: { Driver: 'default', Config: o.subnet ? [{ Subnet: o.subnet, ...(o.gateway ? { Gateway: o.gateway } : {}) }] : [], Options: {} },
    Options: keyValues('--opt', o.opt),
    Labels: keyValues('--label', o.label),
  };
  const res = await c.json<{ Id: string }>('POST', '/networks/create', { body });
  process.stdout.write(`${res.Id}\n`);
}

const LISTING: Listing<NetworkJson & { trunc: boolean }> = {
  defaultFormat: 'table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}',
  headers: { ID: 'NETWORK ID', Name: 'NAME', Driver: 'DRIVER', Scope: 'SCOPE', IPv6: 'IPV6', Internal: 'INTERNAL', Labels: 'LABELS', CreatedAt: 'CREATED AT' },
  context: (n) => ({
    ID: n.trunc ? truncateId(n.Id) : n.Id,
    Name: n.Name,
    Driver: n.Driver,
    Scope: n.Scope,
    IPv6: 'false',
    Internal: String(n.Internal),
    Labels: Object.entries(n.Labels ?? {})
      .map(([k, v]) => `${k}=${v}`)
      .join(','),
    CreatedAt: n.Created,
  }),
};

export async function ls(c: EngineClient, o: { filter?: string[]; format?: string; quiet?: boolean; trunc?: boolean }): Promise<void> {
  const rows = await c.json<NetworkJson[]>('GET', '/networks', { query: { filters: filtersParam(o.filter) } });
  rows.sort((a, b) => a.Name.localeCompare(b.Name));
  const trunc = o.trunc !== false;
  if (o.quiet) {
    process.stdout.write(rows.map((n) => `${trunc ? truncateId(n.Id) : n.Id}\n`).join(''));
    return;
  }
  process.stdout.write(formatListing(rows.map((n) => ({ ...n, trunc })), LISTING, o.format));
}

export async function inspect(c: EngineClient, names: string[], o: { format?: string }): Promise<void> {
  const found: unknown[] = [];
  const missing: string[] = [];
  for (const n of names) {
    try {
      found.push(await c.json('GET', `/networks/${encodeURIComponent(n)}`));
    } catch (e) {
      if (e instanceof EngineApiError && e.status === 404) missing.push(n);
      else throw e;
    }
  }
  if (o.format) {
    const tpl = compile(o.format);
    for (const obj of found) process.stdout.write(`${tpl.execute(obj)}\n`);
  } else {
    process.stdout.write(`${JSON.stringify(found, null, 4)}\n`);
  }
  if (missing.length > 0) throw new CliError(missing.map((n) => `Error: No such network: ${n}`).join('\n'));
}

export async function rm(c: EngineClient, names: string[], o: { force?: boolean }): Promise<void> {
  const errors: string[] = [];
  for (const n of names) {
    try {
      await c.request('DELETE', `/networks/${encodeURIComponent(n)}`);
      process.stdout.write(`${n}\n`);
    } catch (e) {
      if (o.force && e instanceof EngineApiError && e.status === 404) continue;
      if (!(e instanceof CliError)) throw e;
      errors.push(e.message);
    }
  }
  if (errors.length > 0) throw new CliError(errors.join('\n'));
}

export async function connect(c: EngineClient, net: string, container: string, o: { alias?: string[]; ip?: string }): Promise<void> {
  await c.request('POST', `/networks/${encodeURIComponent(net)}/connect`, {
    body: { Container: container, EndpointConfig: { Aliases: o.alias ?? [], ...(o.ip ? { IPAMConfig: { IPv4Address: o.ip } } : {}) } },
  });
}

export async function disconnect(c: EngineClient, net: string, container: string, o: { force?: boolean }): Promise<void> {
  await c.request('POST', `/networks/${encodeURIComponent(net)}/disconnect`, { body: { Container: container, Force: o.force ?? false } });
}

export async function prune(c: EngineClient, o: { force?: boolean; filter?: string[] }): Promise<void> {
  if (!o.force) {
    process.stdout.write('WARNING! This will remove all custom networks not used by at least one container.\nAre you sure you want to continue? [y/N] ');
    const answer = await new Promise<string>((resolve) => {
      process.stdin.once('data', (b) => resolve(b.toString()));
      process.stdin.once('end', () => resolve(''));
    });
    process.stdin.pause();
    if (!/^y(es)?$/i.test(answer.trim())) return;
  }
  const res = await c.json<{ NetworksDeleted: string[] | null }>('POST', '/networks/prune', { query: { filters: filtersParam(o.filter) } });
  const deleted = res.NetworksDeleted ?? [];
  if (deleted.length > 0) process.stdout.write(`Deleted Networks:\n${deleted.map((n) => `${n}\n`).join('')}`);
}

/** `docker port`: "80/tcp -> 127.0.0.1:8080" per binding, or the bindings of one port. */
export async function port(c: EngineClient, container: string, which: string | undefined): Promise<void> {
  const info = await c.json<{ NetworkSettings?: { Ports?: Record<string, Array<{ HostIp: string; HostPort: string }> | null> } }>('GET', `/containers/${encodeURIComponent(container)}/json`);
  const ports = info.NetworkSettings?.Ports ?? {};
  if (which !== undefined) {
    const key = which.includes('/') ? which : `${which}/tcp`;
    const list = ports[key];
    if (!list || list.length === 0) throw new CliError(`Error: No public port '${key}' published for ${container}`);
    process.stdout.write(list.map((b) => `${b.HostIp}:${b.HostPort}\n`).join(''));
    return;
  }
  const lines: string[] = [];
  for (const [key, list] of Object.entries(ports).sort(([a], [b]) => parseInt(a) - parseInt(b))) for (const b of list ?? []) lines.push(`${key} -> ${b.HostIp}:${b.HostPort}\n`);
  process.stdout.write(lines.join(''));
}
