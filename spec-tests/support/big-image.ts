/**
 * A big image for the co-located tests and bench: one uncompressed layer holding a file of
 * `mib` MiB of random bytes (`/big`), written to disk as it is hashed (never in memory),
 * streamed to a registry with one monolithic upload, then its config and manifest. A
 * second, small layer can carry static busybox so that the image runs.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { Readable } from 'node:stream';
import * as tar from 'tar-stream';
import { pushBlob, pushManifest, sha256, MEDIA, type BuiltLayer } from './images.js';

export interface BigLayer {
  path: string;
  digest: string;
  size: number;
}

/** A tar with one file `big` of `mib` MiB of random bytes, at `path`. */
export async function writeBigLayer(path: string, mib: number): Promise<BigLayer> {
  const pack = tar.pack();
  const hash = createHash('sha256');
  const out = createWriteStream(path);
  let size = 0;
  const written = new Promise<void>((resolve, reject) => {
    pack.on('data', (c: unknown) => {
      const b = c as Buffer;
      hash.update(b);
      size += b.length;
      if (!out.write(b)) {
        pack.pause();
        out.once('drain', () => pack.resume());
      }
    });
    pack.on('end', () => out.end(() => resolve()));
    pack.on('error', reject);
    out.on('error', reject);
  });
  const entry = pack.entry({ name: 'big', size: mib << 20, mode: 0o644, mtime: new Date(0) });
  // 1 MiB of random bytes, then each further MiB that chunk with its index in front: unique
  // to the run and incompressible enough, without paying for 1 GiB of randomness.
  const chunk = randomBytes(1 << 20);
  for (let i = 0; i < mib; i++) {
    chunk.writeUInt32BE(i, 0);
    if (!entry.write(Buffer.from(chunk))) await new Promise<void>((r) => entry.once('drain', () => r()));
  }
  await new Promise<void>((resolve) => entry.end(() => resolve()));
  pack.finalize();
  await written;
  return { path, digest: `sha256:${hash.digest('hex')}`, size };
}

/** Monolithic upload of a file: POST, then one PUT ?digest= streaming it. */
export async function pushBlobFile(registryUrl: string, repo: string, file: string, digest: string): Promise<void> {
  const post = await fetch(`${registryUrl}/v2/${repo}/blobs/uploads/`, { method: 'POST' });
  if (post.status !== 202) throw new Error(`POST upload: HTTP ${post.status}`);
  const location = new URL(post.headers.get('location') ?? '', registryUrl);
  location.searchParams.set('digest', digest);
  const size = (await stat(file)).size;
  const put = await fetch(location, {
    method: 'PUT',
    headers: { 'content-type': 'application/octet-stream', 'content-length': String(size) },
    body: Readable.toWeb(createReadStream(file, { highWaterMark: 4 << 20 })) as unknown as ReadableStream,
    duplex: 'half',
  } as RequestInit & { duplex: 'half' });
  if (put.status !== 201) throw new Error(`PUT blob: HTTP ${put.status} ${await put.text()}`);
}

/**
 * Push an image of `big` (bottom) and `small` layers under repo:tag; its manifest digest.
 * `placeBig`, when given, puts the big blob into the registry some other way (a test that
 * is not about uploads spares the machine a 1 GiB upload); else it is uploaded.
 */
export async function pushBigImage(
  registryUrl: string,
  repo: string,
  tag: string,
  big: BigLayer,
  small: BuiltLayer[],
  cmd: string[],
  placeBig?: () => Promise<void>,
): Promise<string> {
  if (placeBig) await placeBig();
  else await pushBlobFile(registryUrl, repo, big.path, big.digest);
  for (const l of small) await pushBlob(registryUrl, repo, l.blob, l.digest);
  const config = Buffer.from(
    JSON.stringify({
      architecture: 'amd64',
      os: 'linux',
      created: '2024-01-01T00:00:00Z',
      config: { Cmd: cmd },
      rootfs: { type: 'layers', diff_ids: [big.digest, ...small.map((l) => l.diffId)] },
    }),
  );
  await pushBlob(registryUrl, repo, config);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MEDIA.ociManifest,
      config: { mediaType: MEDIA.ociConfig, digest: sha256(config), size: config.length },
      layers: [{ mediaType: MEDIA.ociLayer, digest: big.digest, size: big.size }, ...small.map((l) => ({ mediaType: l.mediaType, digest: l.digest, size: l.blob.length }))],
    }),
  );
  await pushManifest(registryUrl, repo, tag, manifest, MEDIA.ociManifest);
  return sha256(manifest);
}

/** The registry's own count of what it served: blob GETs and the bytes sent and received. */
export async function registryTraffic(registryUrl: string): Promise<{ blobGets: number; sentBytes: number; receivedBytes: number }> {
  const text = await (await fetch(`${registryUrl}/metrics`)).text();
  let blobGets = 0;
  let sentBytes = 0;
  let receivedBytes = 0;
  for (const line of text.split('\n')) {
    const value = Number(line.split(' ').pop());
    if (/^wharf_http_requests_total\{.*route="blob".*method="GET"/.test(line)) blobGets += value;
    if (line.startsWith('wharf_http_sent_bytes_total')) sentBytes += value;
    if (line.startsWith('wharf_http_received_bytes_total')) receivedBytes += value;
  }
  return { blobGets, sentBytes, receivedBytes };
}
