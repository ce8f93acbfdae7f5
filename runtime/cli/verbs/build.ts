/**
 * `wharf build`: a thin client of POST /build, as `DOCKER_BUILDKIT=0 docker build` is. The
 * context directory is sent as a tar, without what its `.dockerignore` excludes (the
 * Dockerfile and .dockerignore themselves always go, as the docker CLI sends them); `-` sends
 * the tar read from stdin as it is. The daemon's JSON message stream is printed as the
 * docker CLI prints it; an error ends the build with its message and the exit code of the
 * failed RUN.
 */
import { createReadStream } from 'node:fs';
import { lstat, readdir, readFile, readlink } from 'node:fs/promises';
import { join, posix, relative, resolve } from 'node:path';
import { pipeline } from 'node:stream/promises';
import * as tar from 'tar-stream';
import type { EngineClient } from '../engine/client.js';
import { CliError } from '../engine/client.js';
import { jsonMessages } from './pull-progress.js';
import { cliEnv } from '../verb.js';
import { isIgnored, parseDockerignore, type IgnoreRule } from '../../images/build/dockerignore.js';

export interface BuildFlags {
  tags: string[];
  file?: string;
  buildArgs: string[];
  noCache?: boolean;
  target?: string;
  network?: string;
  quiet?: boolean;
  labels: string[];
  env: Record<string, string | undefined>;
}

/** The context directory as a tar stream, .dockerignore applied. */
function packContext(dir: string, rules: IgnoreRule[], keep: Set<string>): tar.Pack {
  const pack = tar.pack();
  const add = async (rel: string): Promise<void> => {
    for (const name of (await readdir(join(dir, rel))).sort()) {
      const path = rel ? `${rel}/${name}` : name;
      const host = join(dir, path);
      const st = await lstat(host);
      const ignored = !keep.has(path) && isIgnored(path, rules);
      if (ignored && !(st.isDirectory() && rules.some((r) => r.exception))) continue;
      // the whole st_mode: tar-stream writes its permission bits, and would take 0 as "none" (0644)
      const base = { name: path, mode: st.mode, mtime: st.mtime, uid: 0, gid: 0 };
      if (st.isDirectory()) {
        if (!ignored) await entry(pack, { ...base, type: 'directory' });
        await add(path);
      } else if (ignored) {
        continue;
      } else if (st.isSymbolicLink()) {
        await entry(pack, { ...base, type: 'symlink', linkname: await readlink(host) });
      } else if (st.isFile()) {
        await pipeline(createReadStream(host), pack.entry({ ...base, type: 'file', size: st.size }));
      }
    }
  };
  void add('').then(
    () => pack.finalize(),
    (e: Error) => pack.destroy(e),
  );
  return pack;
}

function entry(pack: tar.Pack, header: Parameters<tar.Pack['entry']>[0]): Promise<void> {
  return new Promise((res, rej) => pack.entry(header, Buffer.alloc(0), (e) => (e ? rej(e) : res())));
}

function keyValues(list: string[], env: Record<string, string | undefined>, what: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const kv of list) {
    const i = kv.indexOf('=');
    if (i === 0) throw new CliError(`invalid ${what}: ${kv}`, 125);
    if (i < 0) {
      // `--build-arg NAME` takes the value from the environment, as docker does
      const v = env[kv];
      if (v !== undefined) out[kv] = v;
    } else out[kv.slice(0, i)] = kv.slice(i + 1);
  }
  return out;
}

export async function buildImage(client: EngineClient, context: string, f: BuildFlags): Promise<number> {
  const query = new URLSearchParams();
  for (const t of f.tags) query.append('t', t);
  let body: NodeJS.ReadableStream;
  if (context === '-') {
    body = process.stdin;
    if (f.file) query.set('dockerfile', f.file);
  } else {
    const dir = resolve(context);
    const st = await lstat(dir).catch(() => undefined);
    if (!st?.isDirectory()) throw new CliError(`unable to prepare context: path "${context}" not found`, 1);
    const dockerfile = f.file ? relative(dir, resolve(f.file)) : 'Dockerfile';
    if (dockerfile.startsWith('..')) throw new CliError(`the Dockerfile (${f.file}) must be within the build context`, 1);
    query.set('dockerfile', posix.normalize(dockerfile.split('\\').join('/')));
    const rules = parseDockerignore(await readFile(join(dir, '.dockerignore'), 'utf8').catch(() => ''));
    body = packContext(dir, rules, new Set([dockerfile, '.dockerignore'])) as unknown as NodeJS.ReadableStream;
  }
  const args = keyValues(f.buildArgs, f.env, 'build-arg');
  if (Object.keys(args).length) query.set('buildargs', JSON.stringify(args));
  const labels = keyValues(f.labels, {}, 'label');
  if (Object.keys(labels).length) query.set('labels', JSON.stringify(labels));
  if (f.noCache) query.set('nocache', '1');
  if (f.target) query.set('target', f.target);
  if (f.network) query.set('networkmode', f.network);
  if (f.quiet) query.set('q', '1');
  query.set('rm', '1');
  // Every stored credential, as the docker CLI sends them: the daemon picks the one of each FROM's registry.
  const { allAuths } = await import('../auth-config.js');
  const registryConfig = Buffer.from(JSON.stringify(await allAuths(cliEnv()))).toString('base64url');
  const res = await client.stream('POST', `/build?${query.toString()}`, { body, headers: { 'Content-Type': 'application/x-tar', 'X-Registry-Config': registryConfig } });
  for await (const m of jsonMessages(res)) {
    if (m.error || m.errorDetail) {
      const code = m.errorDetail?.code;
      throw new CliError(m.errorDetail?.message ?? m.error ?? 'build failed', typeof code === 'number' && code > 0 ? code : 1);
    }
    if (m.stream !== undefined) process.stdout.write(m.stream);
  }
  return 0;
}
