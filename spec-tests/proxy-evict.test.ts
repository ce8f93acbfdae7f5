/**
 * Eviction under proxy.maxBytes: the cache stays under its budget, least recently used
 * images go first, and a blob a hosted image references is never dropped (nor counted
 * against the budget). Upstream: Debian's registry:2.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, it } from 'node:test';
import { buildImage, MEDIA, pushImage, sha256, type BuiltImage, type BuiltLayer } from './support/images.js';
import { startCachingWharf } from './support/proxy.js';
import { startReferenceRegistry, type TestRegistry } from './support/registry.js';
import type { TestWharf } from './support/wharf.js';

const MiB = 1 << 20;
const BUDGET = 2.5 * MiB;
let upstream: TestRegistry;
let wharf: TestWharf;
const images: BuiltImage[] = [];
let hosted: BuiltImage;

const layerOf = (bytes: Buffer): BuiltLayer => ({ blob: bytes, digest: sha256(bytes), diffId: sha256(bytes), mediaType: MEDIA.ociLayer }) as BuiltLayer;
const fileOf = (digest: string) => join(wharf.root, 'blobs', 'sha256', digest.slice(7, 9), digest.slice(7));
const digestsOf = (img: BuiltImage) => [img.manifestDigest, img.configDigest, ...img.layers.map((l) => l.digest)];

before(async () => {
  upstream = await startReferenceRegistry();
  const shared = layerOf(randomBytes(300_000));
  for (let i = 1; i <= 5; i++) {
    const img = buildImage([shared, layerOf(randomBytes(MiB))], { Env: [`IMAGE=${i}`] });
    images.push(img);
    await pushImage(upstream.url, `lib/img${i}`, '1', img);
  }
  wharf = await startCachingWharf([{ name: 'up.example', url: upstream.url }], { maxBytes: String(BUDGET) });
  // A hosted image sharing img1's big layer: that layer is the hosted image's too.
  hosted = buildImage([images[0]!.layers[1]!], { Env: ['HOSTED=1'] });
  await pushImage(wharf.url, 'mine/app', '1', hosted);
});
after(async () => {
  await wharf?.destroy();
  await upstream?.close();
});

async function pull(i: number): Promise<void> {
  const base = `${wharf.url}/v2/up.example/lib/img${i}`;
  const m = await fetch(`${base}/manifests/1`, { headers: { accept: MEDIA.ociManifest } });
  assert.equal(m.status, 200);
  assert.equal(sha256(Buffer.from(await m.arrayBuffer())), images[i - 1]!.manifestDigest);
  for (const d of digestsOf(images[i - 1]!).slice(1)) {
    const b = await fetch(`${base}/blobs/${d}`);
    assert.equal(sha256(Buffer.from(await b.arrayBuffer())), d);
  }
  // Clients have every byte once it verified; the fills commit (and ask for eviction) after that.
  await wharf.cache!.settled();
  await new Promise((r) => setTimeout(r, 15));
}

/** Bytes on disk that only cached images hold (measured on the files, not the evictor's books). */
function cachedBytesOnDisk(): number {
  const hostedDigests = new Set(digestsOf(hosted));
  const seen = new Set<string>();
  let total = 0;
  for (const img of images) {
    for (const d of digestsOf(img)) {
      if (seen.has(d) || hostedDigests.has(d)) continue;
      seen.add(d);
      if (existsSync(fileOf(d))) total += statSync(fileOf(d)).size;
    }
  }
  return total;
}

const cached = (i: number) => existsSync(fileOf(images[i - 1]!.manifestDigest)) && existsSync(fileOf(images[i - 1]!.layers[1]!.digest));

it('keeps the store under its budget, least recently used first, never a hosted image\'s blob', async () => {
  for (const i of [1, 2, 3]) {
    await pull(i);
    assert.ok(cachedBytesOnDisk() <= BUDGET, `after img${i}: ${cachedBytesOnDisk()} > ${BUDGET}`);
  }
  // img1's big layer is hosted, so three images fit; img2 is used again, img3 is not.
  assert.ok(cached(1) && cached(2) && cached(3));
  await pull(2);
  await pull(4);
  assert.ok(cachedBytesOnDisk() <= BUDGET, `after img4: ${cachedBytesOnDisk()}`);
  assert.ok(cached(2) && cached(4), 'the recently used img2 and the new img4 stay');
  assert.equal(existsSync(fileOf(images[2]!.layers[1]!.digest)), false, 'img3, least recently used, was evicted');
  assert.equal(existsSync(fileOf(images[0]!.manifestDigest)), false, 'img1 was evicted first');
  await pull(5);
  assert.ok(cachedBytesOnDisk() <= BUDGET, `after img5: ${cachedBytesOnDisk()}`);
  assert.ok(cached(4) && cached(5));
  // The blob img1 shared with the hosted image is still there, and the hosted image pulls whole.
  assert.ok(existsSync(fileOf(images[0]!.layers[1]!.digest)));
  for (const d of digestsOf(hosted).slice(1)) {
    const b = await fetch(`${wharf.url}/v2/mine/app/blobs/${d}`);
    assert.equal(sha256(Buffer.from(await b.arrayBuffer())), d);
  }
  // The layer every cached image shares stays while any of them does.
  assert.ok(existsSync(fileOf(images[0]!.layers[0]!.digest)));
  // An evicted image comes back from the upstream when asked for.
  await pull(1);
  assert.ok(cachedBytesOnDisk() <= BUDGET);
});
