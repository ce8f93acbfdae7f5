/** The one renderer of errors: `{"errors":[...]}` with the catalog's status. Never a crash. */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { NextFunction, Request, Response } from 'express';
import type { Logger } from './logging.js';
import { RegistryError, toRegistryError } from './errors.js';

export function renderError(logger: Logger, err: unknown, req: IncomingMessage, res: ServerResponse): void {
  let e = toRegistryError(err);
  // A client that went away mid-body: nothing to answer, and nothing wrong on our side.
  if (!e && !req.complete && (req.destroyed || (err as NodeJS.ErrnoException).code === 'ECONNRESET')) {
    logger.info({ method: req.method, url: (req as { originalUrl?: string }).originalUrl ?? req.url }, 'client closed the request');
    res.destroy();
    return;
  }
  if (!e) {
    const status = (err as { status?: number; statusCode?: number }).status ?? (err as { statusCode?: number }).statusCode;
    if (status !== undefined && status >= 400 && status < 500) {
      // A malformed request that the HTTP layer itself rejected (bad URI encoding, ...).
      e = new RegistryError('UNSUPPORTED', (err as Error).message, undefined, status);
    } else {
      logger.error({ err, method: req.method, url: (req as { originalUrl?: string }).originalUrl ?? req.url }, 'internal error');
      e = new RegistryError('UNKNOWN');
    }
  }
  if (res.headersSent) {
    res.destroy();
    return;
  }
  // A body we did not read to its end: close rather than drain a stranger's upload.
  if (!req.complete) res.setHeader('Connection', 'close');
  for (const [k, v] of Object.entries(e.headers ?? {})) res.setHeader(k, v);
  const body = req.method === 'HEAD' ? undefined : JSON.stringify(e.toJSON());
  res.statusCode = e.status;
  res.setHeader('Content-Type', 'application/json; charset=utf-8');
  if (body !== undefined) res.setHeader('Content-Length', Buffer.byteLength(body));
  res.end(body);
}

/** The same renderer as express's error middleware (the routes outside /v2). */
export function errorHandler(logger: Logger) {
  return function renderExpressError(err: unknown, req: Request, res: Response, _next: NextFunction): void {
    renderError(logger, err, req, res);
  };
}
