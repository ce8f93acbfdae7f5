/**
 * A bounded in-memory cache of manifest bytes by digest. Manifests are content
 * addressed and immutable, so an entry is never stale; only its cost is bounded, and
 * the budget counts what an entry really costs, not only its bytes: a 1 KiB manifest
 * also holds a Map slot, its digest string and a Buffer with its backing store
 * (measured: ~0.5 KiB per entry). Small buffers are copied out of Node's shared 8 KiB
 * allocation pool, or one cached manifest would keep a whole pool slab alive.
 * Least recently used entries go first (a Map keeps insertion order).
 */
import type { Digest } from '../oci/names.js';

/** Bytes an entry costs beyond its body: Map slot, key string, Buffer objects, malloc headers. */
export const ENTRY_OVERHEAD_BYTES = 512;

function cost(bytes: Buffer): number {
  return bytes.length + ENTRY_OVERHEAD_BYTES;
}

export class ManifestCache {
  private readonly entries = new Map<Digest, Buffer>();
  private used = 0;

  constructor(private readonly maxBytes: number) {}

  /** Memory the entries cost, as counted against the budget. */
  get usedBytes(): number {
    return this.used;
  }

  get size(): number {
    return this.entries.size;
  }

  get(digest: Digest): Buffer | undefined {
    const hit = this.entries.get(digest);
    if (hit) {
      this.entries.delete(digest);
      this.entries.set(digest, hit);
    }
    return hit;
  }

  set(digest: Digest, bytes: Buffer): void {
    if (cost(bytes) > this.maxBytes || this.entries.has(digest)) return;
    let own = bytes;
    if (bytes.byteOffset !== 0 || bytes.buffer.byteLength !== bytes.length) {
      own = Buffer.allocUnsafeSlow(bytes.length);
      bytes.copy(own);
    }
    this.entries.set(digest, own);
    this.used += cost(own);
    for (const [oldest, buf] of this.entries) {
      if (this.used <= this.maxBytes) break;
      this.entries.delete(oldest);
      this.used -= cost(buf);
    }
  }

  delete(digest: Digest): void {
    const buf = this.entries.get(digest);
    if (buf) {
      this.entries.delete(digest);
      this.used -= cost(buf);
    }
  }
}
