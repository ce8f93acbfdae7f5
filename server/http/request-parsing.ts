/**
 * Parsing of what arrives in a request (names, references, ranges, page sizes, small
 * bodies) into the branded types of oci/names.ts, throwing the spec's errors.
 */
import type { IncomingMessage } from 'node:http';
import {
  looksLikeDigest,
  parseDigest,
  parseRepositoryName,
  parseTag,
  type Digest,
  type RepositoryName,
} from '../../oci/names.js';
import type { ManifestReference } from '../../storage/registry.js';
import type { ByteRange, Page } from '../../storage/types.js';
import { RegistryError } from './errors.js';

export function repositoryName(raw: string): RepositoryName {
  const name = parseRepositoryName(raw);
  if (!name) {
    throw new RegistryError('NAME_INVALID', `invalid repository name "${raw.slice(0, 300)}": use lower-case components of [a-z0-9] separated by . _ __ - and /, at most 255 characters`, { name: raw.slice(0, 300) });
  }
  return name;
}

export function digest(raw: string | undefined): Digest {
  const d = raw === undefined ? undefined : parseDigest(raw);
  if (!d) {
    throw new RegistryError('DIGEST_INVALID', `invalid digest "${String(raw).slice(0, 200)}": expected sha256:<64 hex> or sha512:<128 hex>`, { digest: String(raw).slice(0, 200) });
  }
  return d;
}

/**
 * The reference of a manifest GET or HEAD: one that is neither a valid tag nor a digest
 * names nothing the registry could hold, so it is unknown (404), as registry:2 and zot
 * answer; only a PUT under it is a client error (TAG_INVALID).
 */
export function manifestReferenceToRead(raw: string): ManifestReference {
  if (raw.includes(':') || looksLikeDigest(raw)) {
    const d = parseDigest(raw);
    if (d) return { digest: d };
  } else {
    const tag = parseTag(raw);
    if (tag) return { tag };
  }
  throw new RegistryError('MANIFEST_UNKNOWN', `no manifest can be named "${raw.slice(0, 200)}": a reference is a tag ([A-Za-z0-9_][A-Za-z0-9._-]{0,127}) or a digest`, { reference: raw.slice(0, 200) });
}

export function manifestReference(raw: string): ManifestReference {
  if (raw.includes(':') || looksLikeDigest(raw)) return { digest: digest(raw) };
  const tag = parseTag(raw);
  if (!tag) throw new RegistryError('TAG_INVALID', `invalid tag "${raw.slice(0, 200)}": use [A-Za-z0-9_][A-Za-z0-9._-]{0,127}`, { tag: raw.slice(0, 200) });
  return { tag };
}

/** A query parameter given at most once; `req.search` on /v2 (server/v2/router.ts), `req.query` under express. */
export function queryString(req: { search: Record<string, unknown> } | { query: Record<string, unknown> }, key: string): string | undefined {
  const v = 'search' in req ? req.search[key] : req.query[key];
  if (v === undefined) return undefined;
  if (typeof v !== 'string') throw new RegistryError('UNSUPPORTED', `query parameter "${key}" must be given once`, undefined, 400);
  return v;
}

/** `n` and `last` of tag lists and the catalog; `n` is clamped to `max`. */
export function page(req: { search: Record<string, unknown> } | { query: Record<string, unknown> }, max: number): Page {
  const rawN = queryString(req, 'n');
  let n = max;
  if (rawN !== undefined) {
    if (!/^\d{1,9}$/.test(rawN)) throw new RegistryError('PAGINATION_NUMBER_INVALID', `n must be a non-negative integer, got "${rawN.slice(0, 50)}"`);
    n = Math.min(Number(rawN), max);
  }
  const last = queryString(req, 'last');
  return last === undefined ? { n } : { n, last };
}

/** Content-Length as a number, or undefined when the body is chunked. */
export function contentLength(req: IncomingMessage): number | undefined {
  const raw = req.headers['content-length'];
  return raw === undefined ? undefined : Number(raw);
}

/**
 * Content-Range of an upload chunk: "<start>-<end>" (the spec's form), also tolerating
 * a "bytes " prefix and a "/<total>" suffix. Inclusive.
 */
export function uploadContentRange(req: IncomingMessage): ByteRange | undefined {
  const raw = req.headers['content-range'];
  if (raw === undefined) return undefined;
  const m = /^(?:bytes[ =])?(\d{1,15})-(\d{1,15})(?:\/(?:\d{1,15}|\*))?$/.exec(raw.trim());
  if (!m || Number(m[2]) < Number(m[1])) {
    throw new RegistryError('RANGE_INVALID', `invalid Content-Range "${raw.slice(0, 100)}": expected <start>-<end>`, undefined, 416);
  }
  return { start: Number(m[1]), end: Number(m[2]) };
}

export type RangeRequest = { kind: 'none' } | { kind: 'range'; range: ByteRange } | { kind: 'unsatisfiable' };

/**
 * `Range: bytes=` of a blob GET, per RFC 9110 §14: a header that does not parse is
 * ignored (the whole blob, 200); a set of ranges none of which overlaps the blob is
 * unsatisfiable (416); one satisfiable range is served as 206. Several satisfiable ranges
 * are answered with the whole blob, which the RFC allows ("a server MAY ignore the Range
 * header field"), as registry:2 does; it spares a multipart body nobody pulls with.
 */
export function blobRange(header: string | undefined, size: number): RangeRequest {
  if (header === undefined) return { kind: 'none' };
  const m = /^bytes=(.*)$/i.exec(header.trim());
  if (!m) return { kind: 'none' };
  const specs = m[1]!.split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (specs.length === 0 || specs.length > 100) return { kind: 'none' };
  const satisfiable: ByteRange[] = [];
  for (const spec of specs) {
    const r = /^(\d{0,15})-(\d{0,15})$/.exec(spec);
    if (!r || (r[1] === '' && r[2] === '')) return { kind: 'none' };
    if (r[1] === '') {
      // suffix-range: the last N bytes; "-0" selects nothing.
      const suffix = Number(r[2]);
      if (suffix > 0 && size > 0) satisfiable.push({ start: Math.max(0, size - suffix), end: size - 1 });
      continue;
    }
    const start = Number(r[1]);
    if (r[2] !== '' && Number(r[2]) < start) return { kind: 'none' };
    if (start < size) satisfiable.push({ start, end: r[2] === '' ? size - 1 : Math.min(Number(r[2]), size - 1) });
  }
  if (satisfiable.length === 0) return { kind: 'unsatisfiable' };
  if (satisfiable.length > 1) return { kind: 'none' };
  return { kind: 'range', range: satisfiable[0]! };
}

/** Read a small body whole, refusing more than `limit` bytes. */
export async function readSmallBody(req: IncomingMessage, limit: number, tooLarge: () => Error): Promise<Buffer> {
  const declared = contentLength(req);
  if (declared !== undefined && declared > limit) throw tooLarge();
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of req) {
    total += (chunk as Buffer).length;
    if (total > limit) throw tooLarge();
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks, total);
}
