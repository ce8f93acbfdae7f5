/**
 * Image references, Docker style: `[registry/]name[:tag][@digest]`.
 *
 * There is no Docker Hub here: a reference without a registry host resolves against a
 * configurable default registry. As in Docker, the first component is a host when it
 * contains '.' or ':' or is 'localhost'. No `library/` prefix is added: that is a Docker
 * Hub convention, and our default registry is whatever the node is configured with.
 */
import type { Digest, RepositoryName, Tag } from './names.js';
import { parseDigest, parseRepositoryName, parseTag, MAX_NAME_LENGTH } from './names.js';

export const DEFAULT_REGISTRY = 'localhost:5000';
export const DEFAULT_TAG = 'latest' as Tag;

export interface ImageReference {
  /** host[:port], e.g. localhost:5000 */
  registry: string;
  repository: RepositoryName;
  tag?: Tag;
  digest?: Digest;
}

export interface ParseReferenceOptions {
  /** used when the reference names no host; default DEFAULT_REGISTRY */
  defaultRegistry?: string;
}

export class InvalidReferenceError extends Error {
  override name = 'InvalidReferenceError';
  constructor(
    readonly reference: string,
    reason: string,
  ) {
    super(`invalid image reference "${reference}": ${reason}`);
  }
}

// host: DNS labels or an IPv4 address or [IPv6], optional :port
const HOST_RE = /^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*|\[[0-9a-fA-F:.]+\])(?::[0-9]+)?$/;

function isHostComponent(s: string): boolean {
  return s.includes('.') || s.includes(':') || s === 'localhost';
}

/** Parse a reference; a tag defaults to `latest` only when there is no digest either. */
export function parseReference(input: string, opts: ParseReferenceOptions = {}): ImageReference {
  let rest = input.trim();
  if (rest === '') throw new InvalidReferenceError(input, 'empty');

  let digest: Digest | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    const d = parseDigest(rest.slice(at + 1));
    if (!d) throw new InvalidReferenceError(input, `bad digest "${rest.slice(at + 1)}"`);
    digest = d;
    rest = rest.slice(0, at);
  }

  let tag: Tag | undefined;
  // The tag's ':' is after the last '/', so a registry port is never mistaken for a tag.
  const lastSlash = rest.lastIndexOf('/');
  const colon = rest.indexOf(':', lastSlash + 1);
  if (colon >= 0) {
    const t = parseTag(rest.slice(colon + 1));
    if (!t) throw new InvalidReferenceError(input, `bad tag "${rest.slice(colon + 1)}"`);
    tag = t;
    rest = rest.slice(0, colon);
  }

  let registry = opts.defaultRegistry ?? DEFAULT_REGISTRY;
  const firstSlash = rest.indexOf('/');
  if (firstSlash > 0 && isHostComponent(rest.slice(0, firstSlash))) {
    registry = rest.slice(0, firstSlash);
    rest = rest.slice(firstSlash + 1);
  }
  if (!HOST_RE.test(registry)) throw new InvalidReferenceError(input, `bad registry host "${registry}"`);
  const repository = parseRepositoryName(rest);
  if (!repository) {
    const hint = /[A-Z]/.test(rest) ? ' (repository names must be lower case)' : '';
    throw new InvalidReferenceError(input, `bad repository name "${rest}"${hint}`);
  }
  if (registry.length + 1 + repository.length > MAX_NAME_LENGTH) {
    throw new InvalidReferenceError(input, `longer than ${MAX_NAME_LENGTH} characters`);
  }
  if (!tag && !digest) tag = DEFAULT_TAG;
  const ref: ImageReference = { registry, repository };
  if (tag) ref.tag = tag;
  if (digest) ref.digest = digest;
  return ref;
}

/** The canonical string: `registry/name:tag`, `registry/name@digest` or both. */
export function formatReference(ref: ImageReference): string {
  let s = `${ref.registry}/${ref.repository}`;
  if (ref.tag) s += `:${ref.tag}`;
  if (ref.digest) s += `@${ref.digest}`;
  return s;
}

/** What to ask the registry's /manifests/<reference> for: the digest wins over the tag. */
export function manifestReference(ref: ImageReference): string {
  return ref.digest ?? ref.tag ?? DEFAULT_TAG;
}
