/** A Wharf registry started in this process on an ephemeral port over a temp data dir. */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../config/config.js';
import { startRegistry, type RunningRegistry } from '../../server/index.js';

export interface TestWharf extends RunningRegistry {
  root: string;
  /** host:port, as docker and skopeo name the registry */
  hostPort: string;
  /** close and remove the data dir */
  destroy(): Promise<void>;
}

export async function startTestWharf(options: { root?: string; env?: Record<string, string> } = {}): Promise<TestWharf> {
  const root = options.root ?? (await mkdtemp(join(tmpdir(), 'wharf-e2e-')));
  const config = loadConfig(undefined, {
    WHARF_HTTP_ADDR: '127.0.0.1:0',
    WHARF_STORAGE_ROOT: root,
    WHARF_LOG_LEVEL: 'silent',
    ...options.env,
  });
  const running = await startRegistry(config);
  return {
    ...running,
    root,
    hostPort: `127.0.0.1:${running.port}`,
    async destroy() {
      await running.close();
      await rm(root, { recursive: true, force: true });
    },
  };
}
