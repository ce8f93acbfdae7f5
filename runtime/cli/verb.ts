/**
 * What every client verb shares: the daemon it talks to (-H, else WHARF_HOST, else the
 * default socket), and how a failure ends it (the message on stderr, docker's exit code).
 * Only the client module is loaded, and only when the verb runs.
 */
import type { Command } from 'commander';
import type { EngineClient, HostChoice } from './engine/client.js';
import type { BlobStore } from '../../storage/types.js';

export interface CliContext {
  /** the environment, read once by bin/wharf.ts: WHARF_HOST, and host values for bare `-e KEY` */
  env: Record<string, string | undefined>;
  /**
   * Opens a co-located registry's blob store over its data directory (`wharf daemon
   * --registry-data`). Given by bin/wharf.ts, the composition root: the runtime knows
   * storage only by its interfaces (storage/types.ts), never its drivers.
   */
  openRegistryBlobStore?: (dataDir: string) => Promise<BlobStore>;
}

let context: CliContext = { env: {} };

export function setCliContext(c: CliContext): void {
  context = c;
}

export function cliEnv(): Record<string, string | undefined> {
  return context.env;
}

export function cliContext(): CliContext {
  return context;
}

/** The host the user chose for this command line (the program-level -H flag first). */
export async function hostChoice(cmd: Command): Promise<HostChoice> {
  const { resolveHost } = await import('./engine/client.js');
  const globals = cmd.optsWithGlobals() as { host?: string };
  return resolveHost(globals.host, { WHARF_HOST: context.env.WHARF_HOST });
}

export async function connect(cmd: Command): Promise<EngineClient> {
  const { EngineClient } = await import('./engine/client.js');
  const client = new EngineClient((await hostChoice(cmd)).host);
  // Every verb's first request waits for the version negotiation: its /_ping goes now, and
  // the daemon answers while the verb prepares that request. Its failure is the request's.
  client.apiVersion().catch(() => undefined);
  return client;
}

/**
 * Runs a verb's body against the daemon. A CliError prints its message (with `prefix`,
 * as `docker run` prints "docker: …") and sets its exit code; the body may return an
 * exit code of its own (wait, run, exec).
 */
export async function clientVerb(cmd: Command, body: (client: EngineClient) => Promise<number | void>, prefix = ''): Promise<void> {
  const { CliError } = await import('./engine/client.js');
  let client: EngineClient | undefined;
  try {
    client = await connect(cmd);
    const code = await body(client);
    if (typeof code === 'number') process.exitCode = code;
  } catch (e) {
    if (!(e instanceof CliError)) throw e;
    process.stderr.write(`${prefix}${e.message}\n`);
    process.exitCode = e.exitCode;
  } finally {
    client?.close();
    clientVerbsDone++;
  }
}

let clientVerbsDone = 0;

/**
 * A client verb has nothing left to do once its body has finished: the daemon holds the
 * containers, and its output has been written (stdout and stderr are synchronous for files,
 * pipes and terminals on Linux; what is still queued is waited for). bin/wharf.ts then exits
 * at once instead of letting node tear the heap down (~3 ms of a `wharf run`).
 */
export function exitAfterClientVerb(): void {
  if (clientVerbsDone === 0) return;
  const queued = [process.stdout, process.stderr].filter((s) => s.writableLength > 0);
  let left = queued.length;
  if (left === 0) process.exit();
  for (const s of queued) s.once('drain', () => --left === 0 && process.exit());
}

/**
 * Verbs over several containers (stop a b c): each success prints its argument, each
 * failure its message; exit 1 when any failed (docker's rule).
 */
export async function forEach(names: string[], each: (name: string) => Promise<string | void>): Promise<void> {
  const { CliError } = await import('./engine/client.js');
  const failed: string[] = [];
  for (const name of names) {
    try {
      const out = await each(name);
      process.stdout.write(`${out ?? name}\n`);
    } catch (e) {
      if (!(e instanceof CliError)) throw e;
      failed.push(e.message);
    }
  }
  if (failed.length > 0) throw new CliError(failed.join('\n'));
}

export const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

/**
 * Verbs that also work without a daemon (run, pull, images, rmi): `--root` given means
 * the node root on this machine, in this process (today's path, no daemon needed); a host
 * the user named (-H, WHARF_HOST) means that daemon; otherwise the default socket when a
 * daemon answers there, else the default node root in this process.
 */
export async function useDaemon(cmd: Command): Promise<boolean> {
  if (cmd.getOptionValueSource('root') === 'cli') return false;
  const choice = await hostChoice(cmd);
  if (choice.explicit) return true;
  const { EngineClient } = await import('./engine/client.js');
  const client = new EngineClient(choice.host);
  try {
    return await client.reachable();
  } finally {
    client.close();
  }
}

/** A name without a registry host gets `registry` in front (the user's --registry), ids stay as they are. */
export function qualifyName(image: string, registry: string | undefined): string {
  if (!registry) return image;
  const first = image.split('/')[0]!;
  const hasHost = image.includes('/') && (first.includes('.') || first.includes(':') || first === 'localhost');
  return hasHost || /^(sha256:)?[0-9a-f]{12,64}$/.test(image) ? image : `${registry}/${image}`;
}
