/**
 * Online garbage collection over the metadata index, while the registry serves.
 *
 * Roots: tags (minus those a retention rule drops), and untagged manifests younger than
 * `untaggedAfter` (per rule, else the default); a manifest or blob link with no time (an
 * older store) is as old as the store's first collection. Edges: index -> children, manifest ->
 * config and layers, referrer -> subject; and a live manifest keeps its referrers
 * (signatures and SBOMs live as long as what they describe). A blob linked within the
 * last `uploadLease` is live whatever references it -- a push uploads blobs first and
 * its manifest later, and a collection must never win that race (quay#6318).
 *
 * mark: read tags, manifests and blob links once; walk the graph from the roots.
 * sweep: under the barrier (puts, mounts and commits wait for it, briefly), take in what
 * was put since the mark began, then unlink dead manifests and delete unreferenced blobs
 * with all their links. A dry run stops before the sweep's writes and reports exactly
 * what it would free.
 */
import { parseManifest } from '../oci/manifest.js';
import { repositoryGlob, type Digest, type RepositoryName, type Tag } from '../oci/names.js';
import type { BlobStore, ManifestDescriptor, MetadataStore } from './types.js';

export interface RetentionRule {
  repositories: string[];
  /** keep this many most recently pushed tags; 0 = all */
  keepTags: number;
  /** ms; default: the collection's untaggedAfter */
  untaggedAfter?: number;
}

export interface GcOptions {
  /** ms a linked blob is protected before a manifest must reference it */
  uploadLease: number;
  /** ms after which an untagged manifest is no longer a root */
  untaggedAfter: number;
  retention?: RetentionRule[];
  dryRun?: boolean;
  /** default: Date.now() */
  now?: number;
}

export interface GcReport {
  dryRun: boolean;
  startedAt: string;
  durationMs: number;
  /** tags dropped by retention rules */
  tags: { repository: string; tag: string }[];
  /** manifests unlinked from their repositories */
  manifests: { repository: string; digest: string }[];
  /** blobs deleted from the store (manifests' own bytes included) */
  blobs: { digest: string; size: number }[];
  bytesFreed: number;
}

/**
 * Writers that create references (manifest puts, mounts, upload commits, cache fills)
 * enter shared; the sweep runs exclusive. A writer arriving during a sweep waits for it.
 */
export class GcBarrier {
  private active = 0;
  private sweep: Promise<void> | undefined;
  private drained: (() => void) | undefined;

  async shared<T>(fn: () => Promise<T>): Promise<T> {
    while (this.sweep) await this.sweep;
    this.active++;
    try {
      return await fn();
    } finally {
      this.active--;
      if (this.active === 0) this.drained?.();
    }
  }

  async exclusive<T>(fn: () => Promise<T>): Promise<T> {
    while (this.sweep) await this.sweep;
    let release!: () => void;
    this.sweep = new Promise<void>((r) => (release = r));
    try {
      if (this.active > 0) await new Promise<void>((r) => (this.drained = r));
      this.drained = undefined;
      return await fn();
    } finally {
      this.sweep = undefined;
      release();
    }
  }
}

const key = (repo: string, digest: string): string => `${repo}\0${digest}`;

interface ManifestNode {
  repo: RepositoryName;
  descriptor: ManifestDescriptor;
  pushedAt: number;
}

export class GarbageCollector {
  private running: Promise<GcReport> | undefined;

  constructor(
    private readonly blobs: BlobStore,
    private readonly meta: MetadataStore,
    private readonly barrier: GcBarrier,
  ) {}

  /** One collection at a time: a second caller gets the running one's report. */
  collect(options: GcOptions): Promise<GcReport> {
    if (!this.running) this.running = this.run(options).finally(() => (this.running = undefined));
    return this.running;
  }

  private async run(options: GcOptions): Promise<GcReport> {
    const now = options.now ?? Date.now();
    const started = Date.now();
    const rules = (options.retention ?? []).map((r) => ({ ...r, globs: r.repositories.map(repositoryGlob) }));
    const ruleFor = (repo: string) => rules.find((r) => r.globs.some((g) => g.test(repo)));

    // Links and manifests with no time (written before times were kept) count from the first collection.
    const epoch = await this.meta.firstCollectionAt(now, !options.dryRun);
    const timeOf = (t: number) => (t === 0 ? epoch : t);

    // mark
    const manifests = new Map<string, ManifestNode>();
    for await (const m of this.meta.scanManifests()) manifests.set(key(m.repo, m.descriptor.digest), m);
    const tagsByRepo = new Map<RepositoryName, { tag: Tag; digest: Digest }[]>();
    for await (const t of this.meta.scanTags()) {
      const list = tagsByRepo.get(t.repo) ?? [];
      list.push({ tag: t.tag, digest: t.digest });
      tagsByRepo.set(t.repo, list);
    }
    const leasedUntil = new Map<Digest, number>();
    const linksOf = new Map<Digest, { repos: RepositoryName[]; size: number }>();
    for await (const l of this.meta.scanBlobLinks()) {
      leasedUntil.set(l.digest, Math.max(leasedUntil.get(l.digest) ?? 0, timeOf(l.linkedAt) + options.uploadLease));
      const entry = linksOf.get(l.digest) ?? { repos: [], size: l.size };
      entry.repos.push(l.repo);
      linksOf.set(l.digest, entry);
    }

    const droppedTags: { repo: RepositoryName; tag: Tag }[] = [];
    const roots: string[] = [];
    for (const [repo, tags] of tagsByRepo) {
      const rule = ruleFor(repo);
      let kept = tags;
      if (rule && rule.keepTags > 0 && tags.length > rule.keepTags) {
        const at = (d: Digest) => manifests.get(key(repo, d))?.pushedAt ?? 0;
        kept = [...tags].sort((a, b) => at(b.digest) - at(a.digest) || (a.tag < b.tag ? -1 : 1));
        for (const t of kept.slice(rule.keepTags)) droppedTags.push({ repo, tag: t.tag });
        kept = kept.slice(0, rule.keepTags);
      }
      for (const t of kept) roots.push(key(repo, t.digest));
    }
    const taggedByKept = new Set(roots);
    for (const [k, m] of manifests) {
      const untaggedAfter = ruleFor(m.repo)?.untaggedAfter ?? options.untaggedAfter;
      if (!taggedByKept.has(k) && now - timeOf(m.pushedAt) < untaggedAfter) roots.push(k);
    }

    const referrersOf = new Map<string, string[]>();
    for (const [k, m] of manifests) {
      if (m.descriptor.subject === undefined) continue;
      const s = key(m.repo, m.descriptor.subject);
      referrersOf.set(s, [...(referrersOf.get(s) ?? []), k]);
    }
    const liveManifests = new Set<string>();
    const liveBlobs = new Set<Digest>();
    await this.walk(roots, manifests, referrersOf, liveManifests, liveBlobs);

    // sweep
    const sweep = async (): Promise<GcReport> => {
      // What was put while we marked is live, with all it references.
      const late: string[] = [];
      for await (const m of this.meta.scanManifests()) {
        const k = key(m.repo, m.descriptor.digest);
        if (m.pushedAt >= started || !manifests.has(k)) {
          manifests.set(k, m);
          late.push(k);
        }
      }
      await this.walk(late, manifests, referrersOf, liveManifests, liveBlobs);
      const deadManifests = [...manifests.entries()].filter(([k]) => !liveManifests.has(k)).map(([, m]) => m);
      const deadBlobs: { digest: Digest; size: number }[] = [];
      for await (const digest of this.blobs.list()) {
        if (liveBlobs.has(digest)) continue;
        if ((leasedUntil.get(digest) ?? 0) > now) continue;
        const size = linksOf.get(digest)?.size ?? (await this.blobs.stat(digest))?.size ?? 0;
        deadBlobs.push({ digest, size });
      }
      // Blobs linked since the mark began carry a fresh lease the first scan did not see.
      if (deadBlobs.length > 0) {
        const dead = new Set(deadBlobs.map((b) => b.digest));
        for await (const l of this.meta.scanBlobLinks()) {
          if (dead.has(l.digest) && timeOf(l.linkedAt) + options.uploadLease > now) dead.delete(l.digest);
          if (dead.has(l.digest) && !linksOf.get(l.digest)?.repos.includes(l.repo)) {
            const entry = linksOf.get(l.digest) ?? { repos: [], size: l.size };
            entry.repos.push(l.repo);
            linksOf.set(l.digest, entry);
          }
        }
        deadBlobs.splice(0, deadBlobs.length, ...deadBlobs.filter((b) => dead.has(b.digest)));
      }
      if (!options.dryRun) {
        for (const t of droppedTags) await this.meta.deleteTag(t.repo, t.tag);
        for (const m of deadManifests) await this.meta.deleteManifest(m.repo, m.descriptor.digest);
        for (const b of deadBlobs) {
          for (const repo of linksOf.get(b.digest)?.repos ?? []) await this.meta.unlinkBlob(repo, b.digest);
          await this.blobs.delete(b.digest);
        }
      }
      return {
        dryRun: options.dryRun ?? false,
        startedAt: new Date(started).toISOString(),
        durationMs: Date.now() - started,
        tags: droppedTags.map((t) => ({ repository: t.repo, tag: t.tag })),
        manifests: deadManifests.map((m) => ({ repository: m.repo, digest: m.descriptor.digest })),
        blobs: deadBlobs,
        bytesFreed: deadBlobs.reduce((n, b) => n + b.size, 0),
      };
    };
    return options.dryRun ? sweep() : this.barrier.exclusive(sweep);
  }

  /** Mark everything reachable from `from` (keys of manifests) as live. */
  private async walk(
    from: string[],
    manifests: Map<string, ManifestNode>,
    referrersOf: Map<string, string[]>,
    liveManifests: Set<string>,
    liveBlobs: Set<Digest>,
  ): Promise<void> {
    const queue = [...from];
    while (queue.length > 0) {
      const k = queue.pop()!;
      if (liveManifests.has(k)) continue;
      const node = manifests.get(k);
      if (!node) continue;
      liveManifests.add(k);
      liveBlobs.add(node.descriptor.digest);
      for (const r of referrersOf.get(k) ?? []) queue.push(r);
      if (node.descriptor.subject !== undefined) queue.push(key(node.repo, node.descriptor.subject));
      let parsed;
      try {
        parsed = parseManifest(await this.blobs.readAll(node.descriptor.digest), node.descriptor.mediaType);
      } catch {
        continue; // bytes missing or unreadable: nothing more to keep through it
      }
      for (const d of parsed.blobs) liveBlobs.add(d);
      for (const d of parsed.manifests) queue.push(key(node.repo, d));
    }
  }
}
