/**
 * Domain errors of the storage layer. They say what went wrong in storage terms;
 * server/http/errors.ts maps each to the spec's error code. No HTTP knowledge here.
 */
import { DigestMismatchError } from '../oci/errors.js';

// The spec's own errors (oci/errors.ts) are storage's too: a push that does not hash or
// measure as declared, a body that is not a manifest.
export { DigestMismatchError, ManifestInvalidError, SizeMismatchError } from '../oci/errors.js';

export class StorageError extends Error {
  override name = 'StorageError';
}

export class BlobUnknownError extends StorageError {
  override name = 'BlobUnknownError';
  constructor(readonly digest: string) {
    super(`blob ${digest} is not known`);
  }
}

export class UploadUnknownError extends StorageError {
  override name = 'UploadUnknownError';
  constructor(readonly id: string) {
    super(`upload ${id} is not known (finished, cancelled or expired)`);
  }
}

/** A chunk that does not start where the upload ends. */
export class UploadOffsetError extends StorageError {
  override name = 'UploadOffsetError';
  constructor(readonly expected: number, readonly got: number) {
    super(`chunk starts at byte ${got} but the upload holds ${expected} bytes; send the chunk that starts at ${expected}`);
  }
}

/** Another request is writing to this upload right now. */
export class UploadBusyError extends StorageError {
  override name = 'UploadBusyError';
  constructor(readonly id: string) {
    super(`upload ${id} is receiving another chunk; retry after it finishes`);
  }
}

export class ManifestUnknownError extends StorageError {
  override name = 'ManifestUnknownError';
  constructor(readonly reference: string) {
    super(`manifest ${reference} is not known`);
  }
}

/** A manifest references a blob or child manifest the repository does not hold. */
export class ManifestBlobUnknownError extends StorageError {
  override name = 'ManifestBlobUnknownError';
  constructor(readonly digest: string) {
    super(`manifest references ${digest}, which this repository does not hold; push it first`);
  }
}

export class ManifestTooLargeError extends StorageError {
  override name = 'ManifestTooLargeError';
  constructor(readonly limit: number) {
    super(`manifest is larger than the limit of ${limit} bytes`);
  }
}

export class RepositoryUnknownError extends StorageError {
  override name = 'RepositoryUnknownError';
  constructor(readonly repository: string) {
    super(`repository ${repository} is not known`);
  }
}

/** A manifest PUT by digest whose body hashes to another digest. */
export class ReferenceDigestMismatchError extends DigestMismatchError {
  override name = 'ReferenceDigestMismatchError';
  constructor(expected: string, actual: string) {
    super(expected, actual, 'the manifest body');
  }
}
