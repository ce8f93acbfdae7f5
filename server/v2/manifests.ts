/** GET/HEAD/PUT/DELETE /v2/<name>/manifests/<tag|digest> */
import type { Request } from 'express';
import { MAX_MANIFEST_BYTES } from '../../oci/limits.js';
import { ManifestTooLargeError } from '../../storage/errors.js';
import { urls } from './urls.js';
import { RegistryError } from '../http/errors.js';
import { manifestReference, readSmallBody, repositoryName } from '../http/request-parsing.js';
import type { Handlers, RouteDeps } from './types.js';

/**
 * Content negotiation. Without an Accept header (or with a wildcard) the stored type is
 * served. When the client lists types and the stored one is not among them, the
 * manifest is "unknown" to that client, as registry:2 answers for OCI types.
 */
function accepts(req: Request, mediaType: string): boolean {
  const header = req.headers.accept;
  if (!header) return true;
  const types = header.split(',').map((t) => t.split(';')[0]!.trim().toLowerCase());
  return types.some((t) => t === mediaType || t === '*/*' || t === 'application/*' || t === '');
}

export function manifestRoutes({ registry, deleteEnabled, baseUrl }: RouteDeps): Handlers<'manifest'> {
  const serve = async (req: Request, res: import('express').Response, route: { name: string; reference: string }, withBody: boolean) => {
    const repo = repositoryName(route.name);
    const ref = manifestReference(route.reference);
    const { descriptor, bytes } = withBody
      ? await registry.getManifest(repo, ref)
      : { descriptor: await registry.resolveManifest(repo, ref), bytes: undefined };
    if (!accepts(req, descriptor.mediaType)) {
      throw new RegistryError('MANIFEST_UNKNOWN', `manifest is a ${descriptor.mediaType}, which the Accept header does not list`, {
        mediaType: descriptor.mediaType,
      }, 404);
    }
    res.setHeader('Content-Type', descriptor.mediaType);
    res.setHeader('Content-Length', descriptor.size);
    res.setHeader('Docker-Content-Digest', descriptor.digest);
    res.setHeader('ETag', `"${descriptor.digest}"`);
    res.end(bytes);
  };

  return {
    GET: (req, res, route) => serve(req, res, route, true),
    HEAD: (req, res, route) => serve(req, res, route, false),
    PUT: async (req, res, route) => {
      const repo = repositoryName(route.name);
      const ref = manifestReference(route.reference);
      const body = await readSmallBody(req, MAX_MANIFEST_BYTES, () => new ManifestTooLargeError(MAX_MANIFEST_BYTES));
      const { descriptor } = await registry.putManifest(repo, ref, body, req.headers['content-type'] ?? '');
      res.status(201);
      res.setHeader('Location', baseUrl + urls.manifest(repo, descriptor.digest));
      res.setHeader('Docker-Content-Digest', descriptor.digest);
      // spec: a registry that processed the subject says so, and clients skip the referrers tag fallback.
      if (descriptor.subject) res.setHeader('OCI-Subject', descriptor.subject);
      res.setHeader('Content-Length', 0);
      res.end();
    },
    DELETE: async (_req, res, route) => {
      const repo = repositoryName(route.name);
      const ref = manifestReference(route.reference);
      if (!deleteEnabled) throw new RegistryError('UNSUPPORTED', 'deletes are disabled on this registry (storage.delete.enabled is false)');
      if (ref.digest !== undefined) await registry.deleteManifest(repo, ref.digest);
      else await registry.deleteTag(repo, ref.tag);
      res.status(202).setHeader('Content-Length', 0);
      res.end();
    },
  };
}
