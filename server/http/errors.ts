/**
 * The error catalog of the distribution spec, in one typed table. Handlers throw
 * `new RegistryError('BLOB_UNKNOWN', {detail})`; one middleware renders
 * `{"errors":[{code,message,detail}]}` with the catalog's status. No handler writes an
 * error status by hand. `toRegistryError` maps storage's domain errors onto the catalog.
 */
import {
  BlobUnknownError,
  DigestMismatchError,
  ManifestBlobUnknownError,
  ManifestInvalidError,
  ManifestTooLargeError,
  ManifestUnknownError,
  RepositoryUnknownError,
  SizeMismatchError,
  UploadBusyError,
  UploadOffsetError,
  UploadUnknownError,
} from '../../storage/errors.js';

export const ERROR_CATALOG = {
  BLOB_UNKNOWN: { status: 404, message: 'blob unknown to registry' },
  BLOB_UPLOAD_INVALID: { status: 400, message: 'blob upload invalid' },
  BLOB_UPLOAD_UNKNOWN: { status: 404, message: 'blob upload unknown to registry' },
  DIGEST_INVALID: { status: 400, message: 'provided digest did not match uploaded content' },
  MANIFEST_BLOB_UNKNOWN: { status: 400, message: 'manifest references a manifest or blob unknown to registry' },
  MANIFEST_INVALID: { status: 400, message: 'manifest invalid' },
  MANIFEST_UNKNOWN: { status: 404, message: 'manifest unknown to registry' },
  NAME_INVALID: { status: 400, message: 'invalid repository name' },
  NAME_UNKNOWN: { status: 404, message: 'repository name not known to registry' },
  SIZE_INVALID: { status: 400, message: 'provided length did not match content length' },
  UNAUTHORIZED: { status: 401, message: 'authentication required' },
  DENIED: { status: 403, message: 'requested access to the resource is denied' },
  UNSUPPORTED: { status: 405, message: 'the operation is unsupported' },
  TOOMANYREQUESTS: { status: 429, message: 'too many requests' },
  // Codes registry:2 adds beyond the spec's table; clients treat them as opaque.
  TAG_INVALID: { status: 400, message: 'manifest tag did not match URI' },
  RANGE_INVALID: { status: 416, message: 'invalid content range' },
  PAGINATION_NUMBER_INVALID: { status: 400, message: 'invalid number of results requested' },
  NOT_FOUND: { status: 404, message: 'no such endpoint in the registry API' },
  UNKNOWN: { status: 500, message: 'unknown error' },
} as const satisfies Record<string, { status: number; message: string }>;

export type ErrorCode = keyof typeof ERROR_CATALOG;

export class RegistryError extends Error {
  override name = 'RegistryError';
  readonly status: number;

  /**
   * `status` overrides the catalog's only where the spec asks for another status with
   * the same code (a 413 for an oversized manifest).
   */
  constructor(
    readonly code: ErrorCode,
    message?: string,
    readonly detail?: unknown,
    status?: number,
    readonly headers?: Record<string, string>,
  ) {
    super(message ?? ERROR_CATALOG[code].message);
    this.status = status ?? ERROR_CATALOG[code].status;
  }

  toJSON(): { errors: { code: string; message: string; detail?: unknown }[] } {
    const e: { code: string; message: string; detail?: unknown } = { code: this.code, message: this.message };
    if (this.detail !== undefined) e.detail = this.detail;
    return { errors: [e] };
  }
}

/** Map a thrown value to the catalog; undefined for a genuine internal failure. */
export function toRegistryError(err: unknown): RegistryError | undefined {
  if (err instanceof RegistryError) return err;
  if (err instanceof BlobUnknownError) return new RegistryError('BLOB_UNKNOWN', err.message, { digest: err.digest });
  if (err instanceof DigestMismatchError) return new RegistryError('DIGEST_INVALID', err.message, { expected: err.expected, actual: err.actual });
  if (err instanceof SizeMismatchError) return new RegistryError('SIZE_INVALID', err.message);
  if (err instanceof UploadUnknownError) return new RegistryError('BLOB_UPLOAD_UNKNOWN', err.message);
  if (err instanceof UploadOffsetError) {
    // spec: an out-of-order chunk is 416, with the Range the upload actually holds.
    const range = err.expected > 0 ? `0-${err.expected - 1}` : '0-0';
    return new RegistryError('RANGE_INVALID', err.message, { expected: err.expected, got: err.got }, 416, { Range: range });
  }
  if (err instanceof UploadBusyError) return new RegistryError('BLOB_UPLOAD_INVALID', err.message);
  if (err instanceof ManifestTooLargeError) return new RegistryError('MANIFEST_INVALID', err.message, { limit: err.limit }, 413);
  if (err instanceof ManifestInvalidError) return new RegistryError('MANIFEST_INVALID', err.message);
  if (err instanceof ManifestBlobUnknownError) return new RegistryError('MANIFEST_BLOB_UNKNOWN', err.message, { digest: err.digest });
  if (err instanceof ManifestUnknownError) return new RegistryError('MANIFEST_UNKNOWN', err.message);
  if (err instanceof RepositoryUnknownError) return new RegistryError('NAME_UNKNOWN', err.message, { name: err.repository });
  return undefined;
}
