/**
 * The one place that knows every path under the data root.
 *
 *   <root>/
 *   ├── blobs/
 *   │   ├── sha256/<first 2 hex>/<64 hex>     verified, fsynced, immutable blob bytes
 *   │   └── sha512/<first 2 hex>/<128 hex>
 *   ├── uploads/
 *   │   ├── <uuid>                            bytes of an upload session in progress
 *   │   └── put-<uuid>                        a small blob (manifest) being written
 *   ├── imports/<random>                      archives uploaded through the UI while they are imported
 *   └── metadata/                             LevelDB: links, tags, manifests, referrers, sessions
 *
 * A blob appears under blobs/ only by rename(2) from uploads/, so a reader never sees
 * a partial blob, and both directories are on the same filesystem.
 */
import { join } from 'node:path';
import { digestAlgorithm, digestHex, type Digest } from '../oci/names.js';

export class Layout {
  constructor(readonly root: string) {}

  get blobsDir(): string {
    return join(this.root, 'blobs');
  }

  blobDir(digest: Digest): string {
    return join(this.root, 'blobs', digestAlgorithm(digest), digestHex(digest).slice(0, 2));
  }

  blobPath(digest: Digest): string {
    return join(this.blobDir(digest), digestHex(digest));
  }

  get uploadsDir(): string {
    return join(this.root, 'uploads');
  }

  /** `id` must already be validated as a UUID by the caller. */
  uploadPath(id: string): string {
    return join(this.root, 'uploads', id);
  }

  tempPutPath(id: string): string {
    return join(this.root, 'uploads', `put-${id}`);
  }

  /** Archives uploaded to /ui/import wait here; emptied at start. */
  get importsDir(): string {
    return join(this.root, 'imports');
  }

  get metadataDir(): string {
    return join(this.root, 'metadata');
  }
}
