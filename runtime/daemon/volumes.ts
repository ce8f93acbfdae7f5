/**
 * Volume routes of the Engine API (moby api/server/router/volume): create, list
 * (filters dangling, name, driver, label), inspect, delete (409 while a container uses
 * it; `force` makes a missing one a success), prune (every unused volume: API 1.41,
 * where `all` was not yet needed).
 */
import { lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { VolumeRecord, VolumeStore, CreateVolume } from '../volumes/store.js';
import { readJson, sendEmpty, sendJson, type Router } from './router.js';
import { boolParam, parseFilters } from './containers.js';
import { badParameter, EngineError } from './errors.js';

export interface VolumeUsers {
  volumeUsers(name: string): string[];
}

const truthy = (v: string): boolean => {
  if (['1', 'true', 'True', 'TRUE'].includes(v)) return true;
  if (['0', 'false', 'False', 'FALSE'].includes(v)) return false;
  throw badParameter(`invalid filter 'dangling=${v}'`);
};

function keep(filters: Record<string, string[]>, users: VolumeUsers): (v: VolumeRecord) => boolean {
  return (v) => {
    for (const [key, values] of Object.entries(filters)) {
      if (values.length === 0) continue;
      const ok = values.some((f) => {
        switch (key) {
          case 'dangling':
            return truthy(f) === (users.volumeUsers(v.Name).length === 0);
          case 'name':
            return v.Name.includes(f);
          case 'driver':
            return v.Driver === f;
          case 'label': {
            const eq = f.indexOf('=');
            const k = eq < 0 ? f : f.slice(0, eq);
            return k in v.Labels && (eq < 0 || v.Labels[k] === f.slice(eq + 1));
          }
          case 'label!': {
            const eq = f.indexOf('=');
            const k = eq < 0 ? f : f.slice(0, eq);
            return !(k in v.Labels && (eq < 0 || v.Labels[k] === f.slice(eq + 1)));
          }
          default:
            return true;
        }
      });
      if (!ok) return false;
    }
    return true;
  };
}

/** Bytes of the regular files under `dir` (what prune reclaims). */
async function sizeOf(dir: string): Promise<number> {
  let total = 0;
  const entries = await readdir(dir, { recursive: true }).catch(() => [] as string[]);
  for (const e of entries) {
    const st = await lstat(join(dir, e)).catch(() => undefined);
    if (st?.isFile()) total += st.size;
  }
  return total;
}

export function registerVolumeRoutes(router: Router, volumes: VolumeStore, users: VolumeUsers): void {
  router.get('/volumes', (call) => {
    const filters = parseFilters(call.query.get('filters'), ['dangling', 'name', 'driver', 'label', 'label!']);
    const list = volumes.list().filter(keep(filters, users)).sort((a, b) => a.Name.localeCompare(b.Name));
    sendJson(call, 200, { Volumes: list.map((v) => volumes.view(v)), Warnings: null });
  });

  router.post('/volumes/create', async (call) => {
    const body = await readJson<CreateVolume>(call, {});
    sendJson(call, 201, volumes.view(await volumes.create(body)));
  });

  router.post('/volumes/prune', async (call) => {
    const filters = parseFilters(call.query.get('filters'), ['label', 'label!', 'all']);
    const { all: _all, ...rest } = filters;
    void _all;
    const deleted: string[] = [];
    let reclaimed = 0;
    for (const v of volumes.list().filter(keep(rest, users))) {
      if (users.volumeUsers(v.Name).length > 0) continue;
      const size = await sizeOf(volumes.mountpoint(v.Name));
      try {
        await volumes.remove(v.Name, users.volumeUsers(v.Name));
      } catch (e) {
        if (e instanceof EngineError && e.status === 409) continue;
        throw e;
      }
      deleted.push(v.Name);
      reclaimed += size;
    }
    sendJson(call, 200, { VolumesDeleted: deleted, SpaceReclaimed: reclaimed });
  });

  router.get('/volumes/{name}', (call) => {
    sendJson(call, 200, volumes.view(volumes.find(call.params.name!)));
  });

  router.delete('/volumes/{name}', async (call) => {
    const name = call.params.name!;
    if (!volumes.get(name) && boolParam(call.query, 'force')) return sendEmpty(call, 204);
    await volumes.remove(name, users.volumeUsers(name));
    sendEmpty(call, 204);
  });
}
