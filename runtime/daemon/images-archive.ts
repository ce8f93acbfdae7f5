/**
 * Image archives through the Engine API (moby api/server/router/image):
 *
 *   GET  /images/get?names=a&names=b   a `docker save` archive (application/x-tar) of the images
 *   GET  /images/{name}/get            the same for one image
 *   POST /images/load?quiet=           the body is an archive (docker save's or an OCI layout
 *                                      tar); answered with the JSON stream {"stream":"Loaded image: …\n"}
 *
 * `format=oci` (ours, not Docker's) leaves manifest.json out: an OCI image layout only.
 * A bad archive is refused before anything is stored: a 400 with what is wrong.
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import type { Call, Router } from './router.js';
import type { DaemonDeps } from './deps.js';
import { EngineError, badParameter } from './errors.js';
import { ImageNotFoundError } from '../images/store.js';

export function registerArchiveRoutes(router: Router, deps: DaemonDeps): void {
  router.get('/images/get', (call) => save(call, deps, call.query.getAll('names')));
  router.get('/images/{name*}/get', (call) => save(call, deps, [call.params.name!]));
  router.post('/images/load', (call) => load(call, deps));
}

async function save(call: Call, deps: DaemonDeps, names: string[]): Promise<void> {
  const res = call.res;
  if (!res) throw badParameter('/images/get does not upgrade the connection');
  if (names.length === 0) throw badParameter('names is required: GET /images/get?names=IMAGE');
  for (const n of names) {
    const rec = await deps.images.get(n).catch(() => undefined);
    if (!rec) throw new EngineError('notFound', `reference does not exist: No such image: ${n}`);
  }
  res.writeHead(200, { 'Content-Type': 'application/x-tar' });
  try {
    const { saveImages } = await import('../images/archive.js');
    await saveImages(deps.images, names, res, { ociOnly: call.query.get('format') === 'oci' });
  } catch (e) {
    call.log.warn({ err: e, names }, 'save failed');
    res.destroy();
    return;
  }
  for (const n of names) deps.events.emit('image', 'save', n, { name: n });
}

async function load(call: Call, deps: DaemonDeps): Promise<void> {
  const res = call.res;
  if (!res) throw badParameter('/images/load does not upgrade the connection');
  // Two passes over the archive (verify everything, then store): the body is spooled first.
  await mkdir(deps.layout.contentTmpDir, { recursive: true });
  const spool = deps.layout.contentTmpPath();
  try {
    const out = createWriteStream(spool, { mode: 0o600 });
    await pipeline(call.req, out).catch(async (err: unknown) => {
      // A failed pipeline rejects before the write stream is closed (it may still be creating the file): the rm below waits for it.
      if (!out.closed) await new Promise<void>((resolve) => out.once('close', () => resolve()).destroy());
      throw err;
    });
    let loaded;
    try {
      const { loadArchive } = await import('../images/archive.js');
      loaded = await loadArchive(deps.images, () => createReadStream(spool, { highWaterMark: 1 << 20 }));
    } catch (e) {
      const name = (e as Error).name;
      if (name === 'ArchiveError' || name === 'ImageFormatError' || name === 'ManifestInvalidError' || name === 'DigestMismatchError' || name === 'SizeMismatchError' || e instanceof ImageNotFoundError) {
        throw badParameter(`invalid archive: ${(e as Error).message}`);
      }
      if ((e as { code?: string }).code === 'PLATFORM_NOT_FOUND') throw badParameter((e as Error).message);
      throw e;
    }
    res.writeHead(200, { 'Content-Type': 'application/json' });
    for (const image of loaded) {
      const lines = image.references.length > 0 ? image.references.map((r) => `Loaded image: ${r}`) : [`Loaded image ID: ${image.id}`];
      for (const line of lines) {
        res.write(`${JSON.stringify({ stream: `${line}\n` })}\r\n`);
        deps.events.emit('image', 'load', image.id, { name: line.slice(line.indexOf(': ') + 2) });
      }
    }
    res.end();
  } finally {
    await rm(spool, { force: true });
  }
}
