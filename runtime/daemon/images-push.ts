/**
 * POST /images/{name}/push?tag= with X-Registry-Auth: a push answered with Docker's JSON
 * progress stream (moby distribution/push_v2.go), so `docker push` draws its lines:
 *
 *   {"status":"The push refers to repository [127.0.0.1:5000/team/app]"}
 *   {"status":"Preparing","progressDetail":{},"id":"<12 hex of the diffID>"}   per layer
 *   {"status":"Layer already exists", ...} | {"status":"Mounted from team/base", ...}
 *   {"status":"Pushing","progressDetail":{"current":n,"total":t},"progress":"[=> ] …"}
 *   {"status":"Pushed", ...}
 *   {"status":"<tag>: digest: sha256:… size: 528"}
 *   {"progressDetail":{},"aux":{"Tag":"<tag>","Digest":"sha256:…","Size":528}}
 *
 * Without a tag every tag of the repository on the node is pushed, as dockerd does. An
 * image the node lacks is a 404 before the stream starts; a registry failure later is an
 * in-band `{"error","errorDetail"}` message.
 */
import type { Call } from './router.js';
import type { DaemonDeps } from './deps.js';
import { EngineError, badParameter } from './errors.js';
import { decodeRegistryAuth, shortId } from './image-views.js';
import { progressBar } from './images-pull.js';
import type { PushProgress } from '../images/push.js';
import { formatReference } from '../../oci/reference.js';

interface Message {
  status?: string;
  id?: string;
  progressDetail?: { current?: number; total?: number };
  progress?: string;
  aux?: { Tag: string; Digest: string; Size: number };
  error?: string;
  errorDetail?: { message: string };
}

function pushError(reference: string, e: unknown): EngineError {
  const err = e as Error & { status?: number; code?: string };
  if (err.name === 'InvalidReferenceError') return badParameter(`invalid reference format: ${err.message}`);
  if (err.name === 'ImageNotFoundError') return new EngineError('notFound', err.message, { cause: e });
  if (err.name === 'UnauthorizedError' || err.status === 401 || err.status === 403) return new EngineError('unauthorized', `denied: requested access to the resource is denied (${reference}): ${err.message}`, { cause: e });
  const cause = (e as { cause?: { code?: string; message?: string } }).cause;
  return new EngineError('system', `pushing ${reference}: ${err.message}${cause ? ` (${cause.code ?? cause.message})` : ''}`, { cause: e });
}

/** The references to push: name:tag, the name's own tag, or every tag of the repository on the node. */
async function referencesToPush(deps: DaemonDeps, name: string, tag: string): Promise<string[]> {
  let ref;
  try {
    ref = deps.images.parse(tag ? `${name}:${tag}` : name);
  } catch (e) {
    throw pushError(name, e);
  }
  if (tag || ref.digest || /:[^/]+$/.test(name)) {
    const full = formatReference(ref);
    if (!(await deps.images.get(full))) throw new EngineError('notFound', `An image does not exist locally with the tag: ${name}${tag ? `:${tag}` : ''}`);
    return [full];
  }
  const all = (await deps.images.list()).filter((r) => r.registry === ref.registry && r.repository === ref.repository && r.tag);
  if (all.length === 0) throw new EngineError('notFound', `An image does not exist locally with the tag: ${name}`);
  return all.map((r) => r.reference).sort();
}

export async function pushWithProgress(call: Call, deps: DaemonDeps): Promise<void> {
  const res = call.res;
  if (!res) throw badParameter('/images/{name}/push does not upgrade the connection');
  const name = call.params.name!;
  const credentials = decodeRegistryAuth(call.req.headers['x-registry-auth']);
  const references = await referencesToPush(deps, name, call.query.get('tag') ?? '');
  res.writeHead(200, { 'Content-Type': 'application/json' });
  const write = (m: Message) => res.write(`${JSON.stringify(m)}\r\n`);
  const first = deps.images.parse(references[0]!);
  write({ status: `The push refers to repository [${first.registry}/${first.repository}]` });
  const last = new Map<string, { phase: PushProgress['phase']; at: number }>();
  const onProgress = (p: PushProgress) => {
    const id = shortId(p.layer);
    const prev = last.get(id);
    const now = Date.now();
    if (p.phase === 'pushing' && prev?.phase === 'pushing' && now - prev.at < 100 && p.current < p.size) return;
    last.set(id, { phase: p.phase, at: now });
    const status = { preparing: 'Preparing', exists: 'Layer already exists', mounted: `Mounted from ${p.from}`, linked: 'Linked into the co-located registry', pushing: 'Pushing', pushed: 'Pushed' }[p.phase];
    if (p.phase === 'pushing') write({ status, progressDetail: { current: p.current, total: p.size }, progress: progressBar(p.current, p.size), id });
    else write({ status, progressDetail: {}, id });
  };
  for (const reference of references) {
    try {
      const { pushImage } = await import('../images/push.js');
      const pushed = await pushImage(deps.images, reference, { ...(credentials ? { credentials } : {}), onProgress });
      write({ status: `${pushed.tag || pushed.digest}: digest: ${pushed.digest} size: ${pushed.size}` });
      write({ progressDetail: {}, aux: { Tag: pushed.tag, Digest: pushed.digest, Size: pushed.size } });
      deps.events.emit('image', 'push', reference, { name: reference });
    } catch (e) {
      const err = pushError(reference, e);
      call.log.warn({ err: e, reference }, 'push failed');
      write({ errorDetail: { message: err.message }, error: err.message });
      break;
    }
  }
  res.end();
}
