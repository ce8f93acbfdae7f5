/**
 * Real peers of the end-to-end tests: programs from Debian's packages. A missing peer
 * fails the test with what to install; nothing is skipped.
 */
import { execFile, spawn } from 'node:child_process';
import { existsSync, openSync } from 'node:fs';
import { promisify } from 'node:util';

export const execFileP = promisify(execFile);

/** Fail (never skip) when `command` is not on PATH, naming the Debian package. */
export async function requireCommand(command: string, debianPackage: string): Promise<void> {
  try {
    await execFileP('sh', ['-c', `command -v ${command}`]);
  } catch {
    throw new Error(`${command} is not installed: run \`apt-get install -y ${debianPackage}\` (or .ci/run, which does)`);
  }
}

async function dockerReady(): Promise<boolean> {
  try {
    await execFileP('docker', ['info', '--format', '{{.ServerVersion}}'], { timeout: 10_000 });
    return true;
  } catch {
    return false;
  }
}

/**
 * A running dockerd: the one already up, or one started here in the background
 * (`--iptables=false --bridge=none`: nothing it does reaches beyond this machine).
 * It stays up for later tests.
 */
export async function ensureDockerd(): Promise<void> {
  await requireCommand('docker', 'docker.io');
  await requireCommand('dockerd', 'docker.io');
  if (await dockerReady()) return;
  const log = '/tmp/wharf-test-dockerd.log';
  const out = openSync(log, 'a');
  const child = spawn('dockerd', ['--iptables=false', '--bridge=none'], { detached: true, stdio: ['ignore', out, out] });
  child.unref();
  for (let i = 0; i < 120; i++) {
    if (await dockerReady()) return;
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`dockerd did not come up in 60 s; see ${log}${existsSync(log) ? '' : ' (missing)'}`);
}

/** Run a command, resolving with stdout; a failure carries stderr in its message. */
export async function run(command: string, args: string[], options: { timeout?: number; env?: Record<string, string> } = {}): Promise<string> {
  try {
    const env = { ...process.env, ...options.env };
    const { stdout } = await execFileP(command, args, { timeout: options.timeout ?? 300_000, maxBuffer: 64 << 20, env });
    return stdout;
  } catch (err) {
    const e = err as { stderr?: string; stdout?: string; message: string };
    throw new Error(`${command} ${args.join(' ')} failed: ${e.message}\n${e.stderr ?? ''}${e.stdout ?? ''}`);
  }
}
