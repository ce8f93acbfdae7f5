/**
 * Keeping the cache under `proxy.maxBytes`, least recently used first.
 *
 * Cache state lives in the metadata index: each cached blob's and manifest's last access
 * (`c` keys, written in batches by the cache), and the links of the cached namespaces.
 * An eviction reads it all once and counts references:
 * - bytes counted against the budget: blobs linked (or manifests held) in cached
 *   namespaces that no hosted manifest references;
 * - a blob is never evicted while a hosted manifest references it (it is not the cache's
 *   to drop) or while a cached manifest that stays references it: the unit of eviction
 *   is a cached manifest (with its tags), and a blob goes only when its count of
 *   referencing manifests falls to zero. Blobs no cached manifest references (fetched by
 *   digest alone) go first, oldest first.
 * Deletions run under GC's barrier, like a sweep.
 */
import { parseManifest } from '../../oci/manifest.js';
import type { Digest, RepositoryName } from '../../oci/names.js';
import type { GcBarrier } from '../../storage/gc.js';
import type { BlobStore, ManifestDescriptor, MetadataStore } from '../../storage/types.js';
import type { Upstreams } from './upstream.js';

export interface EvictionReport {
  cachedBytesBefore: number;
  cachedBytesAfter: number;
  manifests: { repository: string; digest: string }[];
  blobs: { digest: string; size: number }[];
}

interface CachedManifest {
  repo: RepositoryName;
  descriptor: ManifestDescriptor;
  refs: Digest[];
  lastAccess: number;
}

export class Evictor {
  /** accesses not yet written to the index */
  private readonly pending = new Map<Digest, number>();
  private flushing: Promise<void> | undefined;
  private running: Promise<EvictionReport> | undefined;
  private again = false;

  constructor(
    private readonly blobs: BlobStore,
    private readonly meta: MetadataStore,
    private readonly barrier: GcBarrier,
    private readonly upstreams: Upstreams,
    readonly maxBytes: number,
  ) {}

  private timer: NodeJS.Timeout | undefined;

  /** Write access times every 30 s (they matter only to the next eviction). */
  start(): void {
    this.timer = setInterval(() => void this.flush().catch(() => undefined), 30_000);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.running?.catch(() => undefined);
    await this.flush().catch(() => undefined);
  }

  /** A cached blob or manifest was served: one Map.set on the hot path. */
  touch(digest: Digest, at = Date.now()): void {
    this.pending.set(digest, at);
  }

  async flush(): Promise<void> {
    while (this.flushing) await this.flushing;
    if (this.pending.size === 0) return;
    const entries = [...this.pending];
    this.pending.clear();
    this.flushing = this.meta.putCacheAccess(entries).finally(() => (this.flushing = undefined));
    await this.flushing;
  }

  /** Something was stored: evict if over budget (one run at a time; a store during a run asks for another). */
  stored(): void {
    if (this.maxBytes <= 0) return;
    if (this.running) {
      this.again = true;
      return;
    }
    void this.settled();
  }

  /** Run (or join) an eviction and every one asked for meanwhile. */
  async settled(): Promise<EvictionReport | undefined> {
    if (this.maxBytes <= 0) return undefined;
    let last: EvictionReport | undefined;
    do {
      this.again = false;
      if (!this.running) this.running = this.evict().finally(() => (this.running = undefined));
      last = await this.running.catch(() => undefined);
    } while (this.again);
    return last;
  }

  private isCached(repo: string): boolean {
    return this.upstreams.owner(repo) !== undefined;
  }

  private async evict(): Promise<EvictionReport> {
    await this.flush();
    const lastAccess = new Map<Digest, number>();
    for await (const [d, at] of this.meta.scanCacheAccess()) lastAccess.set(d, at);

    // Hosted references protect; cached manifests count.
    const hostedRefs = new Set<Digest>();
    const cachedManifests: CachedManifest[] = [];
    for await (const m of this.meta.scanManifests()) {
      let refs: Digest[] = [];
      try {
        const parsed = parseManifest(await this.blobs.readAll(m.descriptor.digest), m.descriptor.mediaType);
        refs = [...parsed.blobs, ...parsed.manifests];
      } catch {
        /* bytes gone: references nothing */
      }
      if (this.isCached(m.repo)) {
        cachedManifests.push({ repo: m.repo, descriptor: m.descriptor, refs, lastAccess: lastAccess.get(m.descriptor.digest) ?? m.pushedAt });
      } else {
        hostedRefs.add(m.descriptor.digest);
        for (const r of refs) hostedRefs.add(r);
      }
    }
    const cachedLinks = new Map<Digest, { size: number; repos: RepositoryName[]; linkedAt: number }>();
    for await (const l of this.meta.scanBlobLinks()) {
      if (!this.isCached(l.repo)) {
        hostedRefs.add(l.digest);
        continue;
      }
      const e = cachedLinks.get(l.digest) ?? { size: l.size, repos: [], linkedAt: 0 };
      e.repos.push(l.repo);
      e.linkedAt = Math.max(e.linkedAt, l.linkedAt);
      cachedLinks.set(l.digest, e);
    }
    const sizeOf = new Map<Digest, number>();
    for (const [d, e] of cachedLinks) sizeOf.set(d, e.size);
    for (const m of cachedManifests) sizeOf.set(m.descriptor.digest, m.descriptor.size);
    const counted = (d: Digest) => !hostedRefs.has(d);
    let cachedBytes = 0;
    for (const [d, size] of sizeOf) if (counted(d)) cachedBytes += size;
    const report: EvictionReport = { cachedBytesBefore: cachedBytes, cachedBytesAfter: cachedBytes, manifests: [], blobs: [] };
    if (cachedBytes <= this.maxBytes) return report;

    const refCount = new Map<Digest, number>();
    for (const m of cachedManifests) for (const r of new Set([m.descriptor.digest, ...m.refs])) refCount.set(r, (refCount.get(r) ?? 0) + 1);

    return this.barrier.exclusive(async () => {
      const dropBlob = async (d: Digest) => {
        if (!counted(d) || (refCount.get(d) ?? 0) > 0) return;
        const size = sizeOf.get(d);
        if (size === undefined) return;
        sizeOf.delete(d);
        for (const repo of cachedLinks.get(d)?.repos ?? []) await this.meta.unlinkBlob(repo, d);
        await this.blobs.delete(d);
        cachedBytes -= size;
        report.blobs.push({ digest: d, size });
      };
      // Blobs no cached manifest references: oldest access first.
      const loose = [...cachedLinks.keys()].filter((d) => counted(d) && (refCount.get(d) ?? 0) === 0);
      loose.sort((a, b) => (lastAccess.get(a) ?? cachedLinks.get(a)!.linkedAt) - (lastAccess.get(b) ?? cachedLinks.get(b)!.linkedAt));
      for (const d of loose) {
        if (cachedBytes <= this.maxBytes) break;
        await dropBlob(d);
      }
      // Then whole cached manifests, least recently used first.
      cachedManifests.sort((a, b) => a.lastAccess - b.lastAccess);
      for (const m of cachedManifests) {
        if (cachedBytes <= this.maxBytes) break;
        await this.meta.deleteManifest(m.repo, m.descriptor.digest);
        report.manifests.push({ repository: m.repo, digest: m.descriptor.digest });
        for (const r of new Set([m.descriptor.digest, ...m.refs])) refCount.set(r, (refCount.get(r) ?? 1) - 1);
        for (const r of new Set([m.descriptor.digest, ...m.refs])) await dropBlob(r);
      }
      await this.meta.deleteCacheAccess(report.blobs.map((b) => b.digest as Digest));
      report.cachedBytesAfter = cachedBytes;
      return report;
    });
  }
}
