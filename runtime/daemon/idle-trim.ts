/**
 * The daemon's footprint while nothing asks it anything. V8 gives some of its pages back
 * once the isolate has been quiet a while (its memory reducer, ~12 s here); glibc keeps the
 * heap pages a burst of requests freed until someone calls malloc_trim(3). This trims both
 * (runtime/native trimHeap: V8's LowMemoryNotification, which compacts and releases, then
 * malloc_trim), once per quiet spell: between one and two ticks after the last request (a
 * tick is 5 s), so a daemon that serves a request now and then never trims in its work.
 * Measured (bench/daemon-start, 20 containers running, 30 s idle): malloc_trim alone
 * ~0.7 MiB of RSS; with LowMemoryNotification 57.8/57.1 MiB against 58.5/58.4 without it.
 */
export class IdleHeapTrim {
  private busy = true;
  private trimmed = false;
  private readonly timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly trim: () => void,
    tickMs: number | undefined = 5_000,
  ) {
    if (tickMs !== undefined) {
      this.timer = setInterval(() => this.tick(), tickMs);
      this.timer.unref();
    }
  }

  /** A request came in. */
  touch(): void {
    this.busy = true;
    this.trimmed = false;
  }

  /** One tick of the clock: trims when a whole tick went by without a request, once. */
  tick(): void {
    if (this.busy) {
      this.busy = false;
      return;
    }
    if (this.trimmed) return;
    this.trimmed = true;
    this.trim();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }
}
