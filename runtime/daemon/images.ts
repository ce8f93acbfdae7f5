/**
 * Image routes of the Engine API (images/create, images/json, {name}/json, tag, DELETE).
 * Owned by the daemon-cli work: this placeholder only fixes the seam the server calls.
 */
import type { Router } from './router.js';
import type { DaemonDeps } from './deps.js';

export function registerImageRoutes(router: Router, deps: DaemonDeps): void {
  void router;
  void deps;
}
