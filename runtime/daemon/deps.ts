/**
 * What route modules get: `register<Noun>Routes(router, deps)` (verdaccio's shape), so a
 * test wires the same routes over a temp node root. The daemon (server.ts) builds one.
 */
import type { Logger } from 'pino';
import type { NodeLayout } from '../layout.js';
import type { ImageStore } from '../images/store.js';
import type { EventBus } from './events.js';

/** What the image routes need from the containers: who uses an image (rmi answers 409). */
export interface ImageUsers {
  /** ids of the containers (any state) created from the image with this config digest */
  containersUsingImage(imageId: string): string[];
  /** the same, each with whether it runs (rmi -f cannot remove an image a running container uses) */
  imageUsers(imageId: string): Array<{ id: string; running: boolean }>;
}

export interface ContainerCounts {
  total: number;
  running: number;
  paused: number;
  stopped: number;
}

export interface DaemonDeps {
  layout: NodeLayout;
  images: ImageStore;
  /** registry for image names without a host (as `wharf run --registry`) */
  defaultRegistry: string;
  containers: ImageUsers & { counts(): ContainerCounts };
  events: EventBus;
  log: Logger;
}
