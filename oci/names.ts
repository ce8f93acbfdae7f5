/**
 * Branded types for the identifiers of the distribution spec, parsed once at the edge.
 * Code inside takes `Digest`/`RepositoryName`/`Tag` and never re-validates a string.
 */
export type Digest = string & { readonly __brand: 'Digest' };
export type RepositoryName = string & { readonly __brand: 'RepositoryName' };
export type Tag = string & { readonly __brand: 'Tag' };

export type DigestAlgorithm = 'sha256' | 'sha512';

// spec: <name> is path components of [a-z0-9]+((\.|_|__|-+)[a-z0-9]+)* separated by "/".
const NAME_RE = /^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*$/;
// spec: <reference> as a tag is [a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}
const TAG_RE = /^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$/;
const DIGEST_HEX_LENGTH: Record<DigestAlgorithm, number> = { sha256: 64, sha512: 128 };

/** registry:2 caps a name at 255 characters (including the hostname in references). */
export const MAX_NAME_LENGTH = 255;

export function parseRepositoryName(s: string): RepositoryName | undefined {
  return s.length <= MAX_NAME_LENGTH && NAME_RE.test(s) ? (s as RepositoryName) : undefined;
}

export function parseTag(s: string): Tag | undefined {
  return TAG_RE.test(s) ? (s as Tag) : undefined;
}

/** Canonical digests only: a supported algorithm and lower-case hex of its length. */
export function parseDigest(s: string): Digest | undefined {
  const colon = s.indexOf(':');
  if (colon < 0) return undefined;
  const algorithm = s.slice(0, colon);
  const hex = s.slice(colon + 1);
  const len = DIGEST_HEX_LENGTH[algorithm as DigestAlgorithm];
  return len !== undefined && hex.length === len && /^[a-f0-9]+$/.test(hex) ? (s as Digest) : undefined;
}

/** Looks like a digest (algorithm:encoded) even if not one we support. */
export function looksLikeDigest(s: string): boolean {
  return /^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/.test(s);
}

export function digestAlgorithm(d: Digest): DigestAlgorithm {
  return d.slice(0, d.indexOf(':')) as DigestAlgorithm;
}

export function digestHex(d: Digest): string {
  return d.slice(d.indexOf(':') + 1);
}

/**
 * A repository glob (config's access and retention rules): `*` within one path
 * component, `**` across components, everything else literal.
 */
export function repositoryGlob(glob: string): RegExp {
  const re = glob
    .split(/(\*\*|\*)/)
    .map((part) => (part === '**' ? '.*' : part === '*' ? '[^/]*' : part.replace(/[.+?^${}()|[\]\\]/g, '\\$&')))
    .join('');
  return new RegExp(`^${re}$`);
}
