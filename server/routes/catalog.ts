/** GET /v2/_catalog?n=&last= — a range scan over repositories; its cost does not grow with their number. */
import { urls } from '../api-urls.js';
import { page } from '../request-parsing.js';
import { nextLink } from './pagination.js';
import type { Handlers, RouteDeps } from './types.js';

export const MAX_CATALOG_PAGE = 1000;

export function catalogRoutes({ registry }: RouteDeps): Handlers<'catalog'> {
  return {
    GET: async (req, res) => {
      const p = page(req, MAX_CATALOG_PAGE);
      const repositories = await registry.catalog({ ...p, n: p.n + 1 });
      const more = repositories.length > p.n;
      repositories.length = Math.min(repositories.length, p.n);
      if (more && p.n > 0) res.setHeader('Link', nextLink(urls.catalog(), p.n, repositories[p.n - 1]!));
      res.json({ repositories });
    },
  };
}
