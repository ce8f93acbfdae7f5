/**
 * `POST /build` (the classic builder's API, what `DOCKER_BUILDKIT=0 docker build` sends): the
 * request body is the context as a tar (plain or gzip'd); the query carries
 * t (repeatable), dockerfile, buildargs and labels (JSON objects), nocache, target,
 * networkmode, q, rm, forcerm, platform. The answer is Docker's JSON message stream:
 *
 *   {"stream":"Step 1/4 : FROM …\n"} … {"aux":{"ID":"sha256:…"}}
 *   {"stream":"Successfully built <12 hex>\n"} {"stream":"Successfully tagged name:tag\n"}
 *   and on failure {"errorDetail":{"code":N,"message":…},"error":…} (the CLI exits with N)
 *
 * The context is extracted under the node root (runtime/images/build/context.ts: no entry
 * may escape), `.dockerignore` applied (the docker CLI already left those files out; other
 * clients may not), and removed when the build ends. Intermediate containers are always
 * removed (rm and forcerm are Docker's defaults and the only behaviour here).
 */
import { mkdir, readdir, readFile, rm } from 'node:fs/promises';
import { posix } from 'node:path';
import type { Call, Router } from './router.js';
import type { DaemonDeps } from './deps.js';
import { decodeRegistryConfig } from './image-views.js';
import type { Credentials } from '../../oci/client.js';
import type { ContainerManager } from '../containers/manager.js';
import { badParameter } from './errors.js';
import { resolveInRoot } from '../layers/in-root.js';
import { readFileInRoot } from '../layers/in-root.js';
import { isIgnored, parseDockerignore, type IgnoreRule } from '../images/build/dockerignore.js';
import { DockerfileError } from '../images/build/dockerfile.js';

export function registerBuildRoutes(router: Router, deps: DaemonDeps, containers: ContainerManager): void {
  router.post('/build', (call) => build(call, deps, containers));
}

const truthy = (v: string | null): boolean => v !== null && v !== '' && v !== '0' && v.toLowerCase() !== 'false';

function jsonObject(call: Call, name: string): Record<string, string> {
  const raw = call.query.get(name);
  if (!raw) return {};
  let v: unknown;
  try {
    v = JSON.parse(raw);
  } catch {
    throw badParameter(`${name}: invalid JSON: ${raw}`);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw badParameter(`${name} must be a JSON object`);
  const out: Record<string, string> = {};
  // buildargs: a null value means "take it from the client's environment", which the CLI already did
  for (const [k, val] of Object.entries(v)) if (val !== null) out[k] = String(val);
  return out;
}

/** Remove what .dockerignore excludes (walking only into directories that are not wholly excluded). */
async function applyIgnore(dir: string, rules: IgnoreRule[], rel = ''): Promise<void> {
  for (const e of await readdir(posix.join(dir, rel), { withFileTypes: true })) {
    const path = rel ? `${rel}/${e.name}` : e.name;
    if (isIgnored(path, rules)) {
      if (e.isDirectory() && rules.some((r) => r.exception)) {
        await applyIgnore(dir, rules, path);
        if ((await readdir(posix.join(dir, path))).length === 0) await rm(posix.join(dir, path), { recursive: true });
      } else {
        await rm(posix.join(dir, path), { recursive: true, force: true });
      }
    } else if (e.isDirectory()) {
      await applyIgnore(dir, rules, path);
    }
  }
}

/** FROM's pull, with the client's credentials for that registry (X-Registry-Config), if any. */
function pullWithConfig(deps: DaemonDeps, reference: string, credentialsFor: (registry: string) => Credentials | undefined) {
  const credentials = credentialsFor(deps.images.parse(reference).registry);
  return deps.images.pull(reference, credentials ? { credentials } : {});
}

async function build(call: Call, deps: DaemonDeps, containers: ContainerManager): Promise<void> {
  const q = call.query;
  const credentialsFor = decodeRegistryConfig(call.req.headers['x-registry-config']);
  if (q.get('remote')) throw badParameter('building from a remote context (remote=) is not supported by this daemon: send the context as a tar');
  const platform = q.get('platform');
  if (platform && platform !== 'linux/amd64' && platform !== 'linux') throw badParameter(`platform ${platform} is not supported on this node: only linux/amd64`);
  const tags = q.getAll('t').filter((t) => t !== '');
  for (const t of tags) {
    try {
      const ref = deps.images.parse(t);
      if (ref.digest) throw new Error('a build tag cannot name a digest');
    } catch (e) {
      throw badParameter(`invalid reference format: ${t}: ${(e as Error).message}`);
    }
  }
  const buildArgs = jsonObject(call, 'buildargs');
  const labels = jsonObject(call, 'labels');
  const dockerfileName = q.get('dockerfile') || 'Dockerfile';
  const quiet = truthy(q.get('q'));
  const res = call.res!;

  const layout = deps.layout;
  const contextDir = layout.buildTmpDir();
  await mkdir(posix.dirname(contextDir), { recursive: true });
  res.writeHead(200, { 'Content-Type': 'application/json' });
  const send = (m: object) => res.write(`${JSON.stringify(m)}\n`);
  // The builder and the context's tar reader load on the first build: the daemon's idle
  // footprint stays small.
  const [{ extractContext }, { Builder, BuildError }] = await Promise.all([import('../images/build/context.js'), import('../images/build/builder.js')]);
  const stream = (text: string) => {
    if (!quiet) send({ stream: text });
  };
  let contextDigests: ReadonlyMap<string, string> | undefined;
  // a Dockerfile at the context's top level comes from the extraction, as does .dockerignore
  const topDockerfile = /^[^/]+$/.test(dockerfileName) && dockerfileName !== '.' && dockerfileName !== '..' ? dockerfileName : undefined;
  let top = new Map<string, Buffer | null>();
  try {
    try {
      const extracted = await extractContext(call.req, contextDir, [topDockerfile ?? '', '.dockerignore']);
      contextDigests = extracted.digests;
      top = extracted.top;
    } catch (e) {
      throw new BuildError((e as Error).message.startsWith('the build context') ? (e as Error).message : `the build context is not a valid tar archive: ${(e as Error).message}`);
    }
    // from the directory (inside the root) when the extraction did not keep the bytes; a
    // top-level name the tar has no entry for is not there
    const inTop = (name: string | undefined) => (name === undefined ? undefined : top.get(name));
    const fromTop = inTop(topDockerfile);
    const dockerfile =
      fromTop ?? (topDockerfile !== undefined && fromTop === undefined ? undefined : await readFileInRoot(contextDir, `/${dockerfileName}`, 16 * 1024 * 1024).catch(() => undefined));
    if (!dockerfile) throw new BuildError(`Cannot locate specified Dockerfile: ${dockerfileName}`);
    const ignoreTop = inTop('.dockerignore');
    const ignore =
      ignoreTop === undefined ? '' : ignoreTop !== null ? ignoreTop.toString('utf8') : await readFile(await resolveInRoot(contextDir, '/.dockerignore'), 'utf8').catch(() => '');
    if (ignore) await applyIgnore(contextDir, parseDockerignore(ignore));
    const builder = new Builder(
      {
        contextDir,
        ...(contextDigests ? { contextDigests } : {}),
        dockerfileText: dockerfile.toString('utf8'),
        dockerfileName: posix.basename(dockerfileName),
        tags,
        buildArgs,
        noCache: truthy(q.get('nocache')),
        ...(q.get('target') ? { target: q.get('target')! } : {}),
        networkMode: q.get('networkmode') || 'default',
        labels,
      },
      { layout, images: deps.images, containers, pull: (ref) => pullWithConfig(deps, ref, credentialsFor) },
      { stream },
    );
    const id = await builder.run();
    send({ aux: { ID: id } });
    if (quiet) send({ stream: `${id}\n` });
    stream(`Successfully built ${id.slice('sha256:'.length, 'sha256:'.length + 12)}\n`);
    for (const t of tags) stream(`Successfully tagged ${t.includes(':') && t.lastIndexOf(':') > t.lastIndexOf('/') ? t : `${t}:latest`}\n`);
    deps.log.info({ id, tags, containersStarted: builder.started }, 'build done');
  } catch (e) {
    const err = e as Error;
    const code = e instanceof BuildError ? e.code : 1;
    if (!(e instanceof BuildError || e instanceof DockerfileError)) deps.log.warn({ err }, 'build failed');
    send({ errorDetail: { code, message: err.message }, error: err.message });
  } finally {
    res.end();
    await rm(contextDir, { recursive: true, force: true }).catch(() => undefined);
  }
}
