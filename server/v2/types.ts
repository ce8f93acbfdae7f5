/** What every route module receives, and the shape of its handlers. */
import type { Request, Response } from 'express';
import type { RegistryService } from '../../storage/types.js';
import type { V2Route } from './urls.js';
import type { Authorizer, Principal } from '../auth/authorizer.js';

export interface RouteDeps {
  registry: RegistryService;
  deleteEnabled: boolean;
  /** prefix for Location headers: '' for relative URLs, else e.g. https://registry.example.com */
  baseUrl: string;
  authorizer: Authorizer;
}

/** The caller, as the authorizer decided before the handler ran. */
export function principalOf(res: Response): Principal {
  return res.locals.principal as Principal;
}

export type RouteOf<K extends V2Route['route']> = Extract<V2Route, { route: K }>;

export type Handlers<K extends V2Route['route']> = Partial<
  Record<'GET' | 'HEAD' | 'PUT' | 'POST' | 'PATCH' | 'DELETE', (req: Request, res: Response, route: RouteOf<K>) => Promise<void>>
>;
