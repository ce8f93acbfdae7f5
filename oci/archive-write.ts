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
  manifest: { digest: string; mediaType: string; bytes: Buffer };
  config: { digest: string; bytes: Buffer };
  layers: ExportBlob[];
}

const EPOCH = new Date(0);

function blobPath(digest: string): string {
  const [algorithm, hex] = digest.split(':');
  return `blobs/${algorithm}/${hex}`;
}

export async function writeDockerArchive(image: ExportImage, out: Writable, onBytes?: (n: number) => void): Promise<void> {
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
    for (const layer of image.layers) {
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
    await add(blobPath(image.config.digest), image.config.bytes);
    await add(blobPath(image.manifest.digest), image.manifest.bytes);
    await add(
      'index.json',
      Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: 'application/vnd.oci.image.index.v1+json',
          manifests: [
            {
              mediaType: image.manifest.mediaType,
              digest: image.manifest.digest,
              size: image.manifest.bytes.length,
              annotations: { 'io.containerd.image.name': image.repoTag, 'org.opencontainers.image.ref.name': image.repoTag.slice(image.repoTag.lastIndexOf(':') + 1) },
            },
          ],
        }),
      ),
    );
    await add(
      'manifest.json',
      Buffer.from(JSON.stringify([{ Config: blobPath(image.config.digest), RepoTags: [image.repoTag], Layers: image.layers.map((l) => blobPath(l.digest)) }])),
    );
    pack.finalize();
  } catch (err) {
    pack.destroy(err as Error);
    throw err;
  }
  await written;
}
