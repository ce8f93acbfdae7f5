/**
 * history and prune (moby api/server/router/image):
 *
 *   GET  /images/{name}/history         [{Id, Created, CreatedBy, Tags, Size, Comment}], newest first,
 *                                       from the config's history; Id is the image's for the top
 *                                       entry and "<missing>" below (dockerd: no local parent image)
 *   POST /images/prune?filters=         dangling=true (default): images without a tag; dangling=false
 *                                       (docker image prune -a): every image; label=, until= as
 *                                       dockerd. Images a container uses are kept. Answer:
 *                                       {ImagesDeleted: [{Untagged}|{Deleted}], SpaceReclaimed}
 *
 * A history entry's Size is its layer's size as stored (dockerd shows the uncompressed size;
 * for `docker save` layers they are the same).
 */
import type { Call, Router } from './router.js';
import { sendJson } from './router.js';
import type { DaemonDeps } from './deps.js';
import { EngineError, badParameter, noSuchImage } from './errors.js';
import { parseFilters } from './containers.js';
import { ImageNotFoundError, type ImageRecord } from '../images/store.js';

export function registerImageExtraRoutes(router: Router, deps: DaemonDeps): void {
  router.get('/images/{name*}/history', (call) => history(call, deps));
  router.post('/images/prune', (call) => prune(call, deps));
}

interface HistoryEntry {
  created?: string;
  created_by?: string;
  comment?: string;
  empty_layer?: boolean;
}

async function findImage(deps: DaemonDeps, name: string): Promise<ImageRecord> {
  const rec = await deps.images.get(name).catch((e: unknown) => {
    if (e instanceof ImageNotFoundError) throw new EngineError('notFound', `No such image: ${name} (${e.message})`);
    throw e;
  });
  if (!rec) throw noSuchImage(name);
  return rec;
}

async function history(call: Call, deps: DaemonDeps): Promise<void> {
  const rec = await findImage(deps, call.params.name!);
  const config = await deps.images.readBlobIfPresent(rec.configDigest);
  let entries: HistoryEntry[] = [];
  try {
    const parsed = JSON.parse(config?.toString('utf8') ?? '{}') as { history?: unknown };
    if (Array.isArray(parsed.history)) entries = parsed.history.filter((h): h is HistoryEntry => typeof h === 'object' && h !== null);
  } catch {
    /* a config without history: one entry per layer below */
  }
  if (entries.length === 0) entries = rec.layers.map(() => ({}));
  const tags = (await deps.images.list()).filter((r) => r.configDigest === rec.configDigest && r.tag).map((r) => r.reference).sort();
  let layer = 0;
  const rows = entries.map((h) => {
    const size = h.empty_layer ? 0 : (rec.layers[layer++]?.size ?? 0);
    return { Id: '<missing>', Created: h.created ? Math.floor(Date.parse(h.created) / 1000) : 0, CreatedBy: h.created_by ?? '', Tags: null as string[] | null, Size: size, Comment: h.comment ?? '' };
  });
  rows.reverse();
  if (rows[0]) {
    rows[0].Id = rec.configDigest;
    rows[0].Tags = tags;
  }
  sendJson(call, 200, rows);
}

function untilCutoff(values: string[] | undefined): number | undefined {
  const v = values?.[0];
  if (v === undefined) return undefined;
  if (/^\d+(\.\d+)?$/.test(v)) return Number(v) * 1000;
  const rel = /^(\d+)(s|m|h)$/.exec(v);
  if (rel) return Date.now() - Number(rel[1]) * { s: 1000, m: 60_000, h: 3_600_000 }[rel[2] as 's' | 'm' | 'h'];
  const t = Date.parse(v);
  if (Number.isNaN(t)) throw badParameter(`invalid filter 'until=${v}'`);
  return t;
}

async function prune(call: Call, deps: DaemonDeps): Promise<void> {
  const filters = parseFilters(call.query.get('filters'), ['dangling', 'label', 'label!', 'until']);
  const d = filters.dangling?.[0] ?? 'true';
  if (!['true', 'false', '1', '0'].includes(d)) throw badParameter(`invalid filter 'dangling=${d}'`);
  const danglingOnly = d === 'true' || d === '1';
  const until = untilCutoff(filters.until);
  const all = await deps.images.list();
  const byId = new Map<string, ImageRecord[]>();
  for (const r of all) byId.set(r.configDigest, [...(byId.get(r.configDigest) ?? []), r]);
  const deleted: Array<{ Untagged?: string; Deleted?: string }> = [];
  const sizes = new Map<string, number>();
  for (const [id, recs] of byId) {
    const first = recs[0]!;
    if (danglingOnly && recs.some((r) => r.tag)) continue;
    if (deps.containers.containersUsingImage(id).length > 0) continue;
    if (until !== undefined && first.created && Date.parse(first.created) >= until) continue;
    const labels = first.config.Labels ?? {};
    const has = (l: string) => {
      const [k, v] = l.split('=', 2) as [string, string | undefined];
      return k in labels && (v === undefined || labels[k] === v);
    };
    if (!(filters.label ?? []).every(has)) continue;
    if ((filters['label!'] ?? []).some(has)) continue;
    for (const l of first.layers) sizes.set(l.digest, l.size);
    const res = await deps.images.remove(id, { gc: false });
    for (const r of res.removed) if (recs.find((x) => x.reference === r)?.tag) deleted.push({ Untagged: r });
    deleted.push({ Deleted: id });
    deps.events.emit('image', 'delete', id, { name: id });
  }
  const gc = deleted.length > 0 ? await deps.images.gc() : { deletedBlobs: [] };
  let reclaimed = 0;
  for (const b of gc.deletedBlobs) {
    reclaimed += sizes.get(b) ?? 0;
    if (!deleted.some((x) => x.Deleted === b)) deleted.push({ Deleted: b });
  }
  sendJson(call, 200, { ImagesDeleted: deleted.length > 0 ? deleted : null, SpaceReclaimed: reclaimed });
}
