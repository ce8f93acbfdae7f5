/** GET /v2/<name>/tags/list?n=&last= — a range scan with a limit, and a Link to the next page. */
import { urls } from './urls.js';
import { page, repositoryName } from '../http/request-parsing.js';
import { jsonStringList, nextLink } from './pagination.js';
import { sendJson, type Handlers, type RouteDeps } from './types.js';

export const MAX_TAGS_PAGE = 10_000;

export function tagRoutes({ registry }: RouteDeps): Handlers<'tags'> {
  return {
    GET: async (req, res, route) => {
      const repo = repositoryName(route.name);
      const p = page(req, MAX_TAGS_PAGE);
      // One more than asked tells whether a next page exists, without a second query.
      const tags = await registry.listTags(repo, { ...p, n: p.n + 1 });
      const more = tags.length > p.n;
      tags.length = Math.min(tags.length, p.n);
      if (more && p.n > 0) res.setHeader('Link', nextLink(urls.tags(repo), p.n, tags[p.n - 1]!));
      sendJson(res, `{"name":"${repo}","tags":${jsonStringList(tags)}}`);
    },
  };
}
