/**
 * The less central container routes: top, stats, archive (docker cp).
 */
import type { ContainerManager } from '../containers/manager.js';
import type { DaemonDeps } from './deps.js';
import type { Router } from './router.js';

export function registerContainerExtraRoutes(router: Router, deps: DaemonDeps, containers: ContainerManager): void {
  void router;
  void deps;
  void containers;
}
