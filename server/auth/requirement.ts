/**
 * What a request needs, decided from its route and method before any handler runs.
 * Mirrors registry:2: reads need pull; uploads and manifest PUTs need pull and push
 * (docker asks for both); deletes need delete; the catalog needs registry:catalog:*;
 * GET /v2/ needs only a valid identity (it is how clients discover auth); the admin
 * endpoints need a subject who may delete everywhere (a token: registry:admin:delete).
 */
import type { V2Route } from '../v2/urls.js';
import { repositoryName } from '../http/request-parsing.js';
import type { Action } from './access-policy.js';

export type Requirement =
  | { kind: 'login' }
  | { kind: 'catalog' }
  /** GET /v1/search: results are filtered by what the caller may pull (docker asks for registry:catalog:search) */
  | { kind: 'search' }
  /** the admin endpoints (POST /admin/gc): only a caller who may delete everywhere */
  | { kind: 'admin' }
  | { kind: 'repository'; name: string; actions: Action[] };

/** The token scope of the admin endpoints: granted only to a subject who may delete everywhere. */
export const ADMIN_SCOPE = 'registry:admin:delete';

export function requirementOf(route: V2Route, method: string): Requirement {
  switch (route.route) {
    case 'base':
      return { kind: 'login' };
    case 'catalog':
      return { kind: 'catalog' };
    default: {
      const name = repositoryName(route.name);
      if (method === 'DELETE' && route.route !== 'upload') return { kind: 'repository', name, actions: ['delete'] };
      const writes = route.route === 'uploads' || route.route === 'upload' || (route.route === 'manifest' && method === 'PUT');
      return { kind: 'repository', name, actions: writes ? ['pull', 'push'] : ['pull'] };
    }
  }
}

/** The scope string of the Docker token spec for a requirement. */
export function scopeOf(need: Requirement): string | undefined {
  if (need.kind === 'catalog') return 'registry:catalog:*';
  if (need.kind === 'search') return 'registry:catalog:search';
  if (need.kind === 'admin') return ADMIN_SCOPE;
  if (need.kind === 'repository') return `repository:${need.name}:${need.actions.join(',')}`;
  return undefined;
}
