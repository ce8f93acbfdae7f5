/** An OCI image layout on disk (image-spec "image-layout"), as skopeo's `oci:` transport reads and writes it. */
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { BuiltIndex } from './images.js';

function hexOf(digest: string): string {
  return digest.slice('sha256:'.length);
}

/** Write every blob of the index (layers, configs, manifests, the index) and an index.json naming it `tag`. */
export async function writeOciLayout(dir: string, index: BuiltIndex, tag: string): Promise<void> {
  const blobs = join(dir, 'blobs', 'sha256');
  await mkdir(blobs, { recursive: true });
  const put = (digest: string, bytes: Buffer) => writeFile(join(blobs, hexOf(digest)), bytes);
  for (const image of index.images) {
    for (const layer of image.layers) await put(layer.digest, layer.blob);
    await put(image.configDigest, image.config);
    await put(image.manifestDigest, image.manifest);
  }
  await put(index.digest, index.bytes);
  await writeFile(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  await writeFile(
    join(dir, 'index.json'),
    JSON.stringify({
      schemaVersion: 2,
      mediaType: index.mediaType,
      manifests: [
        { mediaType: index.mediaType, digest: index.digest, size: index.bytes.length, annotations: { 'org.opencontainers.image.ref.name': tag } },
      ],
    }),
  );
}

/** digest -> bytes of every blob in a layout. */
export async function readLayoutBlobs(dir: string): Promise<Map<string, Buffer>> {
  const blobs = join(dir, 'blobs', 'sha256');
  const out = new Map<string, Buffer>();
  for (const name of await readdir(blobs)) out.set(`sha256:${name}`, await readFile(join(blobs, name)));
  return out;
}

/** The digest index.json gives for `tag`. */
export async function layoutDigestOf(dir: string, tag: string): Promise<string | undefined> {
  const index = JSON.parse(await readFile(join(dir, 'index.json'), 'utf8')) as {
    manifests: { digest: string; annotations?: Record<string, string> }[];
  };
  return index.manifests.find((m) => m.annotations?.['org.opencontainers.image.ref.name'] === tag)?.digest;
}
