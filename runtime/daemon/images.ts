/**
 * Image routes of the Engine API, over the node's ImageStore (moby api/server/router/image):
 *
 *   POST   /images/create?fromImage=&tag=   pull, answered with Docker's JSON progress stream
 *   GET    /images/json?all=&filters=       list (one entry per image ID)
 *   GET    /images/{name}/json              inspect, in Docker's shape
 *   POST   /images/{name}/tag?repo=&tag=    201
 *   DELETE /images/{name}?force=&noprune=   [{Untagged}, {Deleted}], 409 while a container uses it
 *   POST   /images/{name}/push?tag=         images-push.ts
 *   GET    /images/get, /images/{name}/get, POST /images/load      images-archive.ts
 *   GET    /images/{name}/history, POST /images/prune              images-extras.ts
 *   POST   /auth, GET /images/search                               auth.ts
 *
 * `{name}` is a reference (names without a registry get the daemon's default registry) or
 * an image ID or a unique prefix of one. Wording of the errors is dockerd's, so scripts
 * that match on it keep working.
 */
import { sendEmpty, sendJson, type Call, type Router } from './router.js';
import { parseFilters } from './containers.js';
import type { DaemonDeps } from './deps.js';
import { EngineError, badParameter, conflict, noSuchImage } from './errors.js';
import type { ImageRecord } from '../images/store.js';
import { ImageNotFoundError } from '../images/store.js';
import { decodeRegistryAuth, imageInspect, imageSummaries, matchesReferenceFilter, shortId } from './image-views.js';
import { pullWithProgress } from './images-pull.js';
import { pushWithProgress } from './images-push.js';
import { registerArchiveRoutes } from './images-archive.js';
import { registerImageExtraRoutes } from './images-extras.js';
import { registerAuthRoutes } from './auth.js';

export function registerImageRoutes(router: Router, deps: DaemonDeps): void {
  router.post('/images/create', (call) => createImage(call, deps));
  router.get('/images/json', (call) => listImages(call, deps));
  router.get('/images/{name*}/json', (call) => inspectImage(call, deps));
  router.post('/images/{name*}/tag', (call) => tagImage(call, deps));
  router.delete('/images/{name*}', (call) => deleteImage(call, deps));
  router.post('/images/{name*}/push', (call) => pushWithProgress(call, deps));
  registerArchiveRoutes(router, deps);
  registerImageExtraRoutes(router, deps);
  registerAuthRoutes(router, deps);
}

/** The record `name` names, or 404 "No such image" (an ambiguous ID prefix too, as dockerd). */
async function findImage(deps: DaemonDeps, name: string): Promise<ImageRecord> {
  let rec: ImageRecord | undefined;
  try {
    rec = await deps.images.get(name);
  } catch (e) {
    if (e instanceof ImageNotFoundError) throw new EngineError('notFound', `No such image: ${name} (${e.message})`);
    throw e;
  }
  if (!rec) throw noSuchImage(name);
  return rec;
}

async function createImage(call: Call, deps: DaemonDeps): Promise<void> {
  const fromImage = call.query.get('fromImage');
  if (call.query.get('fromSrc')) throw new EngineError('notImplemented', 'importing images (fromSrc) is not supported by this daemon: push the image to a registry and pull it');
  if (!fromImage) throw badParameter('fromImage is required: POST /images/create?fromImage=NAME&tag=TAG');
  const tag = call.query.get('tag') ?? '';
  // The docker CLI sends the tag apart; a digest goes in the same parameter.
  let reference = fromImage;
  if (tag !== '') reference = /^[a-z0-9]+:[0-9a-f]{32,}$/.test(tag) ? `${fromImage}@${tag}` : `${fromImage}:${tag}`;
  const platform = call.query.get('platform');
  const credentials = decodeRegistryAuth(call.req.headers['x-registry-auth']);
  await pullWithProgress(call, deps, reference, { ...(credentials ? { credentials } : {}), ...(platform ? { platform } : {}) });
}

async function listImages(call: Call, deps: DaemonDeps): Promise<void> {
  const filters = parseFilters(call.query.get('filters'), ['reference', 'dangling', 'label']);
  const references = filters.reference ?? [];
  const dangling = filters.dangling?.[0];
  const records = await deps.images.list();
  let summaries = imageSummaries(records, (id) => deps.containers.containersUsingImage(id).length);
  if (references.length > 0) {
    summaries = summaries
      .map((s) => ({ ...s, RepoTags: s.RepoTags.filter((t) => references.some((p) => matchesReferenceFilter(p, t, deps.defaultRegistry))) }))
      .filter((s) => s.RepoTags.length > 0);
  }
  if (dangling === 'true' || dangling === '1') summaries = summaries.filter((s) => s.RepoTags.length === 0);
  if (dangling === 'false' || dangling === '0') summaries = summaries.filter((s) => s.RepoTags.length > 0);
  for (const label of filters.label ?? []) {
    const [k, v] = label.split('=', 2) as [string, string | undefined];
    summaries = summaries.filter((s) => k in s.Labels && (v === undefined || s.Labels[k] === v));
  }
  sendJson(call, 200, summaries);
}

async function inspectImage(call: Call, deps: DaemonDeps): Promise<void> {
  const rec = await findImage(deps, call.params.name!);
  const siblings = (await deps.images.list()).filter((r) => r.configDigest === rec.configDigest);
  // Author and Comment live only in the config blob (commit and build write them).
  const config = await deps.images.readConfig(rec).catch(() => ({}) as Record<string, unknown>);
  const text = (v: unknown) => (typeof v === 'string' ? v : undefined);
  const fromConfig = { ...(text(config.author) ? { author: text(config.author)! } : {}), ...(text(config.comment) ? { comment: text(config.comment)! } : {}) };
  sendJson(call, 200, imageInspect(rec, siblings, call.version, fromConfig));
}

async function tagImage(call: Call, deps: DaemonDeps): Promise<void> {
  const source = await findImage(deps, call.params.name!);
  const repo = call.query.get('repo');
  if (!repo) throw badParameter('repository name must have at least one component');
  const tag = call.query.get('tag') || 'latest';
  try {
    await deps.images.tag(source, `${repo}:${tag}`);
  } catch (e) {
    if ((e as Error).name === 'InvalidReferenceError' || (e as Error).name === 'ImageFormatError') throw badParameter(`invalid reference format: ${(e as Error).message}`);
    throw e;
  }
  deps.events.emit('image', 'tag', source.configDigest, { name: `${repo}:${tag}` });
  sendEmpty(call, 201);
}

const truthy = (v: string | null): boolean => v !== null && v !== '' && v !== '0' && v.toLowerCase() !== 'false';

/**
 * rmi, with dockerd's rules (daemon/images/image_delete.go): a reference shared with other
 * references of the same image is only untagged; the last reference, or the ID, deletes
 * the image, refused with 409 while a container uses it unless `force` (and even then
 * while one runs, the image is untagged but kept).
 */
async function deleteImage(call: Call, deps: DaemonDeps): Promise<void> {
  const name = call.params.name!;
  const force = truthy(call.query.get('force'));
  const prune = !truthy(call.query.get('noprune'));
  const rec = await findImage(deps, name);
  const id = rec.configDigest;
  const siblings = (await deps.images.list()).filter((r) => r.configDigest === id);
  const users = deps.containers.imageUsers(id);
  const running = users.find((u) => u.running);
  const byReference = deps.images.isExactReference(name, rec);
  const out: Array<{ Untagged?: string; Deleted?: string }> = [];

  if (byReference && siblings.length > 1) {
    await deps.images.remove(rec.reference, { gc: false });
    sendJson(call, 200, [{ Untagged: rec.reference }]);
    return;
  }
  if (byReference && users.length > 0 && !force) {
    throw conflict(`conflict: unable to remove repository reference "${name}" (must force) - container ${shortId(users[0]!.id)} is using its referenced image ${shortId(id)}`);
  }
  if (!byReference && !force) {
    if (siblings.length > 1) throw conflict(`conflict: unable to delete ${shortId(id)} (must be forced) - image is referenced in multiple repositories`);
    if (running) throw conflict(`conflict: unable to delete ${shortId(id)} (cannot be forced) - image is being used by running container ${shortId(running.id)}`);
    if (users.length > 0) throw conflict(`conflict: unable to delete ${shortId(id)} (must be forced) - image is being used by stopped container ${shortId(users[0]!.id)}`);
  }
  if (!byReference && force && running) {
    throw conflict(`conflict: unable to delete ${shortId(id)} (cannot be forced) - image is being used by running container ${shortId(running.id)}`);
  }
  const res = await deps.images.remove(byReference ? rec.reference : id, { gc: prune && !running });
  for (const r of res.removed) if (r !== id) out.push({ Untagged: r }); // a dangling image's record is keyed by its ID: nothing to untag
  // A running container keeps the image (untagged); otherwise it is gone.
  if (!running) {
    out.push({ Deleted: id });
    for (const d of [...res.deletedBlobs, ...res.deletedLayers]) if (d !== id) out.push({ Deleted: d });
    deps.events.emit('image', 'delete', id, { name });
  }
  sendJson(call, 200, out);
}
