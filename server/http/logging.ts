/**
 * Structured logs with pino, written asynchronously so a GET never waits on a log
 * write. The request logger is its own middleware, mounted only when enabled.
 */
import type { NextFunction, Request, Response } from 'express';
import { pino, type Logger } from 'pino';
import type { LogConfig } from '../../config/config.js';

export type { Logger };

export function createLogger(config: LogConfig): Logger {
  return pino({ level: config.level, base: { service: 'wharf' } }, pino.destination({ sync: false, minLength: 4096 }));
}

export function requestLogger(logger: Logger) {
  return function logRequest(req: Request, res: Response, next: NextFunction): void {
    const start = process.hrtime.bigint();
    // Read now: by 'finish' a closed connection has left req.socket null, and a throw there crashes the process.
    const remote = req.socket?.remoteAddress;
    res.once('finish', () => {
      logger.info(
        {
          method: req.method,
          url: req.originalUrl,
          status: res.statusCode,
          ms: Number(process.hrtime.bigint() - start) / 1e6,
          bytes: Number(res.getHeader('content-length') ?? 0),
          remote,
        },
        'request',
      );
    });
    next();
  };
}
