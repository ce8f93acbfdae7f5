/** GET/HEAD/DELETE /v2/<name>/blobs/<digest> */
import { pipeline } from 'node:stream/promises';
import { RegistryError } from '../http/errors.js';
import { notModified } from '../http/conditional.js';
import { sendFileBody } from '../http/send-file.js';
import { blobRange, digest, repositoryName } from '../http/request-parsing.js';
import type { Handlers, RouteDeps, V2Request, V2Response } from './types.js';

export function blobRoutes({ registry, deleteEnabled }: RouteDeps): Handlers<'blob'> {
  const serve = async (req: V2Request, res: V2Response, route: { name: string; digest: string }, withBody: boolean) => {
    const repo = repositoryName(route.name);
    const info = await registry.statBlob(repo, digest(route.digest));
    res.setHeader('Docker-Content-Digest', info.digest);
    res.setHeader('ETag', `"${info.digest}"`);
    // Content addressed: the bytes behind a digest never change.
    res.setHeader('Cache-Control', 'max-age=31536000');
    if (notModified(req, res, info.digest)) return;
    res.setHeader('Accept-Ranges', 'bytes');
    res.setHeader('Content-Type', 'application/octet-stream');
    const wanted = blobRange(req.headers.range, info.size);
    if (wanted.kind === 'unsatisfiable') {
      throw new RegistryError('RANGE_INVALID', `range ${req.headers.range} is outside the blob's ${info.size} bytes`, undefined, 416, {
        'Content-Range': `bytes */${info.size}`,
      });
    }
    const range = wanted.kind === 'range' ? wanted.range : undefined;
    if (range) {
      res.statusCode = 206;
      res.setHeader('Content-Range', `bytes ${range.start}-${range.end}/${info.size}`);
    }
    const length = range ? range.end - range.start + 1 : info.size;
    res.setHeader('Content-Length', length);
    if (!withBody || length === 0) return void res.end();
    const file = registry.blobFile?.(info);
    if (file !== undefined && (await sendFileBody(res, file, range?.start ?? 0, length))) return;
    const body = await registry.readBlob(info, range);
    // A client that goes away mid-download rejects the pipeline; nothing to report to it.
    await pipeline(body, res).catch(() => undefined);
  };

  return {
    GET: (req, res, route) => serve(req, res, route, true),
    HEAD: (req, res, route) => serve(req, res, route, false),
    DELETE: async (_req, res, route) => {
      const repo = repositoryName(route.name);
      const d = digest(route.digest);
      if (!deleteEnabled) throw new RegistryError('UNSUPPORTED', 'deletes are disabled on this registry (storage.delete.enabled is false)');
      await registry.deleteBlob(repo, d);
      res.statusCode = 202;
      res.setHeader('Content-Length', 0);
      res.end();
    },
  };
}
