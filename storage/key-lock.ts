/**
 * In-process serialisation by key. The registry is one process per data directory
 * (LevelDB's lock makes sure of it), so writes that must not interleave (a manifest PUT
 * and a DELETE of the same repository, an upload's expiry and its next request) wait
 * for each other here; nothing else is slowed. Keys with nothing queued cost nothing.
 */
export class KeyLock {
  private readonly tails = new Map<string, Promise<unknown>>();

  async run<T>(key: string, work: () => Promise<T>): Promise<T> {
    const before = this.tails.get(key) ?? Promise.resolve();
    const mine = before.then(work, work);
    const tail = mine.catch(() => undefined);
    this.tails.set(key, tail);
    try {
      return await mine;
    } finally {
      // Last in the queue: the key goes away, so idle keys hold no memory.
      if (this.tails.get(key) === tail) this.tails.delete(key);
    }
  }
}
