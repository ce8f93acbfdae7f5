/**
 * Parsing of what arrives in a request (names, references, ranges, page sizes, small
 * bodies) into the branded types of oci/names.ts, throwing the spec's errors.
 */
import type { Request } from 'express';
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

export function manifestReference(raw: string): ManifestReference {
  if (raw.includes(':') || looksLikeDigest(raw)) return { digest: digest(raw) };
  const tag = parseTag(raw);
  if (!tag) throw new RegistryError('TAG_INVALID', `invalid tag "${raw.slice(0, 200)}": use [A-Za-z0-9_][A-Za-z0-9._-]{0,127}`, { tag: raw.slice(0, 200) });
  return { tag };
}

export function queryString(req: Request, key: string): string | undefined {
  const v = (req.query as Record<string, unknown>)[key];
  if (v === undefined) return undefined;
  if (typeof v !== 'string') throw new RegistryError('UNSUPPORTED', `query parameter "${key}" must be given once`, undefined, 400);
  return v;
}

/** `n` and `last` of tag lists and the catalog; `n` is clamped to `max`. */
export function page(req: Request, max: number): Page {
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
export function contentLength(req: Request): number | undefined {
  const raw = req.headers['content-length'];
  return raw === undefined ? undefined : Number(raw);
}

/**
 * Content-Range of an upload chunk: "<start>-<end>" (the spec's form), also tolerating
 * a "bytes " prefix and a "/<total>" suffix. Inclusive.
 */
export function uploadContentRange(req: Request): ByteRange | undefined {
  const raw = req.headers['content-range'];
  if (raw === undefined) return undefined;
  const m = /^(?:bytes[ =])?(\d{1,15})-(\d{1,15})(?:\/(?:\d{1,15}|\*))?$/.exec(raw.trim());
  if (!m || Number(m[2]) < Number(m[1])) {
    throw new RegistryError('RANGE_INVALID', `invalid Content-Range "${raw.slice(0, 100)}": expected <start>-<end>`, undefined, 416);
  }
  return { start: Number(m[1]), end: Number(m[2]) };
}

export type RangeRequest = { kind: 'none' } | { kind: 'range'; range: ByteRange } | { kind: 'unsatisfiable' };

/** A single `Range: bytes=` of a blob GET; anything we do not serve partially is ignored (RFC 9110). */
export function blobRange(header: string | undefined, size: number): RangeRequest {
  if (header === undefined) return { kind: 'none' };
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m || (m[1] === '' && m[2] === '')) return { kind: 'none' };
  if (m[1] === '') {
    const suffix = Number(m[2]);
    if (suffix === 0) return { kind: 'unsatisfiable' };
    return size === 0 ? { kind: 'unsatisfiable' } : { kind: 'range', range: { start: Math.max(0, size - suffix), end: size - 1 } };
  }
  const start = Number(m[1]);
  const end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  if (m[2] !== '' && Number(m[2]) < start) return { kind: 'none' };
  if (start >= size) return { kind: 'unsatisfiable' };
  return { kind: 'range', range: { start, end } };
}

/** Read a small body whole, refusing more than `limit` bytes. */
export async function readSmallBody(req: Request, limit: number, tooLarge: () => Error): Promise<Buffer> {
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
