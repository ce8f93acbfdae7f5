/**
 * The MetadataStore on one LevelDB. Keys are ordered so that every listing is a range
 * scan with a limit:
 *
 *   r\0<repo>                          ''                    repositories (_catalog)
 *   b\0<repo>\0<digest>                <size>                blob links
 *   m\0<repo>\0<digest>                ManifestDescriptor    manifest links
 *   t\0<repo>\0<tag>                   ManifestDescriptor    tags (one get resolves a tag)
 *   f\0<repo>\0<subject>\0<digest>     ReferrerDescriptor    referrers index
 *   u\0<uuid>                          UploadSession         upload sessions
 *   a\0<touchedAt, 15 digits>\0<uuid>   ''                    sessions by last activity (expiry scans the old end)
 *   p\0<repo>\0<digest>                <ms since epoch>      when a manifest was last put (GC: untagged age, tag recency)
 *   c\0<digest>                        <ms since epoch>      when the proxy cache last served it (LRU eviction)
 *   g\0first                           <ms since epoch>      when the first GC ran (the age of what has no time counts from it)
 *
 * A blob link's value is `<size>:<linked at, ms>` (older stores: `<size>`); the time is a
 * new blob's lease against GC until a manifest references it.
 *
 * The reads of the pull path (tag, manifest, blob link, repository) use getSync: the
 * keys are tiny and hot in LevelDB's block cache, and a synchronous lookup of a few
 * microseconds costs far less than a round trip through the libuv thread pool. The
 * descriptors a tag or manifest link resolves to are kept parsed and frozen (a bounded
 * map by key, set and dropped by the writes of those keys, all of which pass through
 * this class): a repeated pull resolves its tag without a get or a JSON.parse, and gets
 * the same descriptor object each time, which lets the HTTP layer keep what it renders
 * from it (server/v2/manifests.ts).
 *
 * Pages of tag lists and of the catalog are kept in a ListingCache (storage/listing-cache.ts)
 * and dropped by the writes that change them, all of which pass through this class.
 *
 * NUL cannot occur in names, tags or digests, so `<prefix>\0` .. `<prefix>\x01` bounds
 * exactly one repository's keys. Writes that belong together go in one batch.
 */
import { Level } from 'level';
import { StorageError } from './errors.js';
import { ListingCache } from './listing-cache.js';
import type { Digest, RepositoryName, Tag } from '../oci/names.js';
import type {
  BlobInfo,
  BlobLink,
  ManifestDescriptor,
  ManifestLink,
  TagLink,
  MetadataStore,
  Page,
  ReferrerDescriptor,
  UploadSession,
} from './types.js';

type Op = { type: 'put'; key: string; value: string } | { type: 'del'; key: string };

/**
 * Every write is acknowledged to a client (a 201, a 202), so it reaches the disk first:
 * LevelDB fsyncs its log before the write returns. Without it a power loss could drop
 * a tag or link the client was told exists.
 */
const DURABLE = { sync: true } as const;

const SEP = '\0';
const END = '\x01';

const repoKey = (repo: string): string => `r${SEP}${repo}`;
const blobKey = (repo: string, digest: string): string => `b${SEP}${repo}${SEP}${digest}`;
const manifestKey = (repo: string, digest: string): string => `m${SEP}${repo}${SEP}${digest}`;
const tagPrefix = (repo: string): string => `t${SEP}${repo}${SEP}`;
const referrerPrefix = (repo: string, subject: string): string => `f${SEP}${repo}${SEP}${subject}${SEP}`;
const uploadKey = (id: string): string => `u${SEP}${id}`;
const activityKey = (touchedAt: number, id: string): string => `a${SEP}${String(touchedAt).padStart(15, '0')}${SEP}${id}`;

/**
 * Upload sessions are written without fsync: like the bytes of an upload before its
 * commit, a session lost in a power cut only makes its client start the upload again,
 * and 100,000 sessions opened at once must not cost 100,000 fsyncs.
 */
const LAZY = { sync: false } as const;
const pushedKey = (repo: string, digest: string): string => `p${SEP}${repo}${SEP}${digest}`;

/** Page keys: tags `<repo>\0<n>\0<last>`, catalog `\0<n>\0<last>` (no name is empty). */
const pageKey = (scope: string, page: Page): string => `${scope}${SEP}${page.n}${SEP}${page.last ?? ''}`;

/** Parsed descriptors kept by key (t\0 and m\0 keys): about 0.5 KiB each. */
const MAX_DESCRIPTORS = 4096;

function frozen(desc: ManifestDescriptor): ManifestDescriptor {
  if (desc.annotations) Object.freeze(desc.annotations);
  return Object.freeze(desc);
}

export class LevelMetadataStore implements MetadataStore {
  private readonly descriptors = new Map<string, ManifestDescriptor>();
  private readonly tagPages = new ListingCache(512);
  private readonly catalogPages = new ListingCache(64);
  /** Bumped after each tag change / new repository: a scan that overlapped one is not cached. */
  private tagChanges = 0;
  private repositoryChanges = 0;

  private constructor(private readonly db: Level<string, string>) {}

  /** A write that may add `repo` to the catalog: drop the catalog's pages if it is new. */
  private noteRepository(repo: RepositoryName): () => void {
    const isNew = this.db.getSync(repoKey(repo)) === undefined;
    return () => {
      if (!isNew) return;
      this.repositoryChanges++;
      this.catalogPages.clear();
    };
  }

  /** The descriptor stored under a t\0 or m\0 key: from memory, else read, parsed and kept. */
  private descriptorAt(key: string): ManifestDescriptor | undefined {
    const hit = this.descriptors.get(key);
    if (hit) return hit;
    const value = this.db.getSync(key);
    if (value === undefined) return undefined;
    const desc = frozen(JSON.parse(value) as ManifestDescriptor);
    this.keepDescriptor(key, desc);
    return desc;
  }

  private keepDescriptor(key: string, desc: ManifestDescriptor): void {
    this.descriptors.delete(key);
    this.descriptors.set(key, desc);
    // The oldest set goes first (a Map iterates in insertion order).
    if (this.descriptors.size > MAX_DESCRIPTORS) this.descriptors.delete(this.descriptors.keys().next().value!);
  }

  /** After a write to `repo`'s tags. */
  private tagsChanged(repo: RepositoryName): void {
    this.tagChanges++;
    this.tagPages.dropPrefix(repo + SEP);
  }

  static async open(dir: string): Promise<LevelMetadataStore> {
    const db = new Level<string, string>(dir, { keyEncoding: 'utf8', valueEncoding: 'utf8' });
    try {
      await db.open();
    } catch (err) {
      const cause = String((err as { cause?: unknown }).cause ?? '');
      if (/lock/i.test(cause)) {
        throw new StorageError(`the metadata store ${dir} is in use by another process: run one wharf serve per storage.root`);
      }
      throw new StorageError(`cannot open the metadata store ${dir}: ${cause || (err as Error).message}`);
    }
    return new LevelMetadataStore(db);
  }

  async linkBlob(repo: RepositoryName, blob: BlobInfo): Promise<void> {
    const listed = this.noteRepository(repo);
    await this.db.batch(
      [
        { type: 'put', key: blobKey(repo, blob.digest), value: `${blob.size}:${Date.now()}` },
        { type: 'put', key: repoKey(repo), value: '' },
      ],
      DURABLE,
    );
    listed();
  }

  async getLinkedBlob(repo: RepositoryName, digest: Digest): Promise<BlobInfo | undefined> {
    const size = this.db.getSync(blobKey(repo, digest));
    return size === undefined ? undefined : { digest, size: Number.parseInt(size, 10) };
  }

  async unlinkBlob(repo: RepositoryName, digest: Digest): Promise<boolean> {
    const key = blobKey(repo, digest);
    if ((await this.db.get(key)) === undefined) return false;
    await this.db.del(key, DURABLE);
    return true;
  }

  async putManifest(repo: RepositoryName, desc: ManifestDescriptor, tag?: Tag): Promise<void> {
    const value = JSON.stringify(desc);
    const ops: Op[] = [
      { type: 'put', key: manifestKey(repo, desc.digest), value },
      { type: 'put', key: repoKey(repo), value: '' },
      { type: 'put', key: pushedKey(repo, desc.digest), value: String(Date.now()) },
    ];
    if (tag !== undefined) ops.push({ type: 'put', key: tagPrefix(repo) + tag, value });
    if (desc.subject !== undefined) {
      ops.push({ type: 'put', key: referrerPrefix(repo, desc.subject) + desc.digest, value: JSON.stringify(toReferrer(desc)) });
    }
    const listed = this.noteRepository(repo);
    try {
      await this.db.batch(ops, DURABLE);
    } finally {
      // Dropped, not set: a failed batch leaves what is on disk, and the next read parses that.
      this.descriptors.delete(manifestKey(repo, desc.digest));
      if (tag !== undefined) {
        this.descriptors.delete(tagPrefix(repo) + tag);
        this.tagsChanged(repo);
      }
      listed();
    }
  }

  async getManifest(repo: RepositoryName, digest: Digest): Promise<ManifestDescriptor | undefined> {
    return this.descriptorAt(manifestKey(repo, digest));
  }

  async resolveTag(repo: RepositoryName, tag: Tag): Promise<ManifestDescriptor | undefined> {
    return this.descriptorAt(tagPrefix(repo) + tag);
  }

  async deleteManifest(repo: RepositoryName, digest: Digest): Promise<boolean> {
    const desc = await this.getManifest(repo, digest);
    if (!desc) return false;
    const ops: Op[] = [{ type: 'del', key: manifestKey(repo, digest) }, { type: 'del', key: pushedKey(repo, digest) }];
    // Tags pointing at the manifest go with it (a scan of this repository's tags only).
    const prefix = tagPrefix(repo);
    for await (const [key, value] of this.db.iterator({ gte: prefix, lt: `t${SEP}${repo}${END}` })) {
      if ((JSON.parse(value) as ManifestDescriptor).digest === digest) ops.push({ type: 'del', key });
    }
    if (desc.subject !== undefined) ops.push({ type: 'del', key: referrerPrefix(repo, desc.subject) + digest });
    try {
      await this.db.batch(ops, DURABLE);
    } finally {
      for (const op of ops) this.descriptors.delete(op.key);
      this.tagsChanged(repo);
    }
    return true;
  }

  async deleteTag(repo: RepositoryName, tag: Tag): Promise<boolean> {
    const key = tagPrefix(repo) + tag;
    if ((await this.db.get(key)) === undefined) return false;
    try {
      await this.db.del(key, DURABLE);
    } finally {
      this.descriptors.delete(key);
      this.tagsChanged(repo);
    }
    return true;
  }

  async listTags(repo: RepositoryName, page: Page): Promise<string[]> {
    const cacheKey = pageKey(repo, page);
    const cached = this.tagPages.get(cacheKey);
    if (cached) return cached;
    // A tag written while the scan ran may be missing from it: such a page is not kept.
    const changes = this.tagChanges;
    const prefix = tagPrefix(repo);
    const keys = await this.db
      .keys({ [page.last === undefined ? 'gte' : 'gt']: prefix + (page.last ?? ''), lt: `t${SEP}${repo}${END}`, limit: page.n })
      .all();
    const tags = keys.map((k) => k.slice(prefix.length));
    if (changes === this.tagChanges) this.tagPages.set(cacheKey, tags);
    return tags;
  }

  async listRepositories(page: Page): Promise<string[]> {
    const cacheKey = pageKey('', page);
    const cached = this.catalogPages.get(cacheKey);
    if (cached) return cached;
    const changes = this.repositoryChanges;
    const prefix = repoKey('');
    const keys = await this.db
      .keys({ [page.last === undefined ? 'gte' : 'gt']: prefix + (page.last ?? ''), lt: `r${END}`, limit: page.n })
      .all();
    const names = keys.map((k) => k.slice(prefix.length));
    if (changes === this.repositoryChanges) this.catalogPages.set(cacheKey, names);
    return names;
  }

  async repositoryExists(repo: RepositoryName): Promise<boolean> {
    return (this.db.getSync(repoKey(repo))) !== undefined;
  }

  async listReferrers(repo: RepositoryName, subject: Digest): Promise<ReferrerDescriptor[]> {
    const prefix = referrerPrefix(repo, subject);
    const values = await this.db.values({ gte: prefix, lt: `f${SEP}${repo}${SEP}${subject}${END}` }).all();
    return values.map((v) => JSON.parse(v) as ReferrerDescriptor);
  }

  async putUploadSession(session: UploadSession): Promise<void> {
    await this.db.batch(
      [
        { type: 'put', key: uploadKey(session.id), value: JSON.stringify(session) },
        { type: 'put', key: activityKey(session.touchedAt, session.id), value: '' },
      ],
      LAZY,
    );
  }

  async touchUploadSession(session: UploadSession, now: number): Promise<UploadSession> {
    const touched = { ...session, touchedAt: now };
    await this.db.batch(
      [
        { type: 'del', key: activityKey(session.touchedAt, session.id) },
        { type: 'put', key: uploadKey(session.id), value: JSON.stringify(touched) },
        { type: 'put', key: activityKey(now, session.id), value: '' },
      ],
      LAZY,
    );
    return touched;
  }

  async getUploadSession(id: string): Promise<UploadSession | undefined> {
    const value = this.db.getSync(uploadKey(id));
    return value === undefined ? undefined : withTouchedAt(JSON.parse(value) as UploadSession);
  }

  async deleteUploadSession(id: string): Promise<void> {
    const session = await this.getUploadSession(id);
    const ops: Op[] = [{ type: 'del', key: uploadKey(id) }];
    if (session) ops.push({ type: 'del', key: activityKey(session.touchedAt, id) });
    await this.db.batch(ops, LAZY);
  }

  async listUploadSessions(): Promise<UploadSession[]> {
    const values = await this.db.values({ gte: uploadKey(''), lt: `u${END}` }).all();
    return values.map((v) => withTouchedAt(JSON.parse(v) as UploadSession));
  }

  async listIdleUploadSessions(before: number, limit: number): Promise<string[]> {
    const keys = await this.db.keys({ gte: `a${SEP}`, lt: activityKey(before, ''), limit }).all();
    return keys.map((k) => k.slice(k.lastIndexOf(SEP) + 1));
  }

  // ---- GC's view: whole-index scans (a collection reads everything once)

  async *scanBlobLinks(): AsyncIterable<BlobLink> {
    for await (const [key, value] of this.db.iterator({ gte: `b${SEP}`, lt: `b${END}` })) {
      const [, repo, digest] = key.split(SEP) as [string, RepositoryName, Digest];
      const colon = value.indexOf(':');
      yield { repo, digest, size: Number.parseInt(value, 10), linkedAt: colon < 0 ? 0 : Number(value.slice(colon + 1)) };
    }
  }

  async *scanManifests(): AsyncIterable<ManifestLink> {
    const pushed = new Map<string, number>();
    for await (const [key, value] of this.db.iterator({ gte: `p${SEP}`, lt: `p${END}` })) pushed.set(key.slice(2), Number(value));
    for await (const [key, value] of this.db.iterator({ gte: `m${SEP}`, lt: `m${END}` })) {
      const [, repo] = key.split(SEP) as [string, RepositoryName];
      yield { repo, descriptor: JSON.parse(value) as ManifestDescriptor, pushedAt: pushed.get(key.slice(2)) ?? 0 };
    }
  }

  async firstCollectionAt(now: number, record: boolean): Promise<number> {
    const key = `g${SEP}first`;
    const kept = await this.db.get(key);
    if (kept !== undefined) return Number(kept);
    if (record) await this.db.put(key, String(now), DURABLE);
    return now;
  }

  async *scanTags(): AsyncIterable<TagLink> {
    for await (const [key, value] of this.db.iterator({ gte: `t${SEP}`, lt: `t${END}` })) {
      const [, repo, tag] = key.split(SEP) as [string, RepositoryName, Tag];
      yield { repo, tag, digest: (JSON.parse(value) as ManifestDescriptor).digest };
    }
  }

  // ---- the proxy cache's access times (written in batches, not per request)

  async putCacheAccess(entries: Iterable<[Digest, number]>): Promise<void> {
    const ops: Op[] = [];
    for (const [digest, at] of entries) ops.push({ type: 'put', key: `c${SEP}${digest}`, value: String(at) });
    // Lost in a power cut, an access time only makes eviction a little less exact.
    if (ops.length > 0) await this.db.batch(ops, { sync: false });
  }

  async *scanCacheAccess(): AsyncIterable<[Digest, number]> {
    for await (const [key, value] of this.db.iterator({ gte: `c${SEP}`, lt: `c${END}` })) yield [key.slice(2) as Digest, Number(value)];
  }

  async deleteCacheAccess(digests: Iterable<Digest>): Promise<void> {
    const ops: Op[] = [];
    for (const d of digests) ops.push({ type: 'del', key: `c${SEP}${d}` });
    if (ops.length > 0) await this.db.batch(ops, { sync: false });
  }

  async close(): Promise<void> {
    await this.db.close();
  }
}

/** Sessions written before activity was recorded count as touched when they started. */
function withTouchedAt(session: UploadSession): UploadSession {
  if (typeof session.touchedAt !== 'number') session.touchedAt = session.startedAt;
  return session;
}

function toReferrer(desc: ManifestDescriptor): ReferrerDescriptor {
  const r: ReferrerDescriptor = { mediaType: desc.mediaType, digest: desc.digest, size: desc.size };
  if (desc.artifactType !== undefined) r.artifactType = desc.artifactType;
  if (desc.annotations !== undefined) r.annotations = desc.annotations;
  return r;
}
