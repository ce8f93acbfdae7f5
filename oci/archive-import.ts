/**
 * Import an image archive into a registry: scan and verify the whole archive first
 * (pass 1, nothing stored), then stream its blobs to the target (pass 2), then store
 * child manifests by digest and, last, each image's manifest under its tags. A bad
 * archive therefore fails before the target sees a single byte.
 *
 * The target is an interface so that the same pipeline feeds the registry service in
 * process (the upload form) and a registry over HTTP (`wharf import`).
 */
import { Transform, type Readable } from 'node:stream';
import { DEFAULT_LIMITS, scanArchive, streamEntries, type ArchiveLimits } from './archive-read.js';
import { ArchiveError } from './archive-read.js';
import { planImport, type ImportPlan } from './archive-plan.js';

export interface ImportTarget {
  /** Already there (then it is not sent again)? */
  hasBlob(digest: string, size: number): Promise<boolean>;
  /** Store a blob; the stream holds exactly `size` bytes, which the target verifies against `digest`. */
  putBlob(digest: string, size: number, stream: Readable): Promise<void>;
  /** Store a manifest under a tag or its digest. */
  putManifest(reference: string, bytes: Buffer, mediaType: string): Promise<void>;
}

export interface ImportOptions {
  /** the tag to give the image; only for an archive of one image */
  tag?: string;
  limits?: ArchiveLimits;
  /** called when verifying is done and storing begins */
  onPlan?: (plan: ImportPlan) => void;
  /** bytes of a blob stored */
  onBlobBytes?: (n: number) => void;
}

export interface ImportedImage {
  digest: string;
  mediaType: string;
  /** empty: stored by digest only */
  tags: string[];
  platforms: string[];
}

export async function importArchive(open: () => Readable, target: ImportTarget, options: ImportOptions = {}): Promise<ImportedImage[]> {
  const limits = options.limits ?? DEFAULT_LIMITS;
  const plan = planImport(await scanArchive(open(), limits));
  if (options.tag !== undefined && plan.images.length > 1) {
    throw new ArchiveError(`the archive holds ${plan.images.length} images; leave out :TAG to give each its own tag from the archive`);
  }
  const tagsOf = (archiveTags: string[]): string[] => {
    if (options.tag !== undefined) return [options.tag];
    if (archiveTags.length > 0) return archiveTags;
    return plan.images.length === 1 ? ['latest'] : [];
  };
  options.onPlan?.(plan);

  const missing = new Map<string, { digest: string; size: number }>();
  for (const blob of plan.blobs.values()) {
    if (!(await target.hasBlob(blob.digest, blob.size))) missing.set(blob.entry, blob);
  }
  const stored = new Set<string>();
  if (missing.size > 0) {
    await streamEntries(
      open(),
      new Set(missing.keys()),
      async (name, stream) => {
        const blob = missing.get(name)!;
        if (stored.has(blob.digest)) return;
        const counted = options.onBlobBytes ? stream.pipe(counter(options.onBlobBytes)) : stream;
        await target.putBlob(blob.digest, blob.size, counted);
        stored.add(blob.digest);
      },
      limits,
    );
  }
  for (const blob of missing.values()) {
    if (!stored.has(blob.digest)) throw new ArchiveError(`blob ${blob.digest} vanished from the archive between reading and storing`);
  }

  const imported: ImportedImage[] = [];
  for (const image of plan.images) {
    for (const child of image.children) await target.putManifest(child.digest, child.bytes, child.mediaType);
    const tags = tagsOf(image.tags);
    if (tags.length === 0) await target.putManifest(image.manifest.digest, image.manifest.bytes, image.manifest.mediaType);
    for (const tag of tags) await target.putManifest(tag, image.manifest.bytes, image.manifest.mediaType);
    imported.push({ digest: image.manifest.digest, mediaType: image.manifest.mediaType, tags, platforms: image.platforms });
  }
  return imported;
}

function counter(onBytes: (n: number) => void): Transform {
  return new Transform({
    transform(chunk: Buffer, _encoding, done) {
      onBytes(chunk.length);
      done(null, chunk);
    },
  });
}
