/**
 * Errors of the spec's vocabulary that every side meets: a document that is not a valid
 * manifest, bytes that do not hash to the digest they were asked for, a length that is
 * not the one declared. The registry (storage/, then server/http/errors.ts) maps them to
 * the spec's codes; the node and the proxy cache raise them for what a remote sent.
 */
export class ManifestInvalidError extends Error {
  override name = 'ManifestInvalidError';
  readonly code: string = 'MANIFEST_INVALID';
}

export class DigestMismatchError extends Error {
  override name = 'DigestMismatchError';
  readonly code = 'DIGEST_MISMATCH';
  /** `what` names the content (`blob sha256:…`, `manifest repo:tag`); default: uploaded content */
  constructor(
    readonly expected: string,
    readonly actual: string,
    readonly what = 'content',
  ) {
    super(`${what}: digest mismatch: the bytes hash to ${actual}, not the expected ${expected}`);
  }
}

export class SizeMismatchError extends Error {
  override name = 'SizeMismatchError';
  readonly code = 'SIZE_MISMATCH';
  constructor(message: string) {
    super(message);
  }

  /** `what` carried `actual` bytes (or more, when cut short), not the `expected`. */
  static of(expected: number, actual: number, what: string): SizeMismatchError {
    return new SizeMismatchError(`${what}: size mismatch: expected ${expected} bytes, got ${actual}${actual > expected ? ' or more' : ''}`);
  }
}
