/**
 * The registry service: the operations of the distribution API in storage terms, over
 * a BlobStore (bytes) and a MetadataStore (links, tags, sessions). server/ calls these
 * and maps their domain errors to the spec's codes; nothing here knows HTTP.
 *
 * Links decide visibility: a blob lives once in the blob store, and a repository can
 * read it only if linked there.
 */
import { randomUUID } from 'node:crypto';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import {
  BlobUnknownError,
  ManifestBlobUnknownError,
  ManifestTooLargeError,
  ManifestUnknownError,
  ReferenceDigestMismatchError,
  RepositoryUnknownError,
  UploadBusyError,
  UploadUnknownError,
} from './errors.js';
import { FsBlobStore, isUploadId } from './fs-blob-store.js';
import { GarbageCollector, GcBarrier } from './gc.js';
import { LevelMetadataStore } from './level-metadata.js';
import { KeyLock } from './key-lock.js';
import { ManifestCache } from './manifest-cache.js';
import { MAX_MANIFEST_BYTES } from '../oci/limits.js';
import { parseManifest, type ParsedManifest } from '../oci/manifest.js';
import { digestAlgorithm, type Digest, type RepositoryName, type Tag } from '../oci/names.js';
import type {
  BlobInfo,
  BlobStore,
  ByteRange,
  Chunk,
  ManifestContent,
  ManifestDescriptor,
  ManifestReference,
  MetadataStore,
  Page,
  ReferrerDescriptor,
  RegistryService,
  StoredManifest,
  Upload,
} from './types.js';

/** Idle sessions removed per sweep step (a LevelDB range scan of the oldest activity keys). */
const EXPIRY_BATCH = 1000;
const EXPIRY_PARALLEL = 32;

export interface RegistryOptions {
  manifestCacheBytes: number;
  /** an upload session with no request for this long is removed with its bytes; default 1 h */
  uploadExpiryMs?: number;
}

export type { Chunk, ManifestContent, ManifestReference, StoredManifest } from './types.js';

export class Registry implements RegistryService {
  private readonly cache: ManifestCache;
  /**
   * Serialises the writes of one repository's manifests, tags and links, so that no
   * interleaving leaves a tag naming a manifest the repository no longer has (a DELETE
   * scanning tags while a PUT adds one), or an index whose child was just deleted.
   */
  private readonly repoLocks = new KeyLock();
  /** Serialises an upload's expiry with the request that would resume it. */
  private readonly uploadLocks = new KeyLock();
  readonly uploadExpiryMs: number;
  /** Reference-creating writes enter it shared; GC's sweep runs exclusive (storage/gc.ts). */
  readonly gcBarrier = new GcBarrier();
  readonly gc: GarbageCollector;

  constructor(
    readonly blobs: BlobStore,
    readonly meta: MetadataStore,
    options: RegistryOptions,
  ) {
    this.cache = new ManifestCache(options.manifestCacheBytes);
    this.uploadExpiryMs = options.uploadExpiryMs ?? 3600_000;
    this.gc = new GarbageCollector(blobs, meta, this.gcBarrier);
  }

  /** The embedded default: blobs on the local filesystem, metadata in LevelDB, under `root`. */
  static async openEmbedded(root: string, options: RegistryOptions): Promise<Registry> {
    const blobs = await FsBlobStore.open(root);
    const meta = await LevelMetadataStore.open(join(root, 'metadata'));
    const registry = new Registry(blobs, meta, options);
    await blobs.removeTempFiles();
    await registry.removeStaleUploads(Date.now());
    return registry;
  }

  async close(): Promise<void> {
    await this.meta.close();
  }

  /**
   * At start: drop sessions idle for longer than the expiry (with their files), and
   * upload files no session owns (a monolithic upload cut by a crash).
   */
  async removeStaleUploads(now: number): Promise<void> {
    const files = new Set(await this.blobs.listUploads());
    for (const session of await this.meta.listUploadSessions()) {
      const hasFile = files.delete(session.id);
      if (!hasFile || now - session.touchedAt > this.uploadExpiryMs) {
        if (hasFile) await this.blobs.removeUpload(session.id);
        await this.meta.deleteUploadSession(session.id);
      }
    }
    for (const orphan of files) await this.blobs.removeUpload(orphan);
  }

  /**
   * Remove every upload session idle for longer than the expiry, with its bytes; the
   * registry runs this on a timer (startUploadExpiry) and GC may call it too. A session
   * a request is writing into right now is left alone. Resolves with how many went.
   */
  async expireIdleUploads(now: number = Date.now()): Promise<number> {
    let removed = 0;
    const expire = (id: string): Promise<boolean> =>
      this.uploadLocks.run(id, async () => {
        const session = await this.meta.getUploadSession(id);
        if (!session || now - session.touchedAt <= this.uploadExpiryMs) return false;
        if (!(await this.blobs.removeUpload(id))) {
          // Busy: a request is streaming into it, so it is not idle.
          await this.meta.touchUploadSession(session, now);
          return false;
        }
        await this.meta.deleteUploadSession(id);
        return true;
      });
    for (;;) {
      const ids = await this.meta.listIdleUploadSessions(now - this.uploadExpiryMs, EXPIRY_BATCH);
      let progressed = false;
      // A few at a time: the unlinks overlap in the thread pool without flooding it.
      for (let i = 0; i < ids.length; i += EXPIRY_PARALLEL) {
        for (const gone of await Promise.all(ids.slice(i, i + EXPIRY_PARALLEL).map(expire))) {
          if (gone) {
            removed++;
            progressed = true;
          }
        }
      }
      if (ids.length < EXPIRY_BATCH || !progressed) return removed;
    }
  }

  /** Sweep expired upload sessions every tenth of the expiry (1 s to 1 min). The timer never keeps the process alive. */
  startUploadExpiry(onError: (err: unknown) => void): NodeJS.Timeout {
    const every = Math.min(60_000, Math.max(1_000, Math.floor(this.uploadExpiryMs / 10)));
    let running = false;
    const timer = setInterval(() => {
      if (running) return;
      running = true;
      this.expireIdleUploads()
        .catch(onError)
        .finally(() => (running = false));
    }, every);
    timer.unref();
    return timer;
  }

  // ---- blobs

  async statBlob(repo: RepositoryName, digest: Digest): Promise<BlobInfo> {
    const linked = await this.meta.getLinkedBlob(repo, digest);
    if (linked) return linked;
    // Manifests are blobs too: readable through the blob endpoint where they are linked.
    const manifest = await this.meta.getManifest(repo, digest);
    if (manifest) return { digest, size: manifest.size };
    throw new BlobUnknownError(digest);
  }

  async readBlob(info: BlobInfo, range?: ByteRange): Promise<Readable> {
    return this.blobs.read(info.digest, range);
  }

  async deleteBlob(repo: RepositoryName, digest: Digest): Promise<void> {
    await this.repoLocks.run(repo, async () => {
      if (!(await this.meta.unlinkBlob(repo, digest))) throw new BlobUnknownError(digest);
    });
  }

  /** The blob's local file, when the blob store has one (for sendfile); undefined otherwise. */
  blobFile(info: BlobInfo): string | undefined {
    return this.blobs.localPath?.(info.digest);
  }

  /**
   * Cross-repository mount. With `from`, the blob must be linked there; without it, a
   * blob the store holds is enough (OCI 1.1). Undefined when it cannot be mounted.
   */
  async mountBlob(repo: RepositoryName, digest: Digest, from?: RepositoryName): Promise<BlobInfo | undefined> {
    return this.gcBarrier.shared(async () => {
      const source = from !== undefined ? await this.meta.getLinkedBlob(from, digest) : await this.blobs.stat(digest);
      if (!source) return undefined;
      await this.meta.linkBlob(repo, source);
      return source;
    });
  }

  // ---- uploads

  async startUpload(repo: RepositoryName): Promise<Upload> {
    const id = randomUUID();
    const now = Date.now();
    const upload = await this.blobs.beginUpload(id);
    await this.meta.putUploadSession({ id, repository: repo, startedAt: now, touchedAt: now });
    return upload;
  }

  /** The session's upload, its activity recorded (it expires uploadExpiryMs after its last request). */
  async getUpload(repo: RepositoryName, id: string): Promise<Upload> {
    if (!isUploadId(id)) throw new UploadUnknownError(id);
    return this.uploadLocks.run(id, async () => {
      const session = await this.meta.getUploadSession(id);
      if (!session || session.repository !== repo) throw new UploadUnknownError(id);
      const upload = await this.blobs.resumeUpload(id);
      if (!upload) throw new UploadUnknownError(id);
      await this.meta.touchUploadSession(session, Date.now());
      return upload;
    });
  }

  async appendUpload(upload: Upload, chunk: Chunk): Promise<number> {
    return upload.append(chunk.stream, chunk.offset ?? upload.size, chunk.declaredBytes);
  }

  /** Optional final chunk, then the commit pipeline, then link, then drop the session. */
  async completeUpload(repo: RepositoryName, upload: Upload, digest: Digest, finalChunk?: Chunk): Promise<BlobInfo> {
    // A refused final chunk (out of order, another request still writing, client gone)
    // leaves the upload as it was: the 416's Range tells the client where to resume.
    if (finalChunk) await this.appendUpload(upload, finalChunk);
    try {
      // Commit and link as one step for GC: a blob in the store without its link would be garbage.
      const info = await this.gcBarrier.shared(async () => {
        const committed = await upload.commit(digest);
        await this.meta.linkBlob(repo, committed);
        return committed;
      });
      await this.meta.deleteUploadSession(upload.id);
      return info;
    } catch (err) {
      // Busy: a PATCH is still streaming into the upload; it is not ours to end. Otherwise
      // commit has removed the bytes (as registry:2, a failed completion ends the upload).
      if (!(err instanceof UploadBusyError)) {
        await upload.cancel();
        await this.meta.deleteUploadSession(upload.id);
      }
      throw err;
    }
  }

  async cancelUpload(upload: Upload): Promise<void> {
    await upload.cancel();
    await this.meta.deleteUploadSession(upload.id);
  }

  /** A whole blob in one request (POST ?digest=). No session: it lives only as long as the request. */
  async uploadMonolithic(repo: RepositoryName, digest: Digest, chunk: Chunk): Promise<BlobInfo> {
    const upload = await this.blobs.beginUpload(randomUUID());
    try {
      await upload.append(chunk.stream, 0, chunk.declaredBytes);
      return await this.gcBarrier.shared(async () => {
        const info = await upload.commit(digest, chunk.declaredBytes === Infinity ? undefined : chunk.declaredBytes);
        await this.meta.linkBlob(repo, info);
        return info;
      });
    } catch (err) {
      await upload.cancel();
      throw err;
    }
  }

  // ---- manifests

  /** One LevelDB get resolves the reference; bytes come from memory when cached. */
  async resolveManifest(repo: RepositoryName, ref: ManifestReference): Promise<ManifestDescriptor> {
    const descriptor = ref.tag !== undefined ? await this.meta.resolveTag(repo, ref.tag) : await this.meta.getManifest(repo, ref.digest);
    if (!descriptor) throw new ManifestUnknownError(ref.tag ?? ref.digest);
    return descriptor;
  }

  async getManifest(repo: RepositoryName, ref: ManifestReference): Promise<ManifestContent> {
    const descriptor = await this.resolveManifest(repo, ref);
    return { descriptor, bytes: await this.manifestBytes(descriptor) };
  }

  /** The bytes of a manifest resolved earlier: from memory when cached. */
  async manifestBytes(descriptor: ManifestDescriptor): Promise<Buffer> {
    let bytes = this.cache.get(descriptor.digest);
    if (!bytes) {
      bytes = await this.blobs.readAll(descriptor.digest);
      this.cache.set(descriptor.digest, bytes);
    }
    return bytes;
  }

  async putManifest(repo: RepositoryName, ref: ManifestReference, body: Buffer, contentType: string): Promise<StoredManifest> {
    if (body.length > MAX_MANIFEST_BYTES) throw new ManifestTooLargeError(MAX_MANIFEST_BYTES);
    const parsed = parseManifest(body, contentType);
    const algorithm = ref.digest !== undefined ? digestAlgorithm(ref.digest) : 'sha256';
    const digest = `${algorithm}:${createHash(algorithm).update(body).digest('hex')}` as Digest;
    if (ref.digest !== undefined && ref.digest !== digest) throw new ReferenceDigestMismatchError(ref.digest, digest);
    const descriptor: ManifestDescriptor = { mediaType: parsed.mediaType, digest, size: body.length };
    if (parsed.artifactType !== undefined) descriptor.artifactType = parsed.artifactType;
    if (parsed.annotations !== undefined) descriptor.annotations = parsed.annotations;
    if (parsed.subject !== undefined) descriptor.subject = parsed.subject;
    // The check and the write (link + tag, one batch) under the repository's lock: a
    // DELETE of this manifest, of a blob or child it needs, comes wholly before or after;
    // and inside GC's barrier, so no sweep falls between the check and the link.
    await this.gcBarrier.shared(() => this.repoLocks.run(repo, async () => {
      await this.checkReferences(repo, parsed);
      await this.blobs.put(body, digest);
      await this.meta.putManifest(repo, descriptor, ref.tag);
    }));
    this.cache.set(digest, body);
    return { descriptor, parsed };
  }

  /** Every blob and child manifest must already be in this repository. */
  private async checkReferences(repo: RepositoryName, parsed: ParsedManifest): Promise<void> {
    const missing = await Promise.all([
      ...parsed.blobs.map(async (d) => ((await this.meta.getLinkedBlob(repo, d)) ? undefined : d)),
      ...parsed.manifests.map(async (d) => ((await this.meta.getManifest(repo, d)) ? undefined : d)),
    ]);
    const first = missing.find((d) => d !== undefined);
    if (first) throw new ManifestBlobUnknownError(first);
  }

  async deleteManifest(repo: RepositoryName, digest: Digest): Promise<void> {
    await this.repoLocks.run(repo, async () => {
      if (!(await this.meta.deleteManifest(repo, digest))) throw new ManifestUnknownError(digest);
    });
  }

  async deleteTag(repo: RepositoryName, tag: Tag): Promise<void> {
    await this.repoLocks.run(repo, async () => {
      if (!(await this.meta.deleteTag(repo, tag))) throw new ManifestUnknownError(tag);
    });
  }

  // ---- discovery

  async listTags(repo: RepositoryName, page: Page): Promise<string[]> {
    if (!(await this.meta.repositoryExists(repo))) throw new RepositoryUnknownError(repo);
    return this.meta.listTags(repo, page);
  }

  async catalog(page: Page): Promise<string[]> {
    return this.meta.listRepositories(page);
  }

  async referrers(repo: RepositoryName, subject: Digest, artifactType?: string): Promise<ReferrerDescriptor[]> {
    const all = await this.meta.listReferrers(repo, subject);
    return artifactType === undefined ? all : all.filter((r) => r.artifactType === artifactType);
  }
}
