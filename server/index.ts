/** Start the registry over the configured storage. */
import type { WharfConfig } from '../config/config.js';

export interface RunningRegistry {
  /** e.g. http://127.0.0.1:41234 */
  url: string;
  port: number;
  close(): Promise<void>;
}

export async function startRegistry(_config: WharfConfig): Promise<RunningRegistry> {
  throw new Error('not yet');
}
