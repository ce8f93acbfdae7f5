/**
 * Admin endpoints (outside /v2): `POST /admin/gc[?dryRun=true]` collects now and answers
 * the report. Refused unless the caller may `delete` everywhere (htpasswd credentials of
 * such a user), or the registry is open and the caller is on loopback.
 */
import { Router, type NextFunction, type Request, type Response } from 'express';
import type { AuthSetup } from './auth/setup.js';
import { parseBasic } from './auth/basic-credentials.js';
import { RegistryError } from './http/errors.js';
import type { GcService } from './gc-service.js';

function isLoopback(address: string | undefined): boolean {
  return address !== undefined && (address.startsWith('127.') || address === '::1' || address.startsWith('::ffff:127.'));
}

async function mayAdminister(req: Request, auth: AuthSetup | undefined): Promise<void> {
  if (!auth || auth.mode === 'none') {
    if (isLoopback(req.socket.remoteAddress)) return;
    throw new RegistryError('DENIED', 'this registry has no access control: admin endpoints answer only on loopback');
  }
  const challenge = { 'WWW-Authenticate': 'Basic realm="wharf admin"' };
  const credentials = parseBasic(req.headers.authorization);
  if (!credentials || credentials === 'malformed' || !auth.users || !(await auth.users.verify(credentials))) {
    throw new RegistryError('UNAUTHORIZED', 'admin endpoints need the Basic credentials of a user who may delete everywhere', undefined, 401, challenge);
  }
  if (!auth.policy.mayEverywhere(credentials.user, 'delete')) {
    throw new RegistryError('DENIED', `user ${credentials.user} may not delete everywhere, which admin endpoints need`);
  }
}

export function adminRouter(gc: GcService, auth: AuthSetup | undefined): Router {
  const router = Router();
  router.post('/gc', async (req: Request, res: Response, next: NextFunction) => {
    try {
      await mayAdminister(req, auth);
      const dryRun = req.query.dryRun === 'true' || req.query.dryRun === '1';
      res.json(await gc.run(dryRun));
    } catch (err) {
      next(err);
    }
  });
  return router;
}
