/**
 * Conditional GET (RFC 9110 §13.1.2): a client that already holds the representation
 * named by our ETag sends it back in If-None-Match and gets 304 without a body. Our
 * ETags are digests, so a match means the bytes are the same.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';

/** True when the answer is 304 (sent here); the caller has set ETag and the other headers first. */
export function notModified(req: IncomingMessage, res: ServerResponse, digest: string): boolean {
  const header = req.headers['if-none-match'];
  if (header === undefined) return false;
  const tags = header.split(',').map((t) => t.trim().replace(/^W\//, ''));
  if (!tags.some((t) => t === '*' || t === `"${digest}"` || t === digest)) return false;
  res.statusCode = 304;
  res.removeHeader('Content-Type');
  res.end();
  return true;
}
