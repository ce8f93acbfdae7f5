/**
 * A registry for runtime tests to push to and pull from, on an ephemeral port over a temp
 * directory: Wharf itself (`startWharfRegistry`), or Debian's reference registry
 * (`docker-registry`, i.e. registry:2) to show the runtime pulls from any v2 registry.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTestWharf } from './wharf.js';

export interface TestRegistry {
  /** http://127.0.0.1:<port> */
  url: string;
  /** 127.0.0.1:<port>, as used in image references */
  host: string;
  /** the registry's process, when it runs in its own (the reference registry) */
  pid?: number;
  /** its filesystem storage's root directory, when it has one of its own */
  dataDir?: string;
  /** registry:2's Prometheus metrics (its debug listener), when asked for */
  metricsUrl?: string;
  close(): Promise<void>;
}

/** Wharf's own registry, in this process, over a temp storage root. */
export async function startWharfRegistry(): Promise<TestRegistry> {
  const wharf = await startTestWharf();
  return { url: wharf.url, host: wharf.hostPort, close: () => wharf.destroy() };
}

export const REFERENCE_REGISTRY_BIN = '/usr/bin/docker-registry';

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

/**
 * `accessLog`: log every request as registry:2 does by default (for fair benchmarks).
 * `metrics`: serve Prometheus metrics on a debug listener (its own count of the bytes it sent).
 */
export async function startReferenceRegistry(options: { accessLog?: boolean; metrics?: boolean } = {}): Promise<TestRegistry> {
  const dir = await mkdtemp(join(tmpdir(), 'wharf-refreg-'));
  const port = await freePort();
  const debugPort = options.metrics ? await freePort() : undefined;
  const configPath = join(dir, 'config.yml');
  await writeFile(
    configPath,
    [
      'version: 0.1',
      options.accessLog ? 'log: { level: info }' : 'log: { level: error, accesslog: { disabled: true } }',
      `storage: { filesystem: { rootdirectory: ${join(dir, 'data')} }, delete: { enabled: true } }`,
      debugPort === undefined
        ? `http: { addr: 127.0.0.1:${port} }`
        : `http: { addr: 127.0.0.1:${port}, debug: { addr: 127.0.0.1:${debugPort}, prometheus: { enabled: true, path: /metrics } } }`,
      '',
    ].join('\n'),
  );
  const child = spawn(REFERENCE_REGISTRY_BIN, ['serve', configPath], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr = (stderr + d).slice(-4000)));
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    if (child.exitCode !== null) throw new Error(`docker-registry exited: ${stderr}`);
    try {
      const res = await fetch(`${url}/v2/`);
      if (res.status === 200) break;
    } catch {
      /* not listening yet */
    }
    if (i > 200) {
      child.kill('SIGKILL');
      throw new Error(`docker-registry did not start on ${url}: ${stderr}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    url,
    host: `127.0.0.1:${port}`,
    pid: child.pid!,
    dataDir: join(dir, 'data'),
    ...(debugPort === undefined ? {} : { metricsUrl: `http://127.0.0.1:${debugPort}/metrics` }),
    async close() {
      child.kill('SIGTERM');
      await exited;
      await rm(dir, { recursive: true, force: true });
    },
  };
}
