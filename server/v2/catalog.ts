/** GET /v2/_catalog?n=&last= — a range scan over repositories; its cost does not grow with their number. */
import { urls } from './urls.js';
import { page } from '../http/request-parsing.js';
import { jsonStringList, nextLink } from './pagination.js';
import { principalOf, sendJson, type Handlers, type RouteDeps } from './types.js';

export const MAX_CATALOG_PAGE = 1000;

export function catalogRoutes({ registry }: RouteDeps): Handlers<'catalog'> {
  return {
    GET: async (req, res) => {
      const p = page(req, MAX_CATALOG_PAGE);
      const principal = principalOf(req);
      // Only repositories the caller may pull are listed; scan on until the page is full.
      const repositories: string[] = [];
      let more = false;
      let last = p.last;
      for (;;) {
        const batch = await registry.catalog(last === undefined ? { n: p.n + 1 } : { n: p.n + 1, last });
        for (const name of batch) {
          if (!principal.sees(name)) continue;
          if (repositories.length === p.n) {
            more = true;
            break;
          }
          repositories.push(name);
        }
        if (more || batch.length < p.n + 1) break;
        last = batch[batch.length - 1];
      }
      if (more && p.n > 0) res.setHeader('Link', nextLink(urls.catalog(), p.n, repositories[p.n - 1]!));
      sendJson(res, `{"repositories":${jsonStringList(repositories)}}`);
    },
  };
}
