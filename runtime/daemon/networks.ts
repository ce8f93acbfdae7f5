/**
 * Network routes of the Engine API (moby api/server/router/network): list, inspect,
 * create, remove, connect, disconnect, prune. The networks themselves are
 * runtime/network/'s; containers are changed through the container manager's lock.
 */
import { createHash } from 'node:crypto';
import type { ContainerManager } from '../containers/manager.js';
import type { NetworkManager } from '../network/endpoints.js';
import type { CreateNetworkBody } from '../network/networks.js';
import type { NetworkRecord } from '../network/types.js';
import { badParameter, EngineError } from './errors.js';
import { readJson, sendEmpty, sendJson, type Router } from './router.js';
import { parseFilters } from './containers.js';

const PSEUDO = ['host', 'none'] as const;

function pseudoId(name: string, root: string): string {
  return createHash('sha256').update(`${root}\0${name}`).digest('hex');
}

function pseudoView(name: string, root: string): Record<string, unknown> {
  return {
    Name: name,
    Id: pseudoId(name, root),
    Created: '0001-01-01T00:00:00Z',
    Scope: 'local',
    Driver: name === 'host' ? 'host' : 'null',
    EnableIPv6: false,
    IPAM: { Driver: 'default', Options: null, Config: [] },
    Internal: false,
    Attachable: false,
    Ingress: false,
    ConfigFrom: { Network: '' },
    ConfigOnly: false,
    Containers: {},
    Options: {},
    Labels: {},
  };
}

export function networkView(n: NetworkRecord, network: NetworkManager): Record<string, unknown> {
  const containers: Record<string, unknown> = {};
  for (const { rec, ep } of network.endpointsOn(n.Id)) {
    containers[rec.id] = { Name: rec.name, EndpointID: ep.EndpointID, MacAddress: ep.MacAddress, IPv4Address: `${ep.IPAddress}/${ep.IPPrefixLen}`, IPv6Address: '' };
  }
  return {
    Name: n.Name,
    Id: n.Id,
    Created: n.Created,
    Scope: n.Scope,
    Driver: n.Driver,
    EnableIPv6: false,
    IPAM: n.IPAM,
    Internal: n.Internal,
    Attachable: n.Attachable,
    Ingress: false,
    ConfigFrom: { Network: '' },
    ConfigOnly: false,
    Containers: containers,
    Options: n.isDefault ? n.Options : { ...n.Options, 'com.docker.network.bridge.name': n.bridge },
    Labels: n.Labels,
  };
}

function matches(v: Record<string, unknown>, builtin: boolean, filters: Record<string, string[]>, dangling: (id: string) => boolean): boolean {
  for (const [k, values] of Object.entries(filters)) {
    if (values.length === 0) continue;
    const ok = values.some((f) => {
      switch (k) {
        case 'name':
          return String(v.Name).includes(f);
        case 'id':
          return String(v.Id).startsWith(f);
        case 'driver':
          return v.Driver === f;
        case 'type':
          return f === 'builtin' ? builtin : f === 'custom' ? !builtin : false;
        case 'label': {
          const [key, val] = f.split('=', 2) as [string, string | undefined];
          const labels = v.Labels as Record<string, string>;
          return key in labels && (val === undefined || labels[key] === val);
        }
        case 'dangling':
          return !builtin && (f === 'true' || f === '1') === dangling(String(v.Id));
        default:
          return true;
      }
    });
    if (!ok) return false;
  }
  return true;
}

export function registerNetworkRoutes(router: Router, containers: ContainerManager, network: NetworkManager): void {
  const root = containers.layout.root;
  const used = (n: NetworkRecord) => network.endpointsOn(n.Id).length > 0;
  const usedBy = (n: NetworkRecord) => containers.all().some((c) => Object.values(c.rec.networks ?? {}).some((ep) => ep.NetworkID === n.Id));
  const find = (ref: string): NetworkRecord => {
    if ((PSEUDO as readonly string[]).includes(ref) || PSEUDO.some((p) => pseudoId(p, root) === ref)) {
      throw new EngineError('forbidden', `operation not supported for the pre-defined network ${ref}`);
    }
    return network.store.find(ref);
  };

  router.get('/networks', (call) => {
    const filters = parseFilters(call.query.get('filters'), ['name', 'id', 'driver', 'type', 'label', 'dangling', 'scope']);
    const rows = [
      ...network.store.all().map((n) => ({ v: networkView(n, network), builtin: n.isDefault })),
      ...PSEUDO.map((p) => ({ v: pseudoView(p, root), builtin: true })),
    ].filter((r) => matches(r.v, r.builtin, filters, (id) => !usedBy(network.store.find(id))));
    sendJson(call, 200, rows.map((r) => r.v));
  });

  router.get('/networks/{id}', (call) => {
    const ref = call.params.id!;
    const pseudo = PSEUDO.find((p) => p === ref || pseudoId(p, root) === ref);
    if (pseudo) return sendJson(call, 200, pseudoView(pseudo, root));
    sendJson(call, 200, networkView(network.store.find(ref), network));
  });

  router.post('/networks/create', async (call) => {
    const body = await readJson<CreateNetworkBody>(call);
    const rec = await network.store.create(body);
    await network.syncFirewall();
    sendJson(call, 201, { Id: rec.Id, Warning: '' });
  });

  router.delete('/networks/{id}', async (call) => {
    const ref = call.params.id!;
    if ((PSEUDO as readonly string[]).includes(ref)) throw new EngineError('forbidden', `${ref} is a pre-defined network and cannot be removed`);
    const n = find(ref);
    if (used(n)) throw new EngineError('forbidden', `error while removing network: network ${n.Name} id ${n.Id} has active endpoints`);
    await network.store.remove(n);
    await network.syncFirewall();
    sendEmpty(call, 204);
  });

  router.post('/networks/{id}/connect', async (call) => {
    const n = find(call.params.id!);
    const body = await readJson<{ Container?: string; EndpointConfig?: { Aliases?: string[] | null; IPAMConfig?: { IPv4Address?: string } | null } | null }>(call);
    if (!body || typeof body.Container !== 'string' || body.Container === '') throw badParameter('Container is required');
    const aliases = body.EndpointConfig?.Aliases ?? null;
    if (aliases !== null && (!Array.isArray(aliases) || !aliases.every((a) => typeof a === 'string'))) throw badParameter('Aliases must be an array of strings');
    await containers.update(body.Container, (rec, running) => network.connect(rec, running, n, aliases, body.EndpointConfig?.IPAMConfig?.IPv4Address || undefined));
    sendEmpty(call, 200);
  });

  router.post('/networks/{id}/disconnect', async (call) => {
    const n = find(call.params.id!);
    const body = await readJson<{ Container?: string; Force?: boolean }>(call);
    if (!body || typeof body.Container !== 'string' || body.Container === '') throw badParameter('Container is required');
    await containers.update(body.Container, (rec) => network.disconnect(rec, n));
    sendEmpty(call, 200);
  });

  router.post('/networks/prune', async (call) => {
    const filters = parseFilters(call.query.get('filters'), ['label', 'until']);
    const deleted: string[] = [];
    for (const n of network.store.all()) {
      if (n.isDefault || usedBy(n)) continue;
      if (!matches(networkView(n, network), false, { label: filters.label ?? [] }, () => true)) continue;
      await network.store.remove(n);
      deleted.push(n.Name);
    }
    if (deleted.length > 0) await network.syncFirewall();
    sendJson(call, 200, { NetworksDeleted: deleted });
  });

}
