/**
 * The node's local image store: verified blobs in a content store, one record per image
 * reference, and layers unpacked once (runtime/layers/unpack.ts). Paths come from NodeLayout.
 *
 * pull: manifest (an index picks the platform) -> config -> layers, up to 3 at a time,
 * each streamed from the registry through a digest check into a temp file, fsynced and
 * renamed into the store, then unpacked. A blob already in the store is not fetched again;
 * a layer already unpacked is not unpacked again. The record is written last, so an image
 * is listed only when everything it needs is on disk.
 */
import { createReadStream, readFileSync, rmSync, statSync } from 'node:fs';
import { mkdir, open, readFile, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createWriteStream } from 'node:fs';
import type { Digest } from '../../oci/names.js';
import { parseDigest } from '../../oci/names.js';
// unpack (tar-stream, zstd, zlib) and the registry client (undici) load on the first pull or
// unpack: a daemon or `wharf run` of an image already here never pays for them.
import type { SpecialFileOps, StoredBlob } from '../layers/unpack.js';
import { layersInUse } from '../layers/snapshots.js';
import { heldByCache, pruneCacheFor } from './build/cache.js';
import type { Credentials, RegistryClient } from '../../oci/client.js';
import { NodeLayout } from '../layout.js';
import { linkFromRegistry, type Colocation } from './colocated.js';
import {
  DEFAULT_PLATFORM,
  ImageFormatError,
  parseImageConfig,
  parseImageManifest,
  parseIndex,
  selectPlatform,
  type ContainerConfig,
  type ImageConfig,
  type Platform,
} from '../../oci/image.js';
import { isIndex, MediaTypes } from '../../oci/media-types.js';
import { createHash } from 'node:crypto';
import { formatReference, manifestReference, parseReference, type ImageReference } from '../../oci/reference.js';

export interface LayerRecord {
  digest: Digest;
  size: number;
  mediaType: string;
  /** digest of the uncompressed tar: names the unpacked layer dir */
  diffId: Digest;
}

export interface ImageRecord {
  /** canonical `registry/name:tag` or `registry/name@digest` */
  reference: string;
  registry: string;
  repository: string;
  tag?: string;
  /** the platform-specific image manifest */
  digest: Digest;
  /** the index it was chosen from, when the reference named an index */
  indexDigest?: Digest;
  mediaType: string;
  /** the image ID, as Docker shows it */
  configDigest: Digest;
  platform: Platform;
  created?: string;
  config: ContainerConfig;
  /** bottom layer first */
  layers: LayerRecord[];
  /** sum of the compressed layer sizes */
  size: number;
  pulledAt: string;
  /** set when `tag` made this record from another: no digest of this repository is known */
  taggedAt?: string;
  /** where the blobs were pulled from, kept through tags: a push to that registry mounts from there */
  origin?: { registry: string; repository: string };
}

/** The fields of an image record that its manifest, its config and its layers give: pull
 * and load make records of the same shape from them. */
export function imageContentFields(
  manifest: { mediaType: string; config: { digest: Digest } },
  config: ImageConfig,
  layers: LayerRecord[],
): Pick<ImageRecord, 'mediaType' | 'configDigest' | 'platform' | 'config' | 'layers' | 'size' | 'pulledAt' | 'created'> {
  return {
    mediaType: manifest.mediaType,
    configDigest: manifest.config.digest,
    platform: { os: config.os, architecture: config.architecture, ...(config.variant ? { variant: config.variant } : {}) },
    config: config.config,
    layers,
    size: layers.reduce((n, l) => n + l.size, 0),
    pulledAt: new Date().toISOString(),
    ...(config.created ? { created: config.created } : {}),
  };
}

/** An image to add: its full config (rootfs.diff_ids naming `layers`, bottom first). */
export interface NewImage {
  config: Record<string, unknown>;
  layers: LayerRecord[];
}

const DOCKER_CONFIG_MEDIA_TYPE = 'application/vnd.docker.container.image.v1+json';

const sha256Digest = (bytes: Buffer): Digest => `sha256:${createHash('sha256').update(bytes).digest('hex')}` as Digest;

export type PullPhase = 'waiting' | 'exists' | 'linked' | 'downloading' | 'unpacking' | 'done';

export interface PullProgress {
  layer: Digest;
  phase: PullPhase;
  /** bytes downloaded so far (downloading) */
  current: number;
  size: number;
}

export interface PullOptions {
  onProgress?: (p: PullProgress) => void;
  credentials?: Credentials;
  scheme?: 'http' | 'https';
  platform?: Platform;
  /** unpack layers after download (default true) */
  unpack?: boolean;
  /** parallel layer downloads (default 3, as Docker) */
  concurrency?: number;
  specialOps?: SpecialFileOps;
}

export interface RemoveResult {
  removed: string[];
  deletedBlobs: Digest[];
  deletedLayers: Digest[];
}

export class ImageNotFoundError extends Error {
  override name = 'ImageNotFoundError';
  readonly code = 'IMAGE_NOT_FOUND';
}

export interface ImageStoreOptions {
  /** registry for references without a host */
  defaultRegistry?: string;
  /** registries on this machine whose blob stores the node shares (colocated.ts) */
  colocation?: Colocation;
}

/** The co-located link did not work out: the blob comes over HTTP instead. */
class NotLinked extends Error {}

export class ImageStore {
  readonly layout: NodeLayout;

  constructor(
    layoutOrRoot: NodeLayout | string,
    readonly opts: ImageStoreOptions = {},
  ) {
    this.layout = typeof layoutOrRoot === 'string' ? new NodeLayout(layoutOrRoot) : layoutOrRoot;
  }

  parse(reference: string): ImageReference {
    return parseReference(reference, this.opts.defaultRegistry ? { defaultRegistry: this.opts.defaultRegistry } : {});
  }

  async pull(reference: string | ImageReference, opts: PullOptions = {}): Promise<ImageRecord> {
    const ref = typeof reference === 'string' ? this.parse(reference) : reference;
    const repo = ref.repository;
    const clientOpts: ConstructorParameters<typeof RegistryClient>[0] = { registry: ref.registry };
    if (opts.credentials) clientOpts.credentials = opts.credentials;
    if (opts.scheme) clientOpts.scheme = opts.scheme;
    const { RegistryClient: Client } = await import('../../oci/client.js');
    const client = new Client(clientOpts);
    const { ensureLayerUnpacked } = await import('../layers/unpack.js');

    let top = await client.getManifest(repo, manifestReference(ref));
    await this.putBlob(top.digest, top.bytes);
    let indexDigest: Digest | undefined;
    if (isIndex(top.mediaType)) {
      indexDigest = top.digest;
      const chosen = selectPlatform(parseIndex(top.bytes, top.mediaType), opts.platform ?? DEFAULT_PLATFORM);
      top = await client.getManifest(repo, chosen.digest);
      if (isIndex(top.mediaType)) throw new ImageFormatError(`nested index ${chosen.digest} is not supported`);
      await this.putBlob(top.digest, top.bytes);
    }
    const manifest = parseImageManifest(top.bytes, top.mediaType);
    const shared = this.opts.colocation?.for(ref.registry);
    // Co-located: the registry says over HTTP (HEAD, no body) that the caller may read the blob, then it is linked.
    const linkShared = async (digest: Digest, size: number): Promise<boolean> => {
      if (!shared || (await this.hasBlob(digest, size))) return false;
      await client.headBlob(repo, digest);
      let linked = false;
      await this.commitTemp(digest, async (tmp) => {
        linked = await linkFromRegistry(shared, digest, size, tmp);
        if (!linked) throw new NotLinked();
      }).catch((e: unknown) => {
        if (!(e instanceof NotLinked)) throw e;
      });
      return linked;
    };
    await linkShared(manifest.config.digest, manifest.config.size);
    const configBytes = (await this.readBlobIfPresent(manifest.config.digest)) ?? (await client.getBlobBytes(repo, manifest.config.digest, manifest.config.size));
    await this.putBlob(manifest.config.digest, configBytes);
    const config = parseImageConfig(configBytes);
    if (config.diffIds.length !== manifest.layers.length)
      throw new ImageFormatError(`image config lists ${config.diffIds.length} diff_ids for ${manifest.layers.length} layers`);

    const layers: LayerRecord[] = manifest.layers.map((l, i) => ({ digest: l.digest, size: l.size, mediaType: l.mediaType, diffId: config.diffIds[i]! }));
    const report = (layer: LayerRecord, phase: PullPhase, current = 0) => opts.onProgress?.({ layer: layer.digest, phase, current, size: layer.size });
    layers.forEach((l) => report(l, 'waiting'));

    const fetchLayer = async (layer: LayerRecord) => {
      const unpack = opts.unpack ?? true;
      const unpacked = unpack && (await exists(this.layout.layerDir(layer.diffId)));
      if (unpacked || (await this.hasBlob(layer.digest, layer.size))) {
        report(layer, 'exists', layer.size);
      } else if (await linkShared(layer.digest, layer.size)) {
        report(layer, 'linked', layer.size);
      } else {
        const stream = await client.getBlob(repo, layer.digest, layer.size);
        let current = 0;
        await this.writeBlob(layer.digest, stream, (n) => report(layer, 'downloading', (current += n)));
      }
      if (unpack && !unpacked) {
        report(layer, 'unpacking', layer.size);
        const special = opts.specialOps ? { specialOps: opts.specialOps } : {};
        await ensureLayerUnpacked(this.layout, layer.diffId, async () => this.openBlob(layer.digest), { ...special, stored: this.storedBlob(layer.digest) });
      }
      report(layer, 'done', layer.size);
    };
    await runLimited(layers, opts.concurrency ?? 3, fetchLayer);

    const record: ImageRecord = {
      reference: formatReference(ref),
      registry: ref.registry,
      repository: repo,
      digest: top.digest,
      ...imageContentFields(manifest, config, layers),
    };
    if (ref.tag) record.tag = ref.tag;
    if (indexDigest) record.indexDigest = indexDigest;
    await this.writeRecord(record);
    return record;
  }

  /** The record for a reference (as given to pull), or for an image ID (config digest, or a prefix of its hex). */
  async get(referenceOrId: string): Promise<ImageRecord | undefined> {
    let ref: ImageReference | undefined;
    try {
      ref = this.parse(referenceOrId);
      // one small file, read on every container create: synchronous, cheaper than a pool round trip
      return JSON.parse(readFileSync(this.layout.imageRecordPath(formatReference(ref)), 'utf8')) as ImageRecord;
    } catch {
      /* not a reference we have: maybe repo@digest of a tagged record, or an image ID */
    }
    if (ref?.digest) {
      const d = ref.digest;
      const same = (await this.list()).find((r) => r.registry === ref.registry && r.repository === ref.repository && !r.taggedAt && (r.digest === d || r.indexDigest === d));
      if (same) return same;
    }
    const id = /^(?:sha256:)?([0-9a-f]{4,64})$/.exec(referenceOrId)?.[1];
    if (!id) return undefined;
    const matches = (await this.list()).filter((r) => r.configDigest.slice('sha256:'.length).startsWith(id));
    const ids = new Set(matches.map((r) => r.configDigest));
    if (ids.size > 1) throw new ImageNotFoundError(`image ID prefix ${id} is ambiguous`);
    return matches[0];
  }

  async list(): Promise<ImageRecord[]> {
    let names: string[];
    try {
      names = await readdir(this.layout.imagesDir);
    } catch {
      return [];
    }
    const records: ImageRecord[] = [];
    for (const n of names.filter((n) => n.endsWith('.json')).sort()) {
      try {
        records.push(JSON.parse(await readFile(`${this.layout.imagesDir}/${n}`, 'utf8')) as ImageRecord);
      } catch {
        /* a record being replaced right now */
      }
    }
    return records;
  }

  /**
   * rmi: remove the record for a reference, or every record of an image ID, then (by
   * default) garbage-collect blobs and unpacked layers no remaining image or container uses.
   */
  async remove(referenceOrId: string, opts: { gc?: boolean } = {}): Promise<RemoveResult> {
    const rec = await this.get(referenceOrId);
    if (!rec) throw new ImageNotFoundError(`no such image: ${referenceOrId}`);
    const byId = !this.isExactReference(referenceOrId, rec);
    const doomed = byId ? (await this.list()).filter((r) => r.configDigest === rec.configDigest) : [rec];
    for (const r of doomed) await rm(this.layout.imageRecordPath(r.reference), { force: true });
    const left = new Set((await this.list()).map((r) => r.configDigest));
    if (!left.has(rec.configDigest)) await pruneCacheFor(this.layout, rec.configDigest, left);
    const gc = opts.gc ?? true ? await this.gc() : { deletedBlobs: [], deletedLayers: [] };
    return { removed: doomed.map((r) => r.reference), ...gc };
  }

  /** Delete blobs and unpacked layers that no image record and no container snapshot references. */
  async gc(): Promise<{ deletedBlobs: Digest[]; deletedLayers: Digest[] }> {
    const keepBlobs = new Set<string>();
    const keepLayers = new Set<string>();
    for (const r of await this.list()) {
      keepBlobs.add(r.digest).add(r.configDigest);
      if (r.indexDigest) keepBlobs.add(r.indexDigest);
      for (const l of r.layers) {
        keepBlobs.add(l.digest);
        keepLayers.add(this.layout.layerDirName(l.diffId));
      }
    }
    for (const d of await layersInUse(this.layout)) keepLayers.add(this.layout.layerDirName(d));
    const cached = await heldByCache(this.layout);
    for (const d of cached.blobs) keepBlobs.add(d);
    for (const d of cached.layers) keepLayers.add(this.layout.layerDirName(d));
    const deletedBlobs: Digest[] = [];
    for (const alg of await readdir(this.layout.blobsDir).catch(() => [] as string[])) {
      for (const hex of await readdir(`${this.layout.blobsDir}/${alg}`)) {
        const d = parseDigest(`${alg}:${hex}`);
        if (!d || keepBlobs.has(d)) continue;
        await rm(this.layout.blobPath(d), { force: true });
        deletedBlobs.push(d);
      }
    }
    const deletedLayers: Digest[] = [];
    for (const name of await readdir(this.layout.layersDir).catch(() => [] as string[])) {
      if (name.startsWith('.') || keepLayers.has(name)) continue;
      await rm(`${this.layout.layersDir}/${name}`, { recursive: true, force: true });
      deletedLayers.push(`sha256:${name}` as Digest);
    }
    return { deletedBlobs, deletedLayers };
  }

  /** Unpacked layer dirs of an image, bottom first (unpacking any that are missing). */
  async layerDirs(record: ImageRecord): Promise<string[]> {
    const { ensureLayerUnpacked } = await import('../layers/unpack.js');
    return Promise.all(record.layers.map((l) => ensureLayerUnpacked(this.layout, l.diffId, async () => this.openBlob(l.digest), { stored: this.storedBlob(l.digest) })));
  }

  /** A blob of the content store, for an unpack that reads it as a file (unpackStoredLayer). */
  storedBlob(digest: Digest): StoredBlob {
    return { path: this.layout.blobPath(digest), digest };
  }

  async hasBlob(digest: Digest, size?: number): Promise<boolean> {
    try {
      const st = await stat(this.layout.blobPath(digest));
      return size === undefined || st.size === size;
    } catch {
      return false;
    }
  }

  /** hasBlob as one synchronous stat (a few microseconds): for the build's and addImage's checks, which are many and small. */
  hasBlobSync(digest: Digest, size?: number): boolean {
    const st = statSync(this.layout.blobPath(digest), { throwIfNoEntry: false });
    return st !== undefined && (size === undefined || st.size === size);
  }

  async openBlob(digest: Digest): Promise<Readable> {
    const path = this.layout.blobPath(digest);
    await stat(path);
    return createReadStream(path, { highWaterMark: 1024 * 1024 });
  }

  /**
   * tag: a record for `target` (a reference with a tag) of the same image as `source`.
   * An existing record of `target` is replaced, as Docker moves a tag.
   */
  async tag(source: ImageRecord, target: string): Promise<ImageRecord> {
    const ref = this.parse(target);
    if (!ref.tag) throw new ImageFormatError(`tag target ${target} must name a tag, not a digest`);
    const origin = source.origin ?? (source.taggedAt || !source.repository ? undefined : { registry: source.registry, repository: source.repository });
    const record: ImageRecord = { ...source, reference: formatReference(ref), registry: ref.registry, repository: ref.repository, tag: ref.tag, taggedAt: new Date().toISOString() };
    if (origin) record.origin = origin;
    await this.writeRecord(record);
    await rm(this.layout.imageRecordPath(source.configDigest), { force: true }); // a dangling image, named now
    return record;
  }

  /**
   * A new image made on this node (build, commit): the config and a Docker schema 2
   * manifest into the content store (the layers must be there already: writeLayerFromDir),
   * then one record per reference. With no reference the image is dangling (`<none>:<none>`):
   * a record keyed by its ID. A reference that named another image moves (as Docker moves
   * a tag); that image stays as a dangling one if nothing else names it. Records are
   * written last, so the image is listed only once everything it needs is on disk.
   */
  async addImage(image: NewImage, references: string[] = []): Promise<ImageRecord[]> {
    const configBytes = Buffer.from(JSON.stringify(image.config));
    const configDigest = sha256Digest(configBytes);
    const diffIds = (image.config.rootfs as { diff_ids?: unknown } | undefined)?.diff_ids;
    if (!Array.isArray(diffIds) || diffIds.length !== image.layers.length || diffIds.some((d, i) => d !== image.layers[i]!.diffId))
      throw new ImageFormatError('image config rootfs.diff_ids do not match the layers');
    const missing = image.layers.find((l) => !this.hasBlobSync(l.digest, l.size));
    if (missing) throw new ImageFormatError(`layer blob ${missing.digest} is not in the content store`);
    const manifestBytes = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MediaTypes.dockerManifest,
        config: { mediaType: DOCKER_CONFIG_MEDIA_TYPE, size: configBytes.length, digest: configDigest },
        layers: image.layers.map((l) => ({ mediaType: l.mediaType, size: l.size, digest: l.digest })),
      }),
    );
    const manifestDigest = sha256Digest(manifestBytes);
    // two independent fsyncs: one wait, not two
    await Promise.all([this.putBlob(configDigest, configBytes), this.putBlob(manifestDigest, manifestBytes)]);
    const config = parseImageConfig(configBytes);
    const now = new Date().toISOString();
    const base: ImageRecord = {
      reference: configDigest,
      registry: '',
      repository: '',
      digest: manifestDigest,
      mediaType: MediaTypes.dockerManifest,
      configDigest,
      platform: { os: config.os, architecture: config.architecture, ...(config.variant ? { variant: config.variant } : {}) },
      config: config.config,
      layers: image.layers,
      size: image.layers.reduce((n, l) => n + l.size, 0),
      pulledAt: now,
      // made here: no registry knows a digest of it (RepoDigests stay empty, as Docker's)
      taggedAt: now,
    };
    if (config.created) base.created = config.created;
    if (references.length === 0) {
      await this.writeRecord(base);
      return [base];
    }
    const out: ImageRecord[] = [];
    for (const reference of references) {
      const ref = this.parse(reference);
      if (!ref.tag || ref.digest) throw new ImageFormatError(`${reference}: an image made here is named by a tag, not a digest`);
      const record: ImageRecord = { ...base, reference: formatReference(ref), registry: ref.registry, repository: ref.repository, tag: ref.tag };
      const previous = await this.get(record.reference).catch(() => undefined);
      if (previous && sameRecord(previous, record)) {
        // the name already says exactly this (a rebuild that hit the cache all the way): nothing to write
        out.push(previous);
        continue;
      }
      await this.writeRecord(record);
      if (previous && previous.configDigest !== configDigest) await this.keepDangling(previous);
      out.push(record);
    }
    rmSync(this.layout.imageRecordPath(configDigest), { force: true }); // named now: no longer dangling
    return out;
  }

  /** The image config blob (all of it: history, healthcheck, onbuild... that ImageRecord.config leaves out). */
  async readConfig(record: ImageRecord): Promise<Record<string, unknown>> {
    return JSON.parse((await readFile(this.layout.blobPath(record.configDigest))).toString('utf8')) as Record<string, unknown>;
  }

  /** An image whose last reference moved elsewhere stays listed as `<none>:<none>`. */
  private async keepDangling(previous: ImageRecord): Promise<void> {
    const others = (await this.list()).some((r) => r.configDigest === previous.configDigest);
    if (others) return;
    const { tag: _tag, ...rest } = previous;
    await this.writeRecord({ ...rest, reference: previous.configDigest, registry: '', repository: '', taggedAt: new Date().toISOString() });
  }

  /** Does `input` name exactly this record (rather than its image ID)? */
  isExactReference(input: string, rec: ImageRecord): boolean {
    try {
      return formatReference(this.parse(input)) === rec.reference;
    } catch {
      return false;
    }
  }

  async readBlobIfPresent(digest: Digest): Promise<Buffer | undefined> {
    return readFile(this.layout.blobPath(digest)).catch(() => undefined);
  }

  /** Bytes already verified by the caller: temp file, fsync, rename. */
  async putBlob(digest: Digest, bytes: Buffer): Promise<void> {
    if (this.hasBlobSync(digest, bytes.length)) return;
    await this.commitTemp(digest, async (tmp) => {
      const fh = await open(tmp, 'w', 0o644);
      try {
        await fh.writeFile(bytes);
        await fh.sync();
      } finally {
        await fh.close();
      }
    });
  }

  /** A stream that verifies itself (client.getBlob): temp file, fsync, rename only when it ended clean. */
  async writeBlob(digest: Digest, verified: Readable, onBytes?: (n: number) => void): Promise<void> {
    await this.commitTemp(digest, async (tmp) => {
      const count = async function* (source: AsyncIterable<Buffer>) {
        for await (const chunk of source) {
          onBytes?.(chunk.length);
          yield chunk;
        }
      };
      const out = createWriteStream(tmp, { mode: 0o644 });
      await pipeline(verified, count, out).catch(async (err: unknown) => {
        // A failed pipeline rejects before the write stream is closed, and it may still be
        // opening the file: commitTemp's rm comes after its close, or the file is left behind.
        if (!out.closed) await new Promise<void>((resolve) => out.once('close', () => resolve()).destroy());
        throw err;
      });
      const fh = await open(tmp, 'r');
      try {
        await fh.sync();
      } finally {
        await fh.close();
      }
    });
  }

  /** Write a blob through a temp file renamed into place (load, commit: the writer verified it). */
  async commitTemp(digest: Digest, write: (tmp: string) => Promise<void>): Promise<void> {
    const final = this.layout.blobPath(digest);
    await mkdir(this.layout.contentTmpDir, { recursive: true });
    await mkdir(final.slice(0, final.lastIndexOf('/')), { recursive: true });
    const tmp = this.layout.contentTmpPath();
    try {
      await write(tmp);
      await rename(tmp, final);
    } catch (err) {
      await rm(tmp, { force: true });
      throw err;
    }
  }

  async writeRecord(record: ImageRecord): Promise<void> {
    await mkdir(this.layout.imagesDir, { recursive: true });
    const path = this.layout.imageRecordPath(record.reference);
    const tmp = `${path}.tmp-${process.pid}`;
    await writeFile(tmp, JSON.stringify(record, null, 2));
    await rename(tmp, path);
  }
}

/** The same record but for when it was written (pulledAt, taggedAt). */
function sameRecord(a: ImageRecord, b: ImageRecord): boolean {
  const timeless = (r: ImageRecord) => JSON.stringify({ ...r, pulledAt: '', taggedAt: '' });
  return timeless(a) === timeless(b);
}

async function exists(p: string): Promise<boolean> {
  return stat(p).then(
    () => true,
    () => false,
  );
}

/**
 * Run `fn` over items with at most `limit` in flight. After the first failure no new item
 * starts, and the failure is raised only once the others have finished, so a failed pull
 * leaves no download still writing behind it.
 */
async function runLimited<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  let failed = false;
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (!failed && next < items.length) {
      try {
        await fn(items[next++]!);
      } catch (err) {
        failed = true;
        throw err;
      }
    }
  });
  const results = await Promise.allSettled(workers);
  const failure = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failure) throw failure.reason;
}
