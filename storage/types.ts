/**
 * The storage interfaces. Handlers use these; storage/fs and storage/level implement
 * them. No filesystem or LevelDB type appears here, so a scaled-out deployment can
 * swap in object storage and PostgreSQL behind the same shapes.
 */
import type { Readable } from 'node:stream';
import type { ParsedManifest } from '../oci/manifest.js';
import type { Digest, RepositoryName, Tag } from '../oci/names.js';

export type { Digest, RepositoryName, Tag } from '../oci/names.js';

export interface BlobInfo {
  digest: Digest;
  size: number;
}

/** Inclusive byte range, as in HTTP. */
export interface ByteRange {
  start: number;
  end: number;
}

/** Content-addressed bytes. Manifests are blobs too. */
export interface BlobStore {
  stat(digest: Digest): Promise<BlobInfo | undefined>;
  /** Stream a blob, or part of it. Throws BlobUnknownError. */
  read(digest: Digest, range?: ByteRange): Promise<Readable>;
  /** Whole small blob (manifests) in memory. Throws BlobUnknownError. */
  readAll(digest: Digest): Promise<Buffer>;
  /** Store bytes already in memory (manifests): verify, fsync, rename. */
  put(bytes: Buffer, digest: Digest): Promise<BlobInfo>;
  beginUpload(id: string): Promise<Upload>;
  /** An upload begun earlier (maybe before a restart); undefined when unknown. */
  resumeUpload(id: string): Promise<Upload | undefined>;
  /** Upload ids present in the store (to clean stale ones at start). */
  listUploads(): Promise<string[]>;
  /**
   * Drop an upload's bytes without reading them (expired sessions). False, and nothing
   * removed, while a request is writing into it.
   */
  removeUpload(id: string): Promise<boolean>;
  /** The local file holding a blob, for the plain-HTTP sendfile(2) fast path; absent on remote stores. */
  localPath?(digest: Digest): string;
  /**
   * Adopt a file on this machine as the blob `digest` without copying its bytes (a hard
   * link, else a reflink): the co-located node's push (runtime/images/colocated.ts). The
   * bytes are hashed first, as every way into the store verifies; undefined when the file
   * cannot be linked (another filesystem without reflinks), then nothing changed.
   * Absent on remote stores.
   */
  linkFile?(path: string, digest: Digest): Promise<BlobInfo | undefined>;
  delete(digest: Digest): Promise<boolean>;
  list(): AsyncIterable<Digest>;
}

export interface AppendOptions {
  /** Called with the upload's size each time more of the stream reached its file (a fill's readers follow it). */
  onWritten?(size: number): void;
  /**
   * Start the disk's write-back every so often while appending, so that commit's fsync has
   * little left (default true). A cache fill passes false: its readers must never wait for
   * the disk, and it fsyncs once, at commit.
   */
  syncAhead?: boolean;
}

/** A file still being written (a cache fill), sent by sendfile(2) as it grows. */
export interface GrowingFile {
  /** The file's path once it exists; undefined when it cannot be sent this way (any more). */
  path(): Promise<string | undefined>;
  /**
   * Resolves with the end (exclusive) of what may be sent now, once that is past `from`;
   * rejects when the rest will never come (the fill failed before its bytes verified).
   */
  readableAfter(from: number): Promise<number>;
}

/** A writer that commits or cancels: nothing half-written becomes visible. */
export interface Upload {
  readonly id: string;
  /** Bytes received so far. */
  readonly size: number;
  /**
   * Append a stream at `offset`, which must equal `size` (else UploadOffsetError).
   * `declaredBytes`, when given, is exactly what the stream must carry (else
   * SizeMismatchError, nothing kept   * past the old size). Resolves with the new size.
   */
  append(stream: Readable, offset: number, declaredBytes?: number, options?: AppendOptions): Promise<number>;
  /** Throws DigestMismatchError (or SizeMismatchError) unless the bytes so far are `expected`; commits nothing. */
  verify(expected: Digest, expectedSize?: number): Promise<void>;
  /**
   * The local file the bytes are appended to, for sendfile(2) of a growing upload (a
   * cache fill); absent on remote stores. It goes at commit or cancel: a file opened
   * before stays readable.
   */
  readonly localPath?: string;
  /**
   * The bytes appended so far, or part of them (a range past them yields what there is).
   * The proxy cache's late readers follow a growing upload with it. UploadUnknownError
   * once committed or cancelled.
   */
  read(range: ByteRange): Promise<Readable>;
  /** flush -> verify digest (and size) -> move into the blob store -> remove leftovers. */
  commit(expected: Digest, expectedSize?: number): Promise<BlobInfo>;
  cancel(): Promise<void>;
}

/** What the metadata index records about a manifest (its bytes live in the BlobStore). */
export interface ManifestDescriptor {
  mediaType: string;
  digest: Digest;
  size: number;
  artifactType?: string;
  annotations?: Record<string, string>;
  /** digest of the manifest this one refers to (OCI 1.1 subject) */
  subject?: Digest;
}

/** A referrer as listed by the referrers API. */
export interface ReferrerDescriptor {
  mediaType: string;
  digest: Digest;
  size: number;
  artifactType?: string;
  annotations?: Record<string, string>;
}

export interface Page {
  /** max entries (already clamped by the caller) */
  n: number;
  /** return entries strictly after this one */
  last?: string;
}

export interface UploadSession {
  id: string;
  repository: RepositoryName;
  startedAt: number;
  /** ms since the epoch of the session's last request: it expires when this is old */
  touchedAt: number;
}

/** A blob link, for GC: `linkedAt` (ms) starts the blob's lease; 0 when unknown (an older store). */
export interface BlobLink {
  repo: RepositoryName;
  digest: Digest;
  size: number;
  linkedAt: number;
}

export interface ManifestLink {
  repo: RepositoryName;
  descriptor: ManifestDescriptor;
  /** ms since the epoch of the last put of this manifest in this repository; 0 when unknown */
  pushedAt: number;
}

export interface TagLink {
  repo: RepositoryName;
  tag: Tag;
  digest: Digest;
}

/** Everything that is not bytes: links, tags, manifest descriptors, referrers, sessions. */
export interface MetadataStore {
  /** Make a blob readable in a repository (links decide visibility). */
  linkBlob(repo: RepositoryName, blob: BlobInfo): Promise<void>;
  /** The linked blob's size without touching the blob store, or undefined if not linked. */
  getLinkedBlob(repo: RepositoryName, digest: Digest): Promise<BlobInfo | undefined>;
  unlinkBlob(repo: RepositoryName, digest: Digest): Promise<boolean>;

  /** Link a manifest into a repository, optionally tag it, and index it as a referrer. */
  putManifest(repo: RepositoryName, desc: ManifestDescriptor, tag?: Tag): Promise<void>;
  getManifest(repo: RepositoryName, digest: Digest): Promise<ManifestDescriptor | undefined>;
  /** One get: the descriptor the tag points at. */
  resolveTag(repo: RepositoryName, tag: Tag): Promise<ManifestDescriptor | undefined>;
  /** Unlink a manifest; its tags and its referrer entry go with it. */
  deleteManifest(repo: RepositoryName, digest: Digest): Promise<boolean>;
  deleteTag(repo: RepositoryName, tag: Tag): Promise<boolean>;
  listTags(repo: RepositoryName, page: Page): Promise<string[]>;
  listRepositories(page: Page): Promise<string[]>;
  repositoryExists(repo: RepositoryName): Promise<boolean>;
  listReferrers(repo: RepositoryName, subject: Digest): Promise<ReferrerDescriptor[]>;

  putUploadSession(session: UploadSession): Promise<void>;
  /** Record a request on the session at `now` (it expires that much later). */
  touchUploadSession(session: UploadSession, now: number): Promise<UploadSession>;
  getUploadSession(id: string): Promise<UploadSession | undefined>;
  deleteUploadSession(id: string): Promise<void>;
  listUploadSessions(): Promise<UploadSession[]>;
  /** Ids of up to `limit` sessions whose last request was before `before`, oldest first. */
  listIdleUploadSessions(before: number, limit: number): Promise<string[]>;

  /** GC's view of the whole index (storage/gc.ts), read once per collection. */
  scanBlobLinks(): AsyncIterable<BlobLink>;
  scanManifests(): AsyncIterable<ManifestLink>;
  scanTags(): AsyncIterable<TagLink>;
  /**
   * When the first collection ran on this store (`now` at the first call with `record`,
   * kept from then on; `now` without `record` until then). Links and manifests written
   * before their times were kept (time 0) are as old as that: a first collection after an
   * upgrade must not take them for ancient.
   */
  firstCollectionAt(now: number, record: boolean): Promise<number>;

  /** The proxy cache's state: when each cached blob or manifest was last served (LRU eviction). */
  putCacheAccess(entries: Iterable<[Digest, number]>): Promise<void>;
  scanCacheAccess(): AsyncIterable<[Digest, number]>;
  deleteCacheAccess(digests: Iterable<Digest>): Promise<void>;

  close(): Promise<void>;
}

export type ManifestReference = { tag: Tag; digest?: undefined } | { digest: Digest; tag?: undefined };

export interface ManifestContent {
  descriptor: ManifestDescriptor;
  bytes: Buffer;
}

export interface StoredManifest {
  descriptor: ManifestDescriptor;
  parsed: ParsedManifest;
}

/** A chunk of an upload: the body stream, where it claims to start, how long it may be. */
export interface Chunk {
  stream: Readable;
  /** undefined: append at the end (a streamed PATCH without Content-Range) */
  offset?: number;
  /** exactly how many bytes the chunk carries, when the request said so */
  declaredBytes?: number;
}

/**
 * The operations of the distribution API in storage terms: what the routes call. The
 * embedded Registry implements it over a BlobStore and a MetadataStore; the proxy cache
 * (server/proxy/) is a decorator of the same interface, so routes do not know a cache
 * exists. A BlobInfo from statBlob is the handle readBlob takes back.
 */
export interface RegistryService {
  statBlob(repo: RepositoryName, digest: Digest): Promise<BlobInfo>;
  readBlob(info: BlobInfo, range?: ByteRange): Promise<Readable>;
  /**
   * The blob's local file when it has one and may be sent as is (sendfile), or a file still
   * growing (a cache fill, which this may start); undefined otherwise.
   */
  blobFile?(info: BlobInfo): string | GrowingFile | undefined;
  deleteBlob(repo: RepositoryName, digest: Digest): Promise<void>;
  mountBlob(repo: RepositoryName, digest: Digest, from?: RepositoryName): Promise<BlobInfo | undefined>;

  startUpload(repo: RepositoryName): Promise<Upload>;
  getUpload(repo: RepositoryName, id: string): Promise<Upload>;
  appendUpload(upload: Upload, chunk: Chunk): Promise<number>;
  completeUpload(repo: RepositoryName, upload: Upload, digest: Digest, finalChunk?: Chunk): Promise<BlobInfo>;
  cancelUpload(upload: Upload): Promise<void>;
  uploadMonolithic(repo: RepositoryName, digest: Digest, chunk: Chunk): Promise<BlobInfo>;

  resolveManifest(repo: RepositoryName, ref: ManifestReference): Promise<ManifestDescriptor>;
  getManifest(repo: RepositoryName, ref: ManifestReference): Promise<ManifestContent>;
  /** The bytes of a manifest resolveManifest gave (from memory when cached). */
  manifestBytes(descriptor: ManifestDescriptor): Promise<Buffer>;
  putManifest(repo: RepositoryName, ref: ManifestReference, body: Buffer, contentType: string): Promise<StoredManifest>;
  deleteManifest(repo: RepositoryName, digest: Digest): Promise<void>;
  deleteTag(repo: RepositoryName, tag: Tag): Promise<void>;

  listTags(repo: RepositoryName, page: Page): Promise<string[]>;
  catalog(page: Page): Promise<string[]>;
  referrers(repo: RepositoryName, subject: Digest, artifactType?: string): Promise<ReferrerDescriptor[]>;
}
