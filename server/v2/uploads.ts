/**
 * Blob uploads: POST /v2/<name>/blobs/uploads/ (session, monolithic, mount) and
 * GET/PATCH/PUT/DELETE /v2/<name>/blobs/uploads/<id>. Bodies are streamed into the
 * upload as they arrive; nothing buffers a blob.
 */
import type { IncomingMessage } from 'node:http';
import type { Chunk } from '../../storage/registry.js';
import type { Upload } from '../../storage/types.js';
import { urls } from './urls.js';
import { RegistryError } from '../http/errors.js';
import { contentLength, digest, queryString, repositoryName, uploadContentRange } from '../http/request-parsing.js';
import { principalOf, type Handlers, type RouteDeps, type V2Response } from './types.js';

function hasBody(req: IncomingMessage): boolean {
  const length = contentLength(req);
  return length !== undefined ? length > 0 : req.headers['transfer-encoding'] !== undefined;
}

/** The chunk a PATCH or final PUT carries: Content-Range, when given, must agree with Content-Length. */
function chunkOf(req: IncomingMessage): Chunk {
  const range = uploadContentRange(req);
  const length = contentLength(req);
  if (!range) return length === undefined ? { stream: req } : { stream: req, declaredBytes: length };
  const declared = range.end - range.start + 1;
  if (length !== undefined && length !== declared) {
    throw new RegistryError('RANGE_INVALID', `Content-Range ${range.start}-${range.end} declares ${declared} bytes but Content-Length is ${length}`, undefined, 416);
  }
  return { stream: req, offset: range.start, declaredBytes: declared };
}

/** spec: Range is "0-<last byte offset>"; registry:2 says 0-0 for an empty upload. */
function rangeHeader(size: number): string {
  return `0-${Math.max(size - 1, 0)}`;
}

export function uploadRoutes({ registry, baseUrl }: RouteDeps): { collection: Handlers<'uploads'>; session: Handlers<'upload'> } {
  const accepted = (res: V2Response, name: string, upload: Upload, status: 202 | 204): void => {
    res.statusCode = status;
    res.setHeader('Location', baseUrl + urls.upload(name, upload.id));
    res.setHeader('Range', rangeHeader(upload.size));
    res.setHeader('Docker-Upload-UUID', upload.id);
    res.setHeader('Content-Length', 0);
    res.end();
  };
  const created = (res: V2Response, name: string, blobDigest: string): void => {
    res.statusCode = 201;
    res.setHeader('Location', baseUrl + urls.blob(name, blobDigest));
    res.setHeader('Docker-Content-Digest', blobDigest);
    res.setHeader('Content-Length', 0);
    res.end();
  };

  const collection: Handlers<'uploads'> = {
    POST: async (req, res, route) => {
      const repo = repositoryName(route.name);
      const mount = queryString(req, 'mount');
      const from = queryString(req, 'from');
      if (mount !== undefined) {
        const d = digest(mount);
        const source = from !== undefined ? repositoryName(from) : undefined;
        // Mounting reads the source: only from a repository the caller may pull. Without
        // `from`, the blob could sit in any repository, so only a caller who may read
        // everything mounts it; others upload it (the spec's fallback, a 202 session).
        const principal = principalOf(req);
        const mayRead = source === undefined ? principal.readsEverything === true : principal.may('pull', source);
        const info = mayRead ? await registry.mountBlob(repo, d, source) : undefined;
        if (info) return created(res, repo, info.digest);
        // spec: a mount that cannot be done falls back to an ordinary upload session.
      }
      const monolithic = queryString(req, 'digest');
      if (monolithic !== undefined && mount === undefined) {
        const d = digest(monolithic);
        const length = contentLength(req);
        const info = await registry.uploadMonolithic(repo, d, { stream: req, declaredBytes: length ?? Infinity });
        return created(res, repo, info.digest);
      }
      const upload = await registry.startUpload(repo);
      accepted(res, repo, upload, 202);
    },
  };

  const session: Handlers<'upload'> = {
    GET: async (_req, res, route) => {
      const repo = repositoryName(route.name);
      accepted(res, repo, await registry.getUpload(repo, route.id), 204);
    },
    PATCH: async (req, res, route) => {
      const repo = repositoryName(route.name);
      const upload = await registry.getUpload(repo, route.id);
      await registry.appendUpload(upload, chunkOf(req));
      accepted(res, repo, upload, 202);
    },
    PUT: async (req, res, route) => {
      const repo = repositoryName(route.name);
      const upload = await registry.getUpload(repo, route.id);
      const d = digest(queryString(req, 'digest'));
      // spec: the PUT that completes an upload may carry the final chunk.
      const info = await registry.completeUpload(repo, upload, d, hasBody(req) ? chunkOf(req) : undefined);
      created(res, repo, info.digest);
    },
    DELETE: async (_req, res, route) => {
      const repo = repositoryName(route.name);
      await registry.cancelUpload(await registry.getUpload(repo, route.id));
      res.statusCode = 204;
      res.setHeader('Content-Length', 0);
      res.end();
    },
  };
  return { collection, session };
}
