/**
 * The co-located fast path (DESIGN.md "Runtime node", arrows): a Wharf registry on this
 * machine whose data directory the node was told it shares (`wharf daemon
 * --registry-data HOST:PORT=DIR`). Blobs then move between its blob store and the node's
 * content store as links, not as HTTP bodies: a 1 GiB layer costs a link(2), not a
 * download, a hash and an fsync.
 *
 * Only storage/types.ts is known here: the BlobStore comes from the composition root
 * (bin/wharf.ts opens the filesystem driver over DIR), so the runtime never builds a path
 * under the registry's root nor opens its LevelDB.
 *
 *   pull: the registry still decides, over HTTP, what the caller may read: the manifest is
 *         fetched and each blob HEADed in its repository (no body moves; a blob of another
 *         repository, or one the caller may not pull, is refused there as ever). A blob the
 *         registry has is then linked from its store: the registry verified its digest
 *         before it became visible there, and its size is checked against the manifest.
 *   push: a blob the registry lacks is hashed and linked into its blob store
 *         (BlobStore.linkFile verifies, as every way into the store does), then made
 *         visible in the repository by the registry itself: a mount without `from`
 *         (POST ?mount=<digest>), which the registry grants to callers who may read
 *         everything. The metadata (LevelDB) belongs to the running registry process,
 *         which holds its lock, so the node never writes it: the links, the manifest PUT
 *         and every access decision go through the registry's HTTP API. A caller the
 *         mount is refused to uploads the bytes as usual (the registry then finds the
 *         blob present and keeps one copy).
 *
 * Anything that does not work out (another filesystem without reflinks, a blob missing,
 * a size that differs) falls back to HTTP, silently and correctly.
 */
import { constants as fsc } from 'node:fs';
import { copyFile, link, stat, unlink } from 'node:fs/promises';
import type { BlobStore } from '../../storage/types.js';
import type { Digest } from '../../oci/names.js';

export interface SharedRegistry {
  /** host:port, as image references name the registry */
  host: string;
  blobs: BlobStore;
}

/** What the node knows of co-located registries: by host:port (127.0.0.1:5000 and localhost:5000 alike). */
export class Colocation {
  private readonly byHost = new Map<string, SharedRegistry>();

  constructor(registries: SharedRegistry[] = []) {
    for (const r of registries) this.byHost.set(normalHost(r.host), r);
  }

  get size(): number {
    return this.byHost.size;
  }

  for(registry: string): SharedRegistry | undefined {
    return this.byHost.get(normalHost(registry));
  }
}

function normalHost(host: string): string {
  return host.toLowerCase().replace(/^localhost(?=:|$)/, '127.0.0.1');
}

/**
 * Link the registry's blob into the node's content store at `tmp` (the caller renames it
 * into place): a hard link, else a reflink. False when neither works or the blob is not
 * the size the manifest says; nothing is left at `tmp` then.
 */
export async function linkFromRegistry(shared: SharedRegistry, digest: Digest, size: number, tmp: string): Promise<boolean> {
  const info = await shared.blobs.stat(digest).catch(() => undefined);
  const path = shared.blobs.localPath?.(digest);
  if (!info || info.size !== size || !path) return false;
  try {
    await link(path, tmp);
  } catch {
    try {
      await copyFile(path, tmp, fsc.COPYFILE_FICLONE_FORCE);
    } catch {
      await unlink(tmp).catch(() => undefined);
      return false;
    }
  }
  const st = await stat(tmp).catch(() => undefined);
  if (st?.size !== size) {
    await unlink(tmp).catch(() => undefined);
    return false;
  }
  return true;
}

/** Link a node blob into the registry's blob store (verified there); false when it cannot be linked. */
export async function linkIntoRegistry(shared: SharedRegistry, digest: Digest, path: string): Promise<boolean> {
  if (!shared.blobs.linkFile) return false;
  return (await shared.blobs.linkFile(path, digest)) !== undefined;
}
