/**
 * Garbage collection as a service of the running registry: on a schedule (gc.interval),
 * and on demand through the admin endpoint that `wharf gc` calls. A collection also
 * purges abandoned uploads. Reports go to the log and to /metrics.
 */
import type { GcConfig } from '../config/config.js';
import type { GcReport } from '../storage/gc.js';
import type { Registry } from '../storage/registry.js';
import type { Logger } from './http/logging.js';

export interface GcRun extends GcReport {
  /** abandoned upload sessions removed (not in a dry run): the registry's idle-upload expiry, run now */
  uploadsPurged: number;
}

export class GcService {
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly registry: Registry,
    private readonly config: GcConfig,
    private readonly logger: Logger,
    private readonly onRun: (run: GcRun) => void = () => undefined,
  ) {}

  async run(dryRun = false): Promise<GcRun> {
    const report = await this.registry.gc.collect({
      uploadLease: this.config.uploadLease,
      untaggedAfter: this.config.untaggedAfter,
      retention: this.config.retention,
      dryRun,
    });
    const uploadsPurged = dryRun ? 0 : await this.registry.expireIdleUploads(Date.now());
    const run = { ...report, uploadsPurged };
    this.onRun(run);
    this.logger.info(
      { dryRun, bytesFreed: run.bytesFreed, blobs: run.blobs.length, manifests: run.manifests.length, tags: run.tags.length, uploadsPurged, durationMs: run.durationMs },
      dryRun ? 'gc dry run' : 'gc collected',
    );
    return run;
  }

  /** Collect every gc.interval (0: never on a schedule). */
  start(): void {
    if (this.config.interval <= 0) return;
    this.timer = setInterval(() => {
      this.run().catch((err: unknown) => this.logger.error({ err }, 'scheduled gc failed'));
    }, this.config.interval);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }
}
