/** GET/HEAD/PUT/DELETE /v2/<name>/manifests/<tag|digest> */
import type { IncomingMessage } from 'node:http';
import { MAX_MANIFEST_BYTES } from '../../oci/limits.js';
import { ManifestTooLargeError } from '../../storage/errors.js';
import { childForPlatform } from '../../oci/manifest.js';
import { MediaTypes } from '../../oci/media-types.js';
import type { Digest, RepositoryName } from '../../oci/names.js';
import type { ManifestDescriptor, ManifestReference } from '../../storage/types.js';
import { urls } from './urls.js';
import { RegistryError } from '../http/errors.js';
import { notModified } from '../http/conditional.js';
import { noteBodyLength } from '../http/logging.js';
import { manifestReference, manifestReferenceToRead, readSmallBody, repositoryName } from '../http/request-parsing.js';
import { API_VERSION, type Handlers, type RouteDeps, type V2Response } from './types.js';

const INDEX_TYPES: readonly string[] = [MediaTypes.ociIndex, MediaTypes.dockerManifestList];

/** The media types an Accept header lists; undefined when any type will do (no header, a wildcard). */
function acceptedTypes(req: IncomingMessage): string[] | undefined {
  const header = req.headers.accept;
  if (!header) return undefined;
  const types = header.split(',').map((t) => t.split(';')[0]!.trim().toLowerCase());
  return types.some((t) => t === '*/*' || t === 'application/*' || t === '') ? undefined : types;
}

/**
 * The header block of a manifest's 200, as writeHead's flat list (no header object, one
 * pass to render it). Built once per descriptor object: the metadata store hands out the
 * same frozen descriptor while a tag or link stands and a new one when it changes
 * (storage/level-metadata.ts), so an entry is never stale, and it goes with its
 * descriptor (a WeakMap). A descriptor from elsewhere (the proxy cache) is rendered on
 * each request, which is only slower.
 */
const rendered = new WeakMap<ManifestDescriptor, string[]>();

function okHeaders(d: ManifestDescriptor): string[] {
  let headers = rendered.get(d);
  if (!headers) {
    headers = [...API_VERSION, 'Content-Type', d.mediaType, 'Docker-Content-Digest', d.digest, 'ETag', `"${d.digest}"`, 'Content-Length', String(d.size)];
    rendered.set(d, headers);
  }
  return headers;
}

export function manifestRoutes({ registry, deleteEnabled, baseUrl, defaultPlatform }: RouteDeps): Handlers<'manifest'> {
  const platformName = `${defaultPlatform.os}/${defaultPlatform.architecture}${defaultPlatform.variant ? `/${defaultPlatform.variant}` : ''}`;

  /**
   * Content negotiation. Without an Accept header (or with a wildcard) the stored type is
   * served. A client that lists only single-image types and asks for a multi-platform
   * manifest gets the child for the default platform, with that child's digest, as
   * registry:2 answers (curl, old clients). Otherwise a stored type the client does not
   * list is "unknown" to it, as registry:2 answers for OCI types.
   */
  const negotiate = async (
    repo: RepositoryName,
    descriptor: ManifestDescriptor,
    accepted: string[] | undefined,
  ): Promise<{ descriptor: ManifestDescriptor; bytes?: Buffer }> => {
    if (accepted === undefined || accepted.includes(descriptor.mediaType)) return { descriptor };
    if (INDEX_TYPES.includes(descriptor.mediaType)) {
      const index = await registry.getManifest(repo, { digest: descriptor.digest });
      const child = childForPlatform(index.bytes, defaultPlatform);
      if (!child) {
        throw new RegistryError('MANIFEST_UNKNOWN', `the manifest is a ${descriptor.mediaType}, which the Accept header does not list, and it has no ${platformName} image`, { mediaType: descriptor.mediaType }, 404);
      }
      const content = await registry.getManifest(repo, { digest: child.digest as Digest }).catch(() => undefined);
      if (content && accepted.includes(content.descriptor.mediaType)) return content;
    }
    throw new RegistryError('MANIFEST_UNKNOWN', `the manifest is a ${descriptor.mediaType}, which the Accept header does not list`, {
      mediaType: descriptor.mediaType,
    }, 404);
  };

  const serve = async (req: IncomingMessage, res: V2Response, route: { name: string; reference: string }, withBody: boolean) => {
    const repo = repositoryName(route.name);
    const ref: ManifestReference = manifestReferenceToRead(route.reference);
    const accepted = acceptedTypes(req);
    const stored = await registry.resolveManifest(repo, ref);
    const chosen = accepted === undefined || accepted.includes(stored.mediaType) ? { descriptor: stored } : await negotiate(repo, stored, accepted);
    const { descriptor } = chosen;
    if (req.headers['if-none-match'] === undefined) {
      // The pull path: the whole header block at once, bytes from memory.
      const bytes = withBody ? (chosen.bytes ?? (await registry.manifestBytes(descriptor))) : undefined;
      res.writeHead(200, okHeaders(descriptor));
      noteBodyLength(res, descriptor.size);
      res.end(bytes);
      return;
    }
    res.setHeader(API_VERSION[0], API_VERSION[1]);
    res.setHeader('Content-Type', descriptor.mediaType);
    res.setHeader('Docker-Content-Digest', descriptor.digest);
    res.setHeader('ETag', `"${descriptor.digest}"`);
    if (notModified(req, res, descriptor.digest)) return;
    res.setHeader('Content-Length', descriptor.size);
    if (!withBody) return void res.end();
    const bytes = chosen.bytes ?? (await registry.manifestBytes(descriptor));
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
      res.statusCode = 201;
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
      res.statusCode = 202;
      res.setHeader('Content-Length', 0);
      res.end();
    },
  };
}
