/**
 * The v1 search API that `docker search HOST/term` and `podman search HOST/term` call:
 *   GET /v1/_ping                   docker checks the endpoint with it first
 *   GET /v1/search?q=&n=&page=      {num_results, num_pages, page, page_size, query, results: [...]}
 * Names are matched by substring over a range scan of the metadata index's repository
 * keys (in batches, never all at once); only what the caller may pull is listed; the
 * description comes from the image's org.opencontainers.image.description label.
 */
import express, { type Request, type Response, type Router } from 'express';
import type { RepositoryName } from '../../oci/names.js';
import type { RegistryService } from '../../storage/types.js';
import type { AccessPolicy } from '../auth/access-policy.js';
import { openAccess, type Authorizer, type Principal } from '../auth/authorizer.js';
import { RegistryError } from '../http/errors.js';
import { ImageInfo } from '../image-info.js';

export interface SearchDeps {
  registry: RegistryService;
  authorizer: Authorizer;
  policy?: AccessPolicy;
}

const DEFAULT_N = 25;
const MAX_N = 100;
const SCAN_BATCH = 1000;

function positiveInt(value: unknown, name: string, fallback: number): number {
  if (value === undefined || value === '') return fallback;
  const n = Number(value);
  if (typeof value !== 'string' || !/^\d+$/.test(value) || n < 1) throw new RegistryError('PAGINATION_NUMBER_INVALID', `${name} must be a positive integer`, { [name]: String(value).slice(0, 50) }, 400);
  return n;
}

export function searchRouter(deps: SearchDeps): Router {
  const router = express.Router();
  const info = new ImageInfo(deps.registry);

  /** Anonymous callers search what anonymous may pull (docker sends no credentials to /v1 over HTTP). */
  const principalOf = async (req: Request): Promise<Principal> => {
    if (deps.authorizer !== openAccess && req.headers.authorization === undefined && deps.policy?.anonymousHasAccess) {
      const policy = deps.policy;
      return { may: (a, repo) => policy.allowed(undefined, repo).has(a), sees: (repo) => policy.allowed(undefined, repo).has('pull') };
    }
    return deps.authorizer.authorize(req, { kind: 'search' });
  };

  router.get('/_ping', (_req: Request, res: Response) => {
    res.setHeader('X-Docker-Registry-Version', '0.6.0');
    res.setHeader('X-Docker-Registry-Standalone', 'true');
    res.json({ standalone: true });
  });

  router.get('/search', async (req: Request, res: Response) => {
    const query = req.query as Record<string, unknown>;
    const q = typeof query.q === 'string' ? query.q.trim().toLowerCase() : '';
    const n = Math.min(positiveInt(query.n, 'n', DEFAULT_N), MAX_N);
    const page = positiveInt(query.page, 'page', 1);
    const principal = await principalOf(req);
    const first = (page - 1) * n;
    let matches = 0;
    const names: string[] = [];
    let last: string | undefined;
    for (;;) {
      const batch = await deps.registry.catalog(last === undefined ? { n: SCAN_BATCH } : { n: SCAN_BATCH, last });
      for (const name of batch) {
        if (!name.includes(q) || !principal.sees(name)) continue;
        if (matches >= first && names.length < n) names.push(name);
        matches++;
      }
      if (batch.length < SCAN_BATCH) break;
      last = batch[batch.length - 1];
    }
    const results = await Promise.all(
      names.map(async (name) => ({
        name,
        description: await info.description(name as RepositoryName),
        star_count: 0,
        is_official: false,
        is_automated: false,
        is_trusted: false,
      })),
    );
    res.setHeader('Cache-Control', 'no-store');
    res.json({ num_results: matches, num_pages: Math.ceil(matches / n), page, page_size: n, query: q, results });
  });
  return router;
}
