/**
 * The pull-through cache: a decorator of the RegistryService the routes use. Names under
 * an upstream's prefix (`docker.io/library/busybox`) are cached from that upstream; every
 * other name goes to the hosted registry underneath, untouched.
 *
 * - By digest (manifest or blob): once cached, served locally and never revalidated.
 * - By tag: revalidated with a HEAD at most once per the upstream's `revalidate`; a new
 *   digest is fetched (verified) and the tag moved.
 * - The upstream failing (refused, timeout, 5xx, 429, 401): the cached copy, with a
 *   `Warning: 299`; nothing cached: an error that names the upstream and the cause.
 * - Blobs: single-flight fills that clients follow while they are written (blob-fill.ts).
 * - Index children come lazily, as clients ask for them; nothing is prefetched.
 * - Tag lists are the upstream's (the cached ones, with a Warning, when it fails);
 *   referrers and the catalog are what is cached here.
 * - Pushes into a cached namespace are DENIED.
 */
import type { Readable } from 'node:stream';
import { parseManifest } from '../../oci/manifest.js';
import type { Digest, RepositoryName, Tag } from '../../oci/names.js';
import type { FetchedManifest } from '../../oci/client.js';
import type { GcBarrier } from '../../storage/gc.js';
import { BlobUnknownError } from '../../storage/errors.js';
import type {
  BlobInfo,
  BlobStore,
  ByteRange,
  Chunk,
  GrowingFile,
  ManifestContent,
  ManifestDescriptor,
  ManifestReference,
  MetadataStore,
  Page,
  ReferrerDescriptor,
  RegistryService,
  StoredManifest,
  Upload,
} from '../../storage/types.js';
import { RegistryError } from '../http/errors.js';
import { BlobFill, BlobFills } from './blob-fill.js';
import { warn } from './context.js';
import { causeOf, isUpstreamFailure, Upstreams, type CachedName } from './upstream.js';
import type { Evictor } from './eviction.js';

/** What the cache needs underneath: the hosted service, and the stores it fills directly. */
export interface CacheBackend extends RegistryService {
  readonly blobs: BlobStore;
  readonly meta: MetadataStore;
  /** what the cache links enters GC's barrier, as hosted pushes do */
  readonly gcBarrier: GcBarrier;
}

/** What the cache reports, for /metrics; every hook optional. */
export interface CacheObserver {
  hit?(upstream: string, kind: 'manifest' | 'blob'): void;
  miss?(upstream: string, kind: 'manifest' | 'blob'): void;
  upstreamError?(upstream: string): void;
  join?(upstream: string): void;
  stored?(upstream: string, repo: RepositoryName, blob: BlobInfo): void;
}

const sourceKey = (s: CachedName): string => `${s.upstream.name}/${s.remote}`;

/** A blob the upstream has and we do not (yet): the handle blobFile or readBlob turns into a fill. */
class RemoteBlob implements BlobInfo {
  /** the fill this request joined (or started), once it did: one join per request */
  fill: BlobFill | undefined;

  constructor(
    readonly digest: Digest,
    readonly size: number,
    readonly repo: RepositoryName,
    readonly source: CachedName,
  ) {}
}

export class CachingRegistry implements RegistryService {
  private readonly fills = new BlobFills();
  /** `repo:tag` -> when the upstream last confirmed it (revalidation is at most once per interval) */
  private readonly checkedAt = new Map<string, number>();
  /** tag revalidations in flight: 20 clients asking at once cause one HEAD */
  private readonly revalidating = new Map<string, Promise<ManifestDescriptor>>();

  constructor(
    private readonly inner: CacheBackend,
    readonly upstreams: Upstreams,
    private readonly observer: CacheObserver = {},
    /** LRU eviction under proxy.maxBytes; absent: no budget */
    readonly evictor?: Evictor,
  ) {
    evictor?.start();
  }

  /** Is this name hosted here (not cached)? For the default upstream of un-prefixed names. */
  async isHosted(repo: string): Promise<boolean> {
    return this.inner.meta.repositoryExists(repo as RepositoryName);
  }

  /** Once every running fill has committed (or failed) and the evictions they asked for ran. */
  async settled(): Promise<void> {
    await this.fills.settle();
    await this.evictor?.settled();
  }

  async close(): Promise<void> {
    await this.upstreams.close();
    await this.fills.settle();
    await this.evictor?.stop();
  }

  private refusePush(repo: RepositoryName): void {
    const cached = this.upstreams.owner(repo);
    if (cached) {
      throw new RegistryError(
        'DENIED',
        `${repo} is in the namespace cached from upstream ${cached.upstream.name} (${cached.upstream.url}), which is read-only here; push to a name outside ${cached.upstream.name}/`,
        { upstream: cached.upstream.name },
      );
    }
  }

  private failure(source: CachedName, err: unknown): void {
    this.observer.upstreamError?.(source.upstream.name);
    warn(`${source.upstream.name}: upstream unavailable (${causeOf(err)}); serving the cached copy`);
  }

  /** The error for something not cached while the upstream cannot give it. */
  private missError(code: 'MANIFEST_UNKNOWN' | 'BLOB_UNKNOWN', what: string, source: CachedName, err: unknown): RegistryError {
    if (isUpstreamFailure(err)) {
      this.observer.upstreamError?.(source.upstream.name);
      return new RegistryError(code, `${what} is not cached, and upstream ${source.upstream.name} (${source.upstream.url}) failed: ${causeOf(err)}`, {
        upstream: source.upstream.name,
      });
    }
    const status = (err as { status?: number }).status;
    if (status === 404) return new RegistryError(code, `upstream ${source.upstream.name} does not have ${what}`, { upstream: source.upstream.name });
    return new RegistryError(code, `${what}: upstream ${source.upstream.name} answered: ${causeOf(err)}`, { upstream: source.upstream.name });
  }

  // ---- blobs

  async statBlob(repo: RepositoryName, digest: Digest): Promise<BlobInfo> {
    const source = this.upstreams.owner(repo);
    if (!source) return this.inner.statBlob(repo, digest);
    try {
      const local = await this.inner.statBlob(repo, digest);
      this.observer.hit?.(source.upstream.name, 'blob');
      this.evictor?.touch(digest);
      return local;
    } catch (err) {
      if (!(err instanceof BlobUnknownError)) throw err;
    }
    // A fill from the same upstream repository is joined at once; from another, the upstream
    // must first say it serves the blob under this name.
    const running = this.fills.get(digest);
    if (running && running.source === sourceKey(source)) return new RemoteBlob(digest, running.size, repo, source);
    // Ask the upstream first even when the store holds the bytes for another repository:
    // a cached name must not reveal content the upstream does not serve under it.
    let size: number | undefined;
    try {
      size = (await source.upstream.client.headBlob(source.remote, digest)).size;
    } catch (err) {
      throw this.missError('BLOB_UNKNOWN', `blob ${digest} of ${repo}`, source, err);
    }
    const held = await this.inner.gcBarrier.shared(async () => {
      const info = await this.inner.blobs.stat(digest);
      if (info) await this.inner.meta.linkBlob(repo, info);
      return info;
    });
    if (held) {
      this.observer.hit?.(source.upstream.name, 'blob');
      return held;
    }
    if (size === undefined) throw new RegistryError('BLOB_UNKNOWN', `upstream ${source.upstream.name} did not say how large blob ${digest} is`);
    return new RemoteBlob(digest, size, repo, source);
  }

  async readBlob(info: BlobInfo, range?: ByteRange): Promise<Readable> {
    if (!(info instanceof RemoteBlob)) return this.inner.readBlob(info, range);
    return this.joinFill(info).follow(range);
  }

  /**
   * The stored file, for the sendfile path; for a blob not cached yet, the growing file of
   * its fill (started or joined now). A blob stored while a fill for it is still running
   * (its commit window) streams through readBlob.
   */
  blobFile(info: BlobInfo): string | GrowingFile | undefined {
    if (info instanceof RemoteBlob) return this.joinFill(info).file();
    return this.fills.get(info.digest) ? undefined : this.inner.blobFile?.(info);
  }

  /** The request's fill: the running one for this digest and source, or a new one. */
  private joinFill(info: RemoteBlob): BlobFill {
    if (info.fill) return info.fill;
    const { repo, source } = info;
    const { fill, joined } = this.fills.join(info.digest, () => {
      this.observer.miss?.(source.upstream.name, 'blob');
      return new BlobFill(
        info.digest,
        info.size,
        sourceKey(source),
        this.inner.blobs,
        () => source.upstream.client.openBlob(source.remote, info.digest),
        async (blob) => {
          await this.inner.meta.linkBlob(repo, blob);
          this.observer.stored?.(source.upstream.name, repo, blob);
          this.evictor?.touch(blob.digest);
          this.evictor?.stored();
        },
        (fn) => this.inner.gcBarrier.shared(fn),
      );
    });
    if (joined) {
      this.observer.join?.(source.upstream.name);
      // Another repository's fill: link ours too once it is verified.
      fill.done.then((blob) => this.inner.meta.linkBlob(repo, blob)).catch(() => undefined);
    }
    fill.done.catch((err: unknown) => {
      if (isUpstreamFailure(err)) this.observer.upstreamError?.(source.upstream.name);
    });
    info.fill = fill;
    return fill;
  }

  async deleteBlob(repo: RepositoryName, digest: Digest): Promise<void> {
    return this.inner.deleteBlob(repo, digest);
  }

  async mountBlob(repo: RepositoryName, digest: Digest, from?: RepositoryName): Promise<BlobInfo | undefined> {
    this.refusePush(repo);
    return this.inner.mountBlob(repo, digest, from);
  }

  // ---- uploads: hosted names only

  async startUpload(repo: RepositoryName): Promise<Upload> {
    this.refusePush(repo);
    return this.inner.startUpload(repo);
  }

  async getUpload(repo: RepositoryName, id: string): Promise<Upload> {
    return this.inner.getUpload(repo, id);
  }

  async appendUpload(upload: Upload, chunk: Chunk): Promise<number> {
    return this.inner.appendUpload(upload, chunk);
  }

  async completeUpload(repo: RepositoryName, upload: Upload, digest: Digest, finalChunk?: Chunk): Promise<BlobInfo> {
    return this.inner.completeUpload(repo, upload, digest, finalChunk);
  }

  async cancelUpload(upload: Upload): Promise<void> {
    return this.inner.cancelUpload(upload);
  }

  async uploadMonolithic(repo: RepositoryName, digest: Digest, chunk: Chunk): Promise<BlobInfo> {
    this.refusePush(repo);
    return this.inner.uploadMonolithic(repo, digest, chunk);
  }

  // ---- manifests

  async resolveManifest(repo: RepositoryName, ref: ManifestReference): Promise<ManifestDescriptor> {
    const source = this.upstreams.owner(repo);
    return source ? this.resolveCached(repo, ref, source) : this.inner.resolveManifest(repo, ref);
  }

  async getManifest(repo: RepositoryName, ref: ManifestReference): Promise<ManifestContent> {
    const source = this.upstreams.owner(repo);
    if (!source) return this.inner.getManifest(repo, ref);
    const descriptor = await this.resolveCached(repo, ref, source);
    return this.inner.getManifest(repo, { digest: descriptor.digest });
  }

  /** Every manifest resolveManifest gives is stored locally first (cached names included). */
  async manifestBytes(descriptor: ManifestDescriptor): Promise<Buffer> {
    return this.inner.manifestBytes(descriptor);
  }

  private async resolveCached(repo: RepositoryName, ref: ManifestReference, source: CachedName): Promise<ManifestDescriptor> {
    if (ref.digest !== undefined) {
      const local = await this.inner.meta.getManifest(repo, ref.digest);
      if (local) {
        this.observer.hit?.(source.upstream.name, 'manifest');
        this.evictor?.touch(local.digest);
        return local;
      }
      this.observer.miss?.(source.upstream.name, 'manifest');
      try {
        return await this.store(repo, await source.upstream.client.getManifest(source.remote, ref.digest), source);
      } catch (err) {
        throw this.missError('MANIFEST_UNKNOWN', `manifest ${repo}@${ref.digest}`, source, err);
      }
    }
    const key = `${repo}:${ref.tag}`;
    const local = await this.inner.meta.resolveTag(repo, ref.tag);
    const checked = this.checkedAt.get(key);
    if (local && checked !== undefined && Date.now() - checked < source.upstream.revalidateMs) {
      this.observer.hit?.(source.upstream.name, 'manifest');
      this.evictor?.touch(local.digest);
      return local;
    }
    let pending = this.revalidating.get(key);
    if (!pending) {
      pending = this.revalidate(repo, ref.tag, local, source).finally(() => this.revalidating.delete(key));
      this.revalidating.set(key, pending);
    }
    return pending;
  }

  /** HEAD the tag; fetch only when it moved (or was never cached). */
  private async revalidate(repo: RepositoryName, tag: Tag, local: ManifestDescriptor | undefined, source: CachedName): Promise<ManifestDescriptor> {
    const key = `${repo}:${tag}`;
    try {
      const head = await source.upstream.client.headManifest(source.remote, tag);
      if (local && head.digest === local.digest) {
        this.checkedAt.set(key, Date.now());
        this.observer.hit?.(source.upstream.name, 'manifest');
        this.evictor?.touch(local.digest);
        return local;
      }
      this.observer.miss?.(source.upstream.name, 'manifest');
      const fetched = await source.upstream.client.getManifest(source.remote, head.digest ?? tag);
      const stored = await this.store(repo, fetched, source, tag);
      this.checkedAt.set(key, Date.now());
      return stored;
    } catch (err) {
      if (local && isUpstreamFailure(err)) {
        this.failure(source, err);
        this.evictor?.touch(local.digest);
        return local;
      }
      throw this.missError('MANIFEST_UNKNOWN', `manifest ${repo}:${tag}`, source, err);
    }
  }

  /** Keep a verified manifest (an index's children come later, when asked for). */
  private async store(repo: RepositoryName, fetched: FetchedManifest, source: CachedName, tag?: Tag): Promise<ManifestDescriptor> {
    const parsed = parseManifest(fetched.bytes, fetched.mediaType);
    const descriptor: ManifestDescriptor = { mediaType: parsed.mediaType, digest: fetched.digest, size: fetched.bytes.length };
    if (parsed.artifactType !== undefined) descriptor.artifactType = parsed.artifactType;
    if (parsed.annotations !== undefined) descriptor.annotations = parsed.annotations;
    if (parsed.subject !== undefined) descriptor.subject = parsed.subject;
    const blob = await this.inner.gcBarrier.shared(async () => {
      const put = await this.inner.blobs.put(fetched.bytes, fetched.digest);
      await this.inner.meta.putManifest(repo, descriptor, tag);
      return put;
    });
    this.observer.stored?.(source.upstream.name, repo, blob);
    this.evictor?.touch(descriptor.digest);
    this.evictor?.stored();
    return descriptor;
  }

  async putManifest(repo: RepositoryName, ref: ManifestReference, body: Buffer, contentType: string): Promise<StoredManifest> {
    this.refusePush(repo);
    return this.inner.putManifest(repo, ref, body, contentType);
  }

  async deleteManifest(repo: RepositoryName, digest: Digest): Promise<void> {
    return this.inner.deleteManifest(repo, digest);
  }

  async deleteTag(repo: RepositoryName, tag: Tag): Promise<void> {
    this.checkedAt.delete(`${repo}:${tag}`);
    return this.inner.deleteTag(repo, tag);
  }

  // ---- discovery

  /**
   * A cached name's tags are the upstream's (as registry:2's proxy answers); the upstream
   * failing: the tags cached here, with a Warning. Other answers of the upstream (a 404,
   * a page size it refuses) leave the cached ones too.
   */
  async listTags(repo: RepositoryName, page: Page): Promise<string[]> {
    const source = this.upstreams.owner(repo);
    if (!source) return this.inner.listTags(repo, page);
    try {
      return await source.upstream.client.listTags(source.remote, page.n, page.last);
    } catch (err) {
      if (isUpstreamFailure(err)) this.failure(source, err);
      return this.inner.listTags(repo, page);
    }
  }

  async catalog(page: Page): Promise<string[]> {
    return this.inner.catalog(page);
  }

  /** What is cached here (referrers come with the manifests a client fetched). */
  async referrers(repo: RepositoryName, subject: Digest, artifactType?: string): Promise<ReferrerDescriptor[]> {
    return this.inner.referrers(repo, subject, artifactType);
  }
}
