/**
 * Registry credentials of the `wharf` verbs, in a docker-config-compatible file:
 * `$WHARF_CONFIG` when set, else `~/.wharf/config.json`:
 *
 *   {"auths": {"127.0.0.1:5000": {"auth": "<base64 of user:password>"}}}
 *
 * Written by `wharf login` (mode 0600, its directory 0700, replaced atomically, other keys
 * kept), read by pull, push, search and build's FROM; `wharf logout` removes an entry.
 * Keys are registry hosts as references name them (`http://` and paths are dropped, so a
 * file written by `docker login` reads the same).
 */
import { chmod, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { CliError } from './engine/client.js';

export interface StoredAuth {
  username: string;
  password: string;
}

interface ConfigFile {
  auths?: Record<string, { auth?: string; username?: string; password?: string; identitytoken?: string }>;
  [key: string]: unknown;
}

export function configPath(env: Record<string, string | undefined>): string {
  if (env.WHARF_CONFIG) return env.WHARF_CONFIG;
  return join(env.HOME || homedir(), '.wharf', 'config.json');
}

/** `https://host:5000/v1/` -> `host:5000`; localhost and 127.0.0.1 stay apart (as docker keeps them). */
export function authKey(server: string): string {
  return server.trim().replace(/^[a-z]+:\/\//i, '').split('/')[0]!.toLowerCase();
}

async function readConfig(path: string): Promise<ConfigFile> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw new CliError(`cannot read ${path}: ${(e as Error).message}`);
  }
  try {
    const parsed = JSON.parse(text) as unknown;
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error('not a JSON object');
    return parsed as ConfigFile;
  } catch (e) {
    throw new CliError(`${path} is not a valid config file: ${(e as Error).message}`);
  }
}

async function writeConfig(path: string, config: ConfigFile): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const tmp = `${path}.tmp-${process.pid}`;
  await writeFile(tmp, `${JSON.stringify(config, null, '\t')}\n`, { mode: 0o600 });
  await chmod(tmp, 0o600); // the umask may have cut the mode further, never wider; make it exact
  await rename(tmp, path);
}

export async function storeAuth(env: Record<string, string | undefined>, server: string, auth: StoredAuth): Promise<string> {
  const path = configPath(env);
  const config = await readConfig(path);
  config.auths = { ...config.auths, [authKey(server)]: { auth: Buffer.from(`${auth.username}:${auth.password}`).toString('base64') } };
  await writeConfig(path, config);
  return path;
}

/** True when there was an entry to remove. */
export async function removeAuth(env: Record<string, string | undefined>, server: string): Promise<boolean> {
  const path = configPath(env);
  const config = await readConfig(path);
  const key = authKey(server);
  if (!config.auths || !(key in config.auths)) return false;
  delete config.auths[key];
  await writeConfig(path, config);
  return true;
}

/** The stored credentials for a registry host, if any. */
export async function lookupAuth(env: Record<string, string | undefined>, registry: string): Promise<StoredAuth | undefined> {
  const config = await readConfig(configPath(env));
  const entry = config.auths?.[authKey(registry)];
  if (!entry) return undefined;
  if (entry.auth) {
    const text = Buffer.from(entry.auth, 'base64').toString('utf8');
    const colon = text.indexOf(':');
    if (colon < 0) return undefined;
    return { username: text.slice(0, colon), password: text.slice(colon + 1) };
  }
  if (entry.username !== undefined) return { username: entry.username, password: entry.password ?? entry.identitytoken ?? '' };
  return undefined;
}

/** The registry host of an image name (docker's rule: a first component with '.', ':' or localhost). */
export function registryOf(image: string, defaultRegistry: string): string {
  const slash = image.indexOf('/');
  const first = slash > 0 ? image.slice(0, slash) : '';
  return first.includes('.') || first.includes(':') || first === 'localhost' ? first : defaultRegistry;
}

/** Every stored credential by registry host (X-Registry-Config of a build). */
export async function allAuths(env: Record<string, string | undefined>): Promise<Record<string, { username: string; password: string }>> {
  const config = await readConfig(configPath(env));
  const out: Record<string, { username: string; password: string }> = {};
  for (const host of Object.keys(config.auths ?? {})) {
    const auth = await lookupAuth(env, host);
    if (auth) out[host] = auth;
  }
  return out;
}
