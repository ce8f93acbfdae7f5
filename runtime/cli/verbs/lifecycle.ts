/**
 * The container verbs that are one call each: start, stop, kill, restart, rm, pause,
 * unpause, rename, wait. Names, ids and unique id prefixes are resolved by the daemon.
 */
import type { EngineClient } from '../engine/client.js';
import { CliError } from '../engine/client.js';
import { forEach } from '../verb.js';

const path = (name: string, tail = ''): string => `/containers/${encodeURIComponent(name)}${tail}`;

export async function stop(client: EngineClient, names: string[], opts: { time?: string; signal?: string }): Promise<void> {
  await forEach(names, async (n) => {
    await client.request('POST', path(n, '/stop'), { query: { t: opts.time, signal: opts.signal } });
  });
}

export async function restart(client: EngineClient, names: string[], opts: { time?: string; signal?: string }): Promise<void> {
  await forEach(names, async (n) => {
    await client.request('POST', path(n, '/restart'), { query: { t: opts.time, signal: opts.signal } });
  });
}

export async function kill(client: EngineClient, names: string[], opts: { signal?: string }): Promise<void> {
  await forEach(names, async (n) => {
    await client.request('POST', path(n, '/kill'), { query: { signal: opts.signal } });
  });
}

export async function rm(client: EngineClient, names: string[], opts: { force?: boolean; volumes?: boolean }): Promise<void> {
  await forEach(names, async (n) => {
    await client.request('DELETE', path(n), { query: { force: opts.force, v: opts.volumes } });
  });
}

export async function pause(client: EngineClient, names: string[]): Promise<void> {
  await forEach(names, async (n) => void (await client.request('POST', path(n, '/pause'))));
}

export async function unpause(client: EngineClient, names: string[]): Promise<void> {
  await forEach(names, async (n) => void (await client.request('POST', path(n, '/unpause'))));
}

export async function rename(client: EngineClient, from: string, to: string): Promise<void> {
  await client.request('POST', path(from, '/rename'), { query: { name: to } });
}

/** docker wait: each container's exit code on its own line. */
export async function wait(client: EngineClient, names: string[]): Promise<void> {
  await forEach(names, async (n) => {
    const res = await client.json<{ StatusCode: number }>('POST', path(n, '/wait'));
    return String(res.StatusCode);
  });
}

/** docker start: each failure, then "Error: failed to start containers: a, b". */
export async function startDetached(client: EngineClient, names: string[]): Promise<void> {
  const failed: string[] = [];
  const messages: string[] = [];
  for (const n of names) {
    try {
      await client.request('POST', path(n, '/start'));
      process.stdout.write(`${n}\n`);
    } catch (e) {
      if (!(e instanceof CliError)) throw e;
      failed.push(n);
      messages.push(e.message);
    }
  }
  if (failed.length > 0) throw new CliError(`${messages.join('\n')}\nError: failed to start containers: ${failed.join(', ')}`);
}
