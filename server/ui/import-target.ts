/** The upload form's import target: the registry service in process, one repository. */
import type { Readable } from 'node:stream';
import type { ImportTarget } from '../../oci/archive-import.js';
import { parseDigest, parseTag, type Digest, type RepositoryName } from '../../oci/names.js';
import type { RegistryService } from '../../storage/types.js';

export class RegistryImportTarget implements ImportTarget {
  constructor(
    private readonly registry: RegistryService,
    private readonly repo: RepositoryName,
  ) {}

  async hasBlob(digest: string): Promise<boolean> {
    try {
      await this.registry.statBlob(this.repo, digest as Digest);
      return true;
    } catch {
      return false;
    }
  }

  async putBlob(digest: string, size: number, stream: Readable): Promise<void> {
    const d = parseDigest(digest);
    if (!d) throw new Error(`not a digest: ${digest}`);
    // The upload verifies the digest and the size again as it stores.
    await this.registry.uploadMonolithic(this.repo, d, { stream, declaredBytes: size });
  }

  async putManifest(reference: string, bytes: Buffer, mediaType: string): Promise<void> {
    const digest = parseDigest(reference);
    const tag = digest ? undefined : parseTag(reference);
    if (!digest && !tag) throw new Error(`not a tag or digest: ${reference}`);
    await this.registry.putManifest(this.repo, digest ? { digest } : { tag: tag! }, bytes, mediaType);
  }
}
