/**
 * The response a cached request will be answered on, so that the cache can add its own
 * headers (a Warning when it serves a stale copy) without the routes passing anything:
 * routes do not know a cache exists. Set only for names in a cached namespace.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import type { Response } from 'express';

const current = new AsyncLocalStorage<Response>();

export function withResponse<T>(res: Response, fn: () => T): T {
  return current.run(res, fn);
}

/** RFC 9111 §5.5: `Warning: 299 - "text"` (299: a persistent miscellaneous warning). */
export function warn(text: string): void {
  const res = current.getStore();
  if (!res || res.headersSent) return;
  const quoted = text.replace(/[\\"]/g, '\\$&').replace(/[\r\n]+/g, ' ').slice(0, 500);
  res.setHeader('Warning', `299 - "${quoted}"`);
}
