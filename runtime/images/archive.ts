/**
 * save and load: images of the node's store to and from image archives, with oci/'s
 * archive code (the registry's `wharf import/export` use the same):
 *
 *   save: a `docker save` archive (manifest.json) that is at the same time an OCI image
 *         layout (oci-layout, index.json, blobs/sha256/…), as Docker 25 writes them;
 *         `ociOnly` leaves manifest.json out. Blobs are written as stored.
 *   load: the archive is scanned and every digest checked first (oci/archive-plan.ts: blob
 *         names, descriptors, sizes, diff_ids; names that climb out, links that point out,
 *         device nodes refused), nothing stored before the whole plan holds; then the
 *         missing blobs stream into the content store, each verified again on the way
 *         (the file may have changed between the passes), layers are unpacked (their
 *         diffIDs checked), and the records are written last.
 */
import type { Readable, Writable } from 'node:stream';
import { Readable as ReadableStream } from 'node:stream';
import { verifyDigest } from '../../oci/client.js';
import { scanArchive, streamEntries, ArchiveError } from '../../oci/archive-read.js';
import { planImport, type PlannedImage } from '../../oci/archive-plan.js';
import { writeDockerArchive, type ExportImage } from '../../oci/archive-write.js';
import { DEFAULT_PLATFORM, ImageFormatError, parseImageConfig, parseImageManifest, parseIndex, selectPlatform } from '../../oci/image.js';
import { MediaTypes, isIndex } from '../../oci/media-types.js';
import { createHash } from 'node:crypto';
import { parseDigest, type Digest } from '../../oci/names.js';
import { formatReference } from '../../oci/reference.js';
import { ensureLayerUnpacked } from '../layers/unpack.js';
import { ImageNotFoundError, imageContentFields, type ImageRecord, type ImageStore, type LayerRecord } from './store.js';

export interface SaveOptions {
  ociOnly?: boolean;
}

/**
 * The archive of the named images (references or IDs). Names of one image are one entry
 * with every name, as docker save writes them; an image named by its ID has no name.
 */
export async function saveImages(store: ImageStore, names: string[], out: Writable, opts: SaveOptions = {}): Promise<void> {
  const byId = new Map<string, { rec: ImageRecord; names: string[] }>();
  for (const name of names) {
    const rec = await store.get(name);
    if (!rec) throw new ImageNotFoundError(`No such image: ${name}`);
    const entry = byId.get(rec.configDigest) ?? { rec, names: [] };
    if (store.isExactReference(name, rec) && rec.tag) entry.names.push(rec.reference);
    byId.set(rec.configDigest, entry);
  }
  const images: ExportImage[] = [];
  for (const { rec, names: repoTags } of byId.values()) {
    const manifest = await store.readBlobIfPresent(rec.digest);
    const config = await store.readBlobIfPresent(rec.configDigest);
    if (!manifest || !config) throw new ImageNotFoundError(`the manifest or config of ${rec.reference} is missing from the node's content store`);
    for (const l of rec.layers) {
      if (!(await store.hasBlob(l.digest, l.size))) throw new ImageNotFoundError(`layer ${l.digest} of ${rec.reference} is missing from the node's content store`);
    }
    const m = opts.ociOnly ? asOciManifest(manifest, rec) : { digest: rec.digest, mediaType: rec.mediaType, bytes: manifest };
    images.push({
      repoTag: repoTags[0] ?? '',
      repoTags,
      manifest: m,
      config: { digest: rec.configDigest, bytes: config },
      layers: rec.layers.map((l) => ({ digest: l.digest, size: l.size, open: () => store.openBlob(l.digest) })),
    });
  }
  await writeDockerArchive(images, out, undefined, opts.ociOnly ? { ociOnly: true } : {});
}

const OCI_TYPE_OF: Record<string, string> = {
  [MediaTypes.dockerManifest]: MediaTypes.ociManifest,
  'application/vnd.docker.container.image.v1+json': 'application/vnd.oci.image.config.v1+json',
  'application/vnd.docker.image.rootfs.diff.tar.gzip': 'application/vnd.oci.image.layer.v1.tar+gzip',
  'application/vnd.docker.image.rootfs.diff.tar': 'application/vnd.oci.image.layer.v1.tar',
  'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip': 'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip',
};

/**
 * An OCI layout holds OCI manifests (image-spec; skopeo's oci: transport looks at no other
 * kind): a Docker schema 2 manifest is rewritten with the OCI media types, as `skopeo copy`
 * converts it. Blobs stay as they are; the manifest gets a digest of its own.
 */
function asOciManifest(bytes: Buffer, rec: ImageRecord): { digest: string; mediaType: string; bytes: Buffer } {
  if (rec.mediaType !== MediaTypes.dockerManifest) return { digest: rec.digest, mediaType: rec.mediaType, bytes };
  const m = JSON.parse(bytes.toString('utf8')) as { config: { mediaType: string }; layers: Array<{ mediaType: string }> } & Record<string, unknown>;
  const convert = (t: string) => OCI_TYPE_OF[t] ?? t;
  const out = Buffer.from(
    JSON.stringify({ ...m, mediaType: MediaTypes.ociManifest, config: { ...m.config, mediaType: convert(m.config.mediaType) }, layers: m.layers.map((l) => ({ ...l, mediaType: convert(l.mediaType) })) }),
  );
  return { digest: `sha256:${createHash('sha256').update(out).digest('hex')}`, mediaType: MediaTypes.ociManifest, bytes: out };
}

export interface LoadedImage {
  /** the image ID */
  id: Digest;
  /** references written (empty: loaded without a name, dangling) */
  references: string[];
}

/** Load every image of an archive; `open` is called once per pass (the archive is read twice). */
export async function loadArchive(store: ImageStore, open: () => Readable): Promise<LoadedImage[]> {
  const plan = planImport(await scanArchive(open()));
  const missing = new Map<string, { digest: Digest; size: number }>();
  for (const b of plan.blobs.values()) {
    const digest = parseDigest(b.digest);
    if (!digest) throw new ArchiveError(`blob ${b.digest}: not a digest`);
    if (!(await store.hasBlob(digest, b.size))) missing.set(b.entry, { digest, size: b.size });
  }
  if (missing.size > 0) {
    await streamEntries(open(), new Set(missing.keys()), async (entry, stream) => {
      const b = missing.get(entry)!;
      if (await store.hasBlob(b.digest, b.size)) return void stream.resume();
      await store.writeBlob(b.digest, ReadableStream.from(verifyDigest(stream, b.digest, b.size, `archive entry ${entry}`), { objectMode: false }));
    });
  }
  const loaded: LoadedImage[] = [];
  for (const image of plan.images) loaded.push(await recordImage(store, image));
  return loaded;
}

async function recordImage(store: ImageStore, image: PlannedImage): Promise<LoadedImage> {
  for (const m of [...image.children, image.manifest]) await store.putBlob(parseDigest(m.digest)!, m.bytes);
  let top = image.manifest;
  let indexDigest: Digest | undefined;
  if (isIndex(top.mediaType)) {
    indexDigest = parseDigest(top.digest);
    const chosen = selectPlatform(parseIndex(top.bytes, top.mediaType), DEFAULT_PLATFORM);
    const child = image.children.find((c) => c.digest === chosen.digest);
    if (!child || isIndex(child.mediaType)) throw new ImageFormatError(`the archive's index ${top.digest} has no image manifest for linux/amd64 in the archive`);
    top = child;
  }
  const manifest = parseImageManifest(top.bytes, top.mediaType);
  const configBytes = await store.readBlobIfPresent(manifest.config.digest);
  if (!configBytes) throw new ArchiveError(`the config ${manifest.config.digest} is missing from the archive`);
  const config = parseImageConfig(configBytes);
  if (config.diffIds.length !== manifest.layers.length) throw new ImageFormatError(`image config lists ${config.diffIds.length} diff_ids for ${manifest.layers.length} layers`);
  const layers: LayerRecord[] = manifest.layers.map((l, i) => ({ digest: l.digest, size: l.size, mediaType: l.mediaType, diffId: config.diffIds[i]! }));
  for (const l of layers) await ensureLayerUnpacked(store.layout, l.diffId, () => store.openBlob(l.digest), { stored: store.storedBlob(l.digest) });

  const base = {
    digest: parseDigest(top.digest)!,
    ...imageContentFields(manifest, config, layers),
    // loaded, not pulled: no digest of any repository is known
    taggedAt: new Date().toISOString(),
    ...(indexDigest ? { indexDigest } : {}),
  };
  const references: string[] = [];
  for (const name of image.names) {
    let ref;
    try {
      ref = store.parse(name);
    } catch {
      continue; // a name we cannot parse is left out, as docker load skips it
    }
    if (!ref.tag) continue;
    const reference = formatReference(ref);
    await store.writeRecord({ ...base, reference, registry: ref.registry, repository: ref.repository, tag: ref.tag });
    references.push(reference);
  }
  const known = references.length > 0 || (await store.list()).some((r) => r.configDigest === base.configDigest);
  if (!known) await store.writeRecord(danglingRecord(base));
  return { id: manifest.config.digest, references };
}

/** An image without a name (load of an unnamed image, commit without a repository): keyed by its ID. */
export function danglingRecord(base: Omit<ImageRecord, 'reference' | 'registry' | 'repository'>): ImageRecord {
  return { ...base, reference: base.configDigest, registry: '', repository: '' };
}
