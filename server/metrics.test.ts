import assert from 'node:assert/strict';
import { it } from 'node:test';
import { routeOf } from './metrics.js';

it('routeOf names the route of a URL by its tail, as server/v2/urls.ts does', () => {
  const d = 'sha256:' + 'a'.repeat(64);
  const cases: [string, string][] = [
    ['/v2/', 'base'],
    ['/v2', 'base'],
    ['/v2/_catalog?n=10', 'catalog'],
    ['/v2/a/b/tags/list', 'tags'],
    ['/v2/a/b/manifests/latest', 'manifest'],
    [`/v2/a/manifests/${d}?ns=docker.io`, 'manifest'],
    ['/v2/a/blobs/uploads/', 'uploads'],
    [`/v2/a/blobs/uploads/?digest=${d}`, 'uploads'],
    ['/v2/a/blobs/uploads/0b1c2d3e-0000-4000-8000-000000000000?digest=x', 'upload'],
    [`/v2/a/blobs/${d}`, 'blob'],
    [`/v2/a/referrers/${d}`, 'referrers'],
    ['/metrics', 'metrics'],
    ['/admin/gc', 'admin'],
    ['/nothing', 'other'],
  ];
  for (const [url, route] of cases) assert.equal(routeOf(url), route, url);
});
