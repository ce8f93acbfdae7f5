/** A Wharf registry started in this process on an ephemeral port over a temp data dir. */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig, type WharfConfig } from '../../config/config.js';
import { startRegistry, type RunningRegistry } from '../../server/index.js';

export interface TestWharf extends RunningRegistry {
  root: string;
  /** host:port, as docker and skopeo name the registry */
  hostPort: string;
  /** close and remove the data dir */
  destroy(): Promise<void>;
}

export interface TestWharfOptions {
  root?: string;
  env?: Record<string, string>;
  /** a YAML config file, loaded under the env overrides (ephemeral port, temp root, silent log) */
  configFile?: string;
  /** last word on the loaded config (e.g. auth rules), before the registry starts */
  configure?: (config: WharfConfig) => void;
}

export async function startTestWharf(options: TestWharfOptions = {}): Promise<TestWharf> {
  const root = options.root ?? (await mkdtemp(join(tmpdir(), 'wharf-e2e-')));
  const config = loadConfig(options.configFile, {
    WHARF_HTTP_ADDR: '127.0.0.1:0',
    WHARF_STORAGE_ROOT: root,
    WHARF_LOG_LEVEL: 'silent',
    ...options.env,
  });
  options.configure?.(config);
  const running = await startRegistry(config);
  return {
    ...running,
    root,
    hostPort: `${new URL(running.url).hostname}:${running.port}`,
    async destroy() {
      await running.close();
      await rm(root, { recursive: true, force: true });
    },
  };
}
