/**
 * Image archives built in the test: a `docker save` archive (legacy layout: manifest.json,
 * <config hex>.json, <id>/layer.tar) or an OCI image layout tar, from images made with
 * images.ts, and raw tars of any entries at all (for the malicious cases).
 */
import { gzipSync } from 'node:zlib';
import * as tar from 'tar-stream';
import type { BuiltImage } from './images.js';

export type RawEntry = { name: string; content?: Buffer | string; type?: tar.Header['type']; linkname?: string };

export async function tarOf(entries: RawEntry[]): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  pack.on('data', (c: unknown) => void chunks.push(c as Buffer));
  const ended = new Promise<void>((resolve, reject) => {
    pack.on('end', resolve);
    pack.on('error', reject);
  });
  for (const e of entries) {
    const content = Buffer.from(e.content ?? '');
    const header = { name: e.name, type: e.type ?? 'file', mode: 0o644, mtime: new Date(0) } as tar.Header;
    if (header.type === 'file') header.size = content.length;
    if (e.linkname !== undefined) header.linkname = e.linkname;
    await new Promise<void>((resolve, reject) => pack.entry(header, header.type === 'file' ? content : Buffer.alloc(0), (err) => (err ? reject(err) : resolve())));
  }
  pack.finalize();
  await ended;
  return Buffer.concat(chunks);
}

const hex = (digest: string) => digest.slice(digest.indexOf(':') + 1);

/** The entries of a legacy `docker save` archive of `image` (uncompressed layers, as docker writes them). */
export function dockerArchiveEntries(image: BuiltImage, repoTag: string): RawEntry[] {
  const layerNames = image.layers.map((l) => `${hex(l.diffId)}/layer.tar`);
  return [
    ...image.layers.flatMap((l, i) => [
      { name: `${hex(l.diffId)}/`, type: 'directory' as const },
      { name: layerNames[i]!, content: l.tar },
    ]),
    { name: `${hex(image.configDigest)}.json`, content: image.config },
    { name: 'manifest.json', content: JSON.stringify([{ Config: `${hex(image.configDigest)}.json`, RepoTags: [repoTag], Layers: layerNames }]) },
  ];
}

/** The entries of an OCI image layout holding `image` under `tag`. */
export function ociLayoutEntries(image: BuiltImage, tag: string): RawEntry[] {
  return [
    { name: 'oci-layout', content: JSON.stringify({ imageLayoutVersion: '1.0.0' }) },
    ...image.layers.map((l) => ({ name: `blobs/sha256/${hex(l.digest)}`, content: l.blob })),
    { name: `blobs/sha256/${hex(image.configDigest)}`, content: image.config },
    { name: `blobs/sha256/${hex(image.manifestDigest)}`, content: image.manifest },
    {
      name: 'index.json',
      content: JSON.stringify({
        schemaVersion: 2,
        manifests: [{ mediaType: image.mediaType, digest: image.manifestDigest, size: image.manifest.length, annotations: { 'org.opencontainers.image.ref.name': tag } }],
      }),
    },
  ];
}

export const gzip = (b: Buffer): Buffer => gzipSync(b);
