/**
 * Admin endpoints (outside /v2): `POST /admin/gc[?dryRun=true]` collects now and answers
 * the report. Refused unless the caller may `delete` everywhere (Basic credentials of such
 * a user, or a token granting registry:admin:delete), or the registry is open and the
 * caller is on loopback.
 */
import { Router, type NextFunction, type Request, type Response } from 'express';
import type { AuthSetup } from './auth/setup.js';
import { RegistryError } from './http/errors.js';
import type { GcService } from './gc-service.js';

function isLoopback(address: string | undefined): boolean {
  return address !== undefined && (address.startsWith('127.') || address === '::1' || address.startsWith('::ffff:127.'));
}

/**
 * Refused unless the caller may delete everywhere, as the auth mode decides it: htpasswd
 * credentials of such a user (Basic), or a Bearer token granting registry:admin:delete (the
 * built-in token server grants it only to such a user; an external issuer must be told to).
 * An open registry answers only on loopback.
 */
async function mayAdminister(req: Request, auth: AuthSetup | undefined): Promise<void> {
  if (!auth || auth.mode === 'none') {
    if (isLoopback(req.socket.remoteAddress)) return;
    throw new RegistryError('DENIED', 'this registry has no access control: admin endpoints answer only on loopback');
  }
  await auth.authorizer.authorize(req, { kind: 'admin' });
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
