/**
 * The build cache, keyed as Docker's classic builder probes it (builder/dockerfile
 * imageProbe): the parent image ID + the step's instruction after ARG/ENV substitution (its
 * history `created_by`, which for COPY/ADD names the content checksum of the sources) + for
 * RUN the build args in effect. A hit hands back the step's result (its image config and
 * layers) as it was, so an unchanged rebuild makes the same image ID and starts nothing.
 *
 * Entries live under <root>/build/cache/<key>.json (NodeLayout). Image GC keeps the blobs
 * and unpacked layers an entry names (heldByCache); removing an image drops the entries that
 * made it and, up the chain, the steps no other entry builds on (pruneCacheFor), as dockerd
 * deletes an image's untagged parents.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdir, readdir, rename, rm, writeFile } from 'node:fs/promises';
import type { Digest } from '../../../oci/names.js';
import type { NodeLayout } from '../../layout.js';
import type { LayerRecord } from '../store.js';

export interface CacheEntry {
  key: string;
  /** image ID (config digest) the step started from; '' for scratch */
  parent: string;
  /** image ID of the result */
  id: string;
  config: Record<string, unknown>;
  layers: LayerRecord[];
}

export function cacheKey(parent: string, createdBy: string): string {
  return createHash('sha256').update(JSON.stringify([parent, createdBy])).digest('hex');
}

/** The image ID of a config: the digest of the bytes ImageStore.addImage writes. */
export function imageIdOf(config: Record<string, unknown>): string {
  return `sha256:${createHash('sha256').update(JSON.stringify(config)).digest('hex')}`;
}

/** One synchronous read of a small file (a miss is one failed open): cheaper than a thread-pool round trip per probe. */
export async function lookupCache(layout: NodeLayout, key: string): Promise<CacheEntry | undefined> {
  try {
    return JSON.parse(readFileSync(layout.buildCachePath(key), 'utf8')) as CacheEntry;
  } catch {
    return undefined;
  }
}

export async function storeCache(layout: NodeLayout, entry: CacheEntry): Promise<void> {
  await mkdir(layout.buildCacheDir, { recursive: true });
  const path = layout.buildCachePath(entry.key);
  const tmp = `${path}.tmp-${process.pid}-${Math.random().toString(16).slice(2)}`;
  await writeFile(tmp, JSON.stringify(entry));
  await rename(tmp, path);
}

async function allEntries(layout: NodeLayout): Promise<CacheEntry[]> {
  const names = await readdir(layout.buildCacheDir).catch(() => [] as string[]);
  const out: CacheEntry[] = [];
  for (const n of names) {
    if (!/^[0-9a-f]{64}\.json$/.test(n)) continue;
    const e = await lookupCache(layout, n.slice(0, 64));
    if (e) out.push(e);
  }
  return out;
}

/** Blobs and layer diffIDs the cache still needs. */
export async function heldByCache(layout: NodeLayout): Promise<{ blobs: Set<Digest>; layers: Set<Digest> }> {
  const blobs = new Set<Digest>();
  const layers = new Set<Digest>();
  for (const e of await allEntries(layout)) {
    for (const l of e.layers) {
      blobs.add(l.digest);
      layers.add(l.diffId);
    }
  }
  return { blobs, layers };
}

/** Drop the entries that made image `id`, then the parents nothing else builds on. */
export async function pruneCacheFor(layout: NodeLayout, id: string, keepIds: ReadonlySet<string>): Promise<void> {
  let entries = await allEntries(layout);
  let doomed = new Set([id]);
  while (doomed.size > 0) {
    const next = new Set<string>();
    for (const e of entries) {
      if (!doomed.has(e.id)) continue;
      await rm(layout.buildCachePath(e.key), { force: true });
      if (e.parent) next.add(e.parent);
    }
    entries = entries.filter((e) => !doomed.has(e.id));
    doomed = new Set([...next].filter((p) => !keepIds.has(p) && !entries.some((e) => e.parent === p)));
  }
}
