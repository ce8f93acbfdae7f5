/**
 * A `wharf daemon` started for a test: its own node root, exec root and socket under a
 * temp dir, as a child process (so a test can SIGKILL it and start it again over the
 * same state), and the real docker CLI pointed at its socket.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { removeRunNetworksSync, runNetworks, type RunNetworks } from './networks.js';

export const WHARF_BIN = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'bin', 'wharf.js');

export interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a command; resolves with its exit code and output (never rejects on a non-zero exit). */
export function runCommand(cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv; input?: string; timeoutMs?: number } = {}): Promise<Ran> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env: opts.env ?? process.env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 60_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    // A command that exits before reading its stdin closes the pipe: not an error here.
    child.stdin.on('error', () => undefined);
    child.stdin.end(opts.input ?? '');
  });
}

export interface TestDaemon {
  dir: string;
  root: string;
  execRoot: string;
  socket: string;
  /** DOCKER_HOST for the docker CLI */
  host: string;
  process(): ChildProcess;
  /** docker -H <socket> ... */
  docker(args: string[], opts?: { input?: string; timeoutMs?: number }): Promise<Ran>;
  /** an Engine API request over the socket */
  api(method: string, path: string, body?: string | object): Promise<{ status: number; body: string; headers: Record<string, string | string[] | undefined> }>;
  /** SIGKILL (a crash) or SIGTERM (a clean stop); resolves once it has exited */
  stop(signal?: NodeJS.Signals): Promise<void>;
  /** starts it again over the same root */
  start(): Promise<void>;
  log(): Promise<string>;
  /** the end of a test file: removes every container (`rm -f`, with `-v` when asked),
   * stops the daemon with SIGTERM and removes its directory */
  destroy(opts?: { volumes?: boolean }): Promise<void>;
  /** its default bridge, subnet and chains: the run's own, removed when this process exits */
  networks: RunNetworks;
}

/** `args`: more `wharf daemon` flags. The default bridge, its subnet and chains are the run's
 * own (the machine is shared), removed when this process exits. */
export async function startTestDaemon(opts: { registry: string; args?: string[] }): Promise<TestDaemon> {
  const networks = runNetworks();
  process.once('exit', () => removeRunNetworksSync(networks));
  const dir = await mkdtemp(join(tmpdir(), 'wharf-daemon-'));
  const root = join(dir, 'root');
  const execRoot = join(dir, 'run');
  const socket = join(execRoot, 'api.sock');
  const logFile = join(dir, 'daemon.log');
  let child: ChildProcess | undefined;

  const api: TestDaemon['api'] = (method, path, body) =>
    new Promise((resolve, reject) => {
      const data = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
      const req = request({ socketPath: socket, method, path, headers: data !== undefined ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) } : {} }, (res) => {
        let text = '';
        res.on('data', (c: Buffer) => (text += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text, headers: res.headers }));
      });
      req.on('error', reject);
      req.end(data);
    });

  const start = async () => {
    const { openSync, closeSync } = await import('node:fs');
    const out = openSync(logFile, 'a');
    child = spawn(process.execPath, [WHARF_BIN, 'daemon', '--root', root, '--exec-root', execRoot, '-H', `unix://${socket}`, '--registry', opts.registry, '-l', 'debug', ...networks.args, ...(opts.args ?? [])], {
      stdio: ['ignore', out, out],
    });
    closeSync(out);
    for (let i = 0; i < 200; i++) {
      if (child.exitCode !== null) throw new Error(`wharf daemon exited with ${child.exitCode}: ${await readFile(logFile, 'utf8')}`);
      try {
        const r = await api('GET', '/_ping');
        if (r.status === 200) return;
      } catch {
        /* not listening yet */
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`wharf daemon did not answer /_ping: ${await readFile(logFile, 'utf8')}`);
  };
  await start();
  const host = `unix://${socket}`;
  const docker: TestDaemon['docker'] = (args, o = {}) => runCommand('docker', ['-H', host, ...args], { ...o, env: { ...process.env, DOCKER_HOST: host, DOCKER_CLI_HINTS: 'false' } });
  const stop = async (signal: NodeJS.Signals = 'SIGTERM') => {
    const c = child!;
    if (c.exitCode !== null || c.signalCode !== null) return;
    const exited = new Promise<void>((r) => c.once('exit', () => r()));
    c.kill(signal);
    await exited;
  };
  return {
    dir,
    root,
    execRoot,
    socket,
    host,
    process: () => child!,
    docker,
    api,
    stop,
    start,
    log: () => readFile(logFile, 'utf8'),
    async destroy(o = {}) {
      const ids = (await docker(['ps', '-aq'])).stdout.split('\n').filter(Boolean);
      if (ids.length > 0) await docker(['rm', '-f', ...(o.volumes ? ['-v'] : []), ...ids]);
      await stop('SIGTERM');
      await rm(dir, { recursive: true, force: true }).catch(() => undefined);
    },
    networks,
  };
}
