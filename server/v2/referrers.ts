/** GET /v2/<name>/referrers/<digest>[?artifactType=] — an OCI image index of the manifests whose subject is <digest>. */
import { MediaTypes } from '../../oci/media-types.js';
import { digest, queryString, repositoryName } from '../http/request-parsing.js';
import { sendJson, type Handlers, type RouteDeps } from './types.js';

export function referrerRoutes({ registry }: RouteDeps): Handlers<'referrers'> {
  return {
    GET: async (req, res, route) => {
      const repo = repositoryName(route.name);
      const subject = digest(route.digest);
      const artifactType = queryString(req, 'artifactType');
      const manifests = await registry.referrers(repo, subject, artifactType);
      if (artifactType !== undefined) res.setHeader('OCI-Filters-Applied', 'artifactType');
      // spec: an unknown subject still answers 200 with an empty index.
      const body = JSON.stringify({ schemaVersion: 2, mediaType: MediaTypes.ociIndex, manifests });
      sendJson(res, body, MediaTypes.ociIndex);
    },
  };
}
