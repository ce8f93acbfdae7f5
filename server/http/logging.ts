/**
 * Structured logs with pino. A GET never waits on a log write: lines gather in memory
 * and are written when 4 KiB are waiting or, at the latest, FLUSH_MS after the first of
 * them, so each line reaches stdout promptly even when the server is quiet. Exit paths
 * flush what is left (server/index.ts on close; pino's own handler on a crash).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { pino, type Logger } from 'pino';
import type { LogConfig } from '../../config/config.js';

export type { Logger };

const FLUSH_MS = 100;

export function createLogger(config: LogConfig): Logger {
  const destination = pino.destination({ sync: false, minLength: 4096 });
  const logger = pino({ level: config.level, base: { service: 'wharf' } }, destination);
  // One timer for the process, never keeping it alive; flush() is a no-op when nothing waits.
  setInterval(() => destination.flush(), FLUSH_MS).unref();
  // An uncaught error still leaves its lines behind: write them synchronously on the way out.
  process.once('exit', () => {
    try {
      destination.flushSync();
    } catch {
      /* stdout already gone */
    }
  });
  return logger;
}

/** Log one line per request when its answer is finished (or the client went away). */
export function logRequest(logger: Logger, req: IncomingMessage, res: ServerResponse): void {
  const start = process.hrtime.bigint();
  // Read now: by 'finish' a closed connection has left req.socket null, and a throw there crashes the process.
  const remote = req.socket?.remoteAddress;
  const done = (): void => {
    logger.info(
      {
        method: req.method,
        url: (req as { originalUrl?: string }).originalUrl ?? req.url,
        status: res.statusCode,
        ms: Number(process.hrtime.bigint() - start) / 1e6,
        bytes: Number(res.getHeader('content-length') ?? 0),
        remote,
      },
      'request',
    );
  };
  res.once('finish', done);
}
