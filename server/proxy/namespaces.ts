/**
 * The three ways into the cache, as one rewrite of the request's name before the routes
 * (and the authorizer) see it, so everything downstream speaks of one local name:
 *
 * (a) a host-prefixed name: `docker.io/busybox` -> `docker.io/library/busybox` (Docker
 *     Hub's rule for one-component names); other prefixed names stay as they are;
 * (b) containerd's `?ns=<host>` (distribution-spec, "Registry Proxying"): `library/busybox`
 *     with ns=docker.io -> `docker.io/library/busybox`, answered with `OCI-Namespace`;
 * (c) dockerd's `registry-mirrors`, which sends Docker Hub names without a prefix: a
 *     name that is not hosted here, read (GET/HEAD), goes to `proxy.default`.
 * Pushes of un-prefixed names are never redirected: they create hosted repositories.
 */
import type { NextFunction, Request, Response } from 'express';
import { matchV2Path } from '../v2/urls.js';
import type { CachingRegistry } from './cached-registry.js';
import { withResponse } from './context.js';
import type { Upstream } from './upstream.js';

export function cacheNamespaces(cache: CachingRegistry) {
  const upstreams = cache.upstreams;
  const cached = (upstream: Upstream, name: string) => `${upstream.name}/${upstream.canonical(name)}`;

  async function localName(name: string, ns: string | undefined, method: string): Promise<{ name: string; namespace?: string } | undefined> {
    if (ns !== undefined) {
      const upstream = upstreams.forNamespace(ns);
      if (upstream) return { name: cached(upstream, name), namespace: ns };
    }
    const slash = name.indexOf('/');
    const prefixed = slash > 0 ? upstreams.get(name.slice(0, slash)) : undefined;
    if (prefixed) return { name: cached(prefixed, name.slice(slash + 1)) };
    const fallback = upstreams.default;
    if (fallback && (method === 'GET' || method === 'HEAD') && !(await cache.isHosted(name))) return { name: cached(fallback, name) };
    return undefined;
  }

  return function rewriteCachedName(req: Request, res: Response, next: NextFunction): void {
    const route = matchV2Path(req.path);
    if (!route || !('name' in route)) return next();
    const ns = typeof req.query.ns === 'string' ? req.query.ns : undefined;
    localName(route.name, ns, req.method).then(
      (found) => {
        if (!found) return next();
        if (found.namespace !== undefined) res.setHeader('OCI-Namespace', found.namespace);
        // The name is the path's head (v2/urls.ts matches tails), so it is replaced in place.
        if (found.name !== route.name) req.url = `/${found.name}${req.url.slice(1 + route.name.length)}`;
        withResponse(res, next);
      },
      next,
    );
  };
}
