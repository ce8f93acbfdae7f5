/**
 * What every route module receives, and the shape of its handlers. The /v2 API runs on
 * Node's own request and response objects (no express on this path): a V2Request is an
 * IncomingMessage with its query and the caller the authorizer decided on.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { RegistryService } from '../../storage/types.js';
import type { Platform } from '../../oci/manifest.js';
import type { V2Route } from './urls.js';
import type { Authorizer, Principal } from '../auth/authorizer.js';

export interface RouteDeps {
  registry: RegistryService;
  deleteEnabled: boolean;
  /** prefix for Location headers: '' for relative URLs, else e.g. https://registry.example.com */
  baseUrl: string;
  authorizer: Authorizer;
  /** the child of a multi-platform tag served to a client that does not accept indexes */
  defaultPlatform: Platform;
}

export interface V2Request extends IncomingMessage {
  /** the query string, parsed as querystring.parse does (a repeated key is an array) */
  search: Record<string, string | string[] | undefined>;
  /** the URL as received (req.url is relative to /v2) */
  originalUrl?: string;
  /** the caller, as the authorizer decided before the handler ran */
  principal: Principal;
}

export type V2Response = ServerResponse;

export function principalOf(req: V2Request): Principal {
  return req.principal;
}

export type RouteOf<K extends V2Route['route']> = Extract<V2Route, { route: K }>;

export type Handlers<K extends V2Route['route']> = Partial<
  Record<'GET' | 'HEAD' | 'PUT' | 'POST' | 'PATCH' | 'DELETE', (req: V2Request, res: V2Response, route: RouteOf<K>) => Promise<void>>
>;

/** On every /v2 answer (the spec's version check); set by the router, or by a handler that writes its whole header block at once. */
export const API_VERSION = ['Docker-Distribution-API-Version', 'registry/2.0'] as const;

/** A small JSON body with its length (every v2 answer sets Content-Length). */
export function sendJson(res: V2Response, body: string, contentType = 'application/json; charset=utf-8'): void {
  res.setHeader('Content-Type', contentType);
  res.setHeader('Content-Length', Buffer.byteLength(body));
  res.end(body);
}
