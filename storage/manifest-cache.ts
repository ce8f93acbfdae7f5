/**
 * A bounded in-memory cache of manifest bytes by digest. Manifests are content
 * addressed and immutable, so an entry is never stale; only its size is bounded.
 * Least recently used entries go first (a Map keeps insertion order).
 */
import type { Digest } from '../oci/names.js';

export class ManifestCache {
  private readonly entries = new Map<Digest, Buffer>();
  private bytes = 0;

  constructor(private readonly maxBytes: number) {}

  get(digest: Digest): Buffer | undefined {
    const hit = this.entries.get(digest);
    if (hit) {
      this.entries.delete(digest);
      this.entries.set(digest, hit);
    }
    return hit;
  }

  set(digest: Digest, bytes: Buffer): void {
    if (bytes.length > this.maxBytes || this.entries.has(digest)) return;
    this.entries.set(digest, bytes);
    this.bytes += bytes.length;
    for (const [oldest, buf] of this.entries) {
      if (this.bytes <= this.maxBytes) break;
      this.entries.delete(oldest);
      this.bytes -= buf.length;
    }
  }

  delete(digest: Digest): void {
    const buf = this.entries.get(digest);
    if (buf) {
      this.entries.delete(digest);
      this.bytes -= buf.length;
    }
  }
}
