/**
 * Engine API errors: one class with Docker's statuses, rendered by the router as
 * `{"message": "..."}` (moby api/server/httputils: errdefs -> status). Handlers throw
 * these; nothing writes an error status by hand.
 */
export type EngineErrorKind = 'invalid' | 'unauthorized' | 'forbidden' | 'notFound' | 'notModified' | 'conflict' | 'notImplemented' | 'unavailable' | 'system';

const STATUS: Record<EngineErrorKind, number> = {
  invalid: 400,
  unauthorized: 401,
  forbidden: 403,
  notFound: 404,
  notModified: 304,
  conflict: 409,
  notImplemented: 501,
  unavailable: 503,
  system: 500,
};

export class EngineError extends Error {
  override name = 'EngineError';
  readonly status: number;
  constructor(
    readonly kind: EngineErrorKind,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.status = STATUS[kind];
  }
}

export const badParameter = (message: string): EngineError => new EngineError('invalid', message);
export const notFound = (message: string): EngineError => new EngineError('notFound', message);
export const conflict = (message: string): EngineError => new EngineError('conflict', message);
export const notModified = (message: string): EngineError => new EngineError('notModified', message);

/** Docker's wording for a missing container (the CLI matches on "No such container"). */
export const noSuchContainer = (ref: string): EngineError => notFound(`No such container: ${ref}`);
export const noSuchExec = (ref: string): EngineError => notFound(`No such exec instance: ${ref}`);
/** `docker run` pulls when create answers 404 with this message, then retries. */
export const noSuchImage = (ref: string): EngineError => notFound(`No such image: ${ref}`);
