/**
 * Writing an image as an archive that `docker load` reads (manifest.json with Config,
 * RepoTags and Layers) and that is at the same time an OCI image layout (oci-layout,
 * index.json, blobs/sha256/...), as Docker 25's `docker save` does. Every blob is
 * written once under its digest; layers keep their compression (docker load
 * decompresses). Streams only: the caller supplies the blobs and the output.
 */
import { pipeline } from 'node:stream/promises';
import type { Readable, Writable } from 'node:stream';
import * as tar from 'tar-stream';

export interface ExportBlob {
  digest: string;
  size: number;
  open(): Promise<Readable>;
}

export interface ExportImage {
  /** e.g. 127.0.0.1:5000/team/app:v1 */
  repoTag: string;
  /** every name of the image, when it has more than one (docker save a:1 a:2 of one image) */
  repoTags?: string[];
  manifest: { digest: string; mediaType: string; bytes: Buffer };
  config: { digest: string; bytes: Buffer };
  layers: ExportBlob[];
}

const EPOCH = new Date(0);

function blobPath(digest: string): string {
  const [algorithm, hex] = digest.split(':');
  return `blobs/${algorithm}/${hex}`;
}

export interface ArchiveWriteOptions {
  /** an OCI image layout only: no manifest.json (`wharf save --format oci`) */
  ociOnly?: boolean;
}

/** One image or several (docker save a b): each blob once, one manifest.json entry and one index.json entry per image and name. */
export async function writeDockerArchive(images: ExportImage | ExportImage[], out: Writable, onBytes?: (n: number) => void, options: ArchiveWriteOptions = {}): Promise<void> {
  const list = Array.isArray(images) ? images : [images];
  const pack = tar.pack();
  const written = pipeline(pack, out);
  written.catch(() => undefined); // awaited below; a failure before then is rethrown there
  const add = (name: string, bytes: Buffer) =>
    new Promise<void>((resolve, reject) => pack.entry({ name, size: bytes.length, mode: 0o644, mtime: EPOCH }, bytes, (err) => (err ? reject(err) : resolve())));
  const dirs = (name: string) => pack.entry({ name, type: 'directory', mode: 0o755, mtime: EPOCH });
  try {
    dirs('blobs/');
    dirs('blobs/sha256/');
    await add('oci-layout', Buffer.from(JSON.stringify({ imageLayoutVersion: '1.0.0' })));
    const seen = new Set<string>();
    for (const layer of list.flatMap((i) => i.layers)) {
      if (seen.has(layer.digest)) continue;
      seen.add(layer.digest);
      const source = await layer.open();
      await new Promise<void>((resolve, reject) => {
        const entry = pack.entry({ name: blobPath(layer.digest), size: layer.size, mode: 0o644, mtime: EPOCH }, (err) => (err ? reject(err) : resolve()));
        source.on('data', (c: Buffer) => onBytes?.(c.length));
        source.on('error', (err) => {
          entry.destroy(err);
          reject(err);
        });
        source.pipe(entry);
      });
    }
    for (const image of list) {
      for (const blob of [image.config, image.manifest]) {
        if (seen.has(blob.digest)) continue;
        seen.add(blob.digest);
        await add(blobPath(blob.digest), blob.bytes);
      }
    }
    const namesOf = (image: ExportImage) => image.repoTags ?? (image.repoTag ? [image.repoTag] : []);
    const refName = (repoTag: string) => repoTag.slice(repoTag.lastIndexOf(':') + 1);
    await add(
      'index.json',
      Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: 'application/vnd.oci.image.index.v1+json',
          manifests: list.flatMap((image) => {
            const descriptor = { mediaType: image.manifest.mediaType, digest: image.manifest.digest, size: image.manifest.bytes.length };
            const names = namesOf(image);
            if (names.length === 0) return [descriptor];
            return names.map((n) => ({ ...descriptor, annotations: { 'io.containerd.image.name': n, 'org.opencontainers.image.ref.name': refName(n) } }));
          }),
        }),
      ),
    );
    if (!options.ociOnly) {
      await add(
        'manifest.json',
        Buffer.from(JSON.stringify(list.map((image) => ({ Config: blobPath(image.config.digest), RepoTags: namesOf(image), Layers: image.layers.map((l) => blobPath(l.digest)) })))),
      );
    }
    pack.finalize();
  } catch (err) {
    pack.destroy(err as Error);
    throw err;
  }
  await written;
}
