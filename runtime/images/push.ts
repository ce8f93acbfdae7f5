/**
 * push: an image of the node's store to a v2 registry (Wharf or any other) through
 * oci/client, in the order the distribution spec needs (moby distribution/push_v2.go):
 * every layer, then the config, each only when the registry lacks it (HEAD), mounted from
 * the repository the image came from when that is on the same registry (a cross-repository
 * mount moves no bytes), linked when the registry is co-located (colocated.ts), else
 * uploaded; then the manifest under the tag. Up to 3 layers at a time, as pulls.
 */
import { createReadStream } from 'node:fs';
import { Transform } from 'node:stream';
import { RegistryClient, type Credentials } from '../../oci/client.js';
import type { Digest } from '../../oci/names.js';
import { formatReference, type ImageReference } from '../../oci/reference.js';
import { linkIntoRegistry } from './colocated.js';
import { ImageNotFoundError, type ImageRecord, type ImageStore } from './store.js';

export type PushPhase = 'preparing' | 'exists' | 'mounted' | 'linked' | 'pushing' | 'pushed';

export interface PushProgress {
  /** the layer's diffID (docker shows these while pushing) */
  layer: Digest;
  phase: PushPhase;
  current: number;
  size: number;
  /** the repository it was mounted from */
  from?: string;
}

export interface PushOptions {
  credentials?: Credentials;
  scheme?: 'http' | 'https';
  onProgress?: (p: PushProgress) => void;
  concurrency?: number;
}

export interface PushResult {
  reference: string;
  repository: string;
  tag: string;
  digest: Digest;
  /** bytes of the manifest */
  size: number;
}

/**
 * For each blob, the repositories of the target registry it is known to be in: those the
 * node pulled an image holding it from (records not made by a local tag), and the origin
 * of a tagged image. A cross-repository mount from one of them moves no bytes.
 */
async function mountSources(store: ImageStore, rec: ImageRecord, target: ImageReference): Promise<Map<string, string[]>> {
  const sources = new Map<string, Set<string>>();
  const add = (digest: string, repo: string) => {
    if (repo === target.repository) return;
    sources.set(digest, (sources.get(digest) ?? new Set()).add(repo));
  };
  const wanted = new Set([rec.configDigest, ...rec.layers.map((l) => l.digest)]);
  for (const r of await store.list()) {
    const from = !r.taggedAt && r.repository ? { registry: r.registry, repository: r.repository } : r.origin;
    if (!from || from.registry !== target.registry) continue;
    for (const d of [r.configDigest, ...r.layers.map((l) => l.digest)]) if (wanted.has(d)) add(d, from.repository);
  }
  return new Map([...sources].map(([d, repos]) => [d, [...repos]]));
}

export async function pushImage(store: ImageStore, name: string, opts: PushOptions = {}): Promise<PushResult> {
  const rec = await store.get(name);
  if (!rec) throw new ImageNotFoundError(`An image does not exist locally with the tag: ${name}`);
  const ref = store.parse(name);
  const tag = ref.tag ?? (ref.digest ? undefined : 'latest');
  const repo = ref.repository;
  const clientOpts: ConstructorParameters<typeof RegistryClient>[0] = { registry: ref.registry };
  if (opts.credentials) clientOpts.credentials = opts.credentials;
  if (opts.scheme) clientOpts.scheme = opts.scheme;
  const client = new RegistryClient(clientOpts);
  const shared = store.opts.colocation?.for(ref.registry);
  const sources = await mountSources(store, rec, ref);
  try {
    const manifestBytes = await store.readBlobIfPresent(rec.digest);
    if (!manifestBytes) throw new ImageNotFoundError(`the manifest ${rec.digest} of ${name} is missing from the node's content store`);
    const configSize = (await store.readBlobIfPresent(rec.configDigest))?.length;
    if (configSize === undefined) throw new ImageNotFoundError(`the config ${rec.configDigest} of ${name} is missing from the node's content store`);

    const report = (p: PushProgress) => opts.onProgress?.(p);
    const pushBlob = async (digest: Digest, size: number, progressId?: Digest): Promise<void> => {
      const say = (phase: PushPhase, current = 0, from?: string) => progressId && report({ layer: progressId, phase, current, size, ...(from ? { from } : {}) });
      if ((await client.blobExists(repo, digest)) !== undefined) return void say('exists', size);
      for (const from of sources.get(digest) ?? []) {
        if (await client.mountBlob(repo, digest, from)) return void say('mounted', size, from);
      }
      if (shared && (await linkIntoRegistry(shared, digest, store.layout.blobPath(digest)))) {
        // The registry itself makes it visible in the repository (it holds the metadata).
        if (await client.mountBlob(repo, digest, undefined)) return void say('linked', size);
      }
      let current = 0;
      const counted = createReadStream(store.layout.blobPath(digest), { highWaterMark: 1 << 20 }).pipe(
        new Transform({
          transform(chunk: Buffer, _enc, done) {
            current += chunk.length;
            say('pushing', current);
            done(null, chunk);
          },
        }),
      );
      say('pushing', 0);
      await client.uploadBlob(repo, digest, size, counted);
      say('pushed', size);
    };

    for (const l of rec.layers) report({ layer: l.diffId, phase: 'preparing', current: 0, size: l.size });
    const queue = [...rec.layers];
    const workers = Array.from({ length: Math.min(opts.concurrency ?? 3, queue.length) }, async () => {
      for (let l = queue.shift(); l; l = queue.shift()) await pushBlob(l.digest, l.size, l.diffId);
    });
    await Promise.all(workers);
    await pushBlob(rec.configDigest, configSize);
    const digest = (await client.putManifest(repo, tag ?? rec.digest, manifestBytes, rec.mediaType)) ?? rec.digest;
    // The image now has a digest in this repository (docker shows it in RepoDigests).
    if (rec.taggedAt && store.isExactReference(name, rec)) {
      const { taggedAt: _t, ...known } = rec;
      await store.writeRecord(known);
    }
    return { reference: formatReference(ref), repository: `${ref.registry}/${repo}`, tag: tag ?? '', digest, size: manifestBytes.length };
  } finally {
    await client.close();
  }
}
