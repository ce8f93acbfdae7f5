/**
 * Recently answered pages of tag lists and of the catalog, by query. The metadata store
 * is the only writer of what they list (one process per data dir), so it drops a
 * repository's tag pages when one of its tags changes, and every catalog page when a
 * repository appears: a page served from here is exactly what the range scan would
 * return. The scan itself costs a LevelDB iterator (open, next, close: three trips
 * through the thread pool); it was most of a tag list's cost in the profile.
 * Least recently used pages go first; the bound is a count of pages, each at most one
 * page long (`n` names).
 */
export class ListingCache {
  private readonly pages = new Map<string, readonly string[]>();

  constructor(private readonly maxPages: number) {}

  get(key: string): string[] | undefined {
    const hit = this.pages.get(key);
    if (!hit) return undefined;
    this.pages.delete(key);
    this.pages.set(key, hit);
    return hit.slice();
  }

  set(key: string, names: readonly string[]): void {
    this.pages.set(key, names.slice());
    for (const oldest of this.pages.keys()) {
      if (this.pages.size <= this.maxPages) break;
      this.pages.delete(oldest);
    }
  }

  /** Drop every page whose key starts with `prefix` (a repository's tag pages). */
  dropPrefix(prefix: string): void {
    for (const key of this.pages.keys()) if (key.startsWith(prefix)) this.pages.delete(key);
  }

  clear(): void {
    this.pages.clear();
  }
}
