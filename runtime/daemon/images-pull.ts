/**
 * POST /images/create: a pull answered with Docker's JSON progress stream (moby
 * distribution/pull_v2.go + pkg/progress), so `docker pull` draws its bars:
 *
 *   {"status":"Pulling from <repo>","id":"<tag>"}
 *   {"status":"Pulling fs layer","progressDetail":{},"id":"<12 hex>"}     per layer
 *   {"status":"Already exists", ...}                                       blob or layer on the node
 *   {"status":"Downloading","progressDetail":{"current":n,"total":t},"progress":"[=>  ] …"}
 *   {"status":"Verifying Checksum"} {"status":"Download complete"} {"status":"Extracting",…}
 *   {"status":"Pull complete", ...}
 *   {"status":"Digest: sha256:…"} {"status":"Status: Downloaded newer image for <ref>"}
 *
 * As dockerd, nothing is written before the manifest resolved: a pull that fails that
 * early answers with an HTTP status and `{"message"}`; a failure later is an in-band
 * `{"error", "errorDetail"}` message, and the stream ends.
 */
import type { Call } from './router.js';
import type { DaemonDeps } from './deps.js';
import { EngineError, badParameter } from './errors.js';
import type { PullOptions, PullProgress } from '../images/store.js';
import type { Credentials } from '../../oci/client.js';
import { shortId } from './image-views.js';

interface Message {
  status?: string;
  id?: string;
  progressDetail?: { current?: number; total?: number };
  progress?: string;
  error?: string;
  errorDetail?: { message: string };
}

function humanSize(n: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let i = 0;
  while (n >= 1000 && i < units.length - 1) {
    n /= 1000;
    i++;
  }
  return `${Number(n.toPrecision(3))}${units[i]}`;
}

/** moby JSONProgress.String(): a 50-column bar and the sizes. */
export function progressBar(current: number, total: number): string {
  const pct = total > 0 ? Math.min(50, Math.floor(((current / total) * 100) / 2)) : 0;
  const bar = `[${'='.repeat(pct)}${pct < 50 ? '>' : ''}${' '.repeat(Math.max(0, 50 - pct - 1))}]`;
  return `${bar} ${humanSize(current).padStart(7)}/${humanSize(total)}`;
}

/** How a failed pull reads to the client (dockerd's statuses and words). */
function pullError(reference: string, e: unknown): EngineError {
  const err = e as Error & { status?: number; code?: string };
  if (err.name === 'InvalidReferenceError') return badParameter(`invalid reference format: ${err.message}`);
  if (err.name === 'UnauthorizedError') return new EngineError('unauthorized', `pull access denied for ${reference}: ${err.message}`, { cause: e });
  if (err.code === 'MANIFEST_UNKNOWN' || err.code === 'NAME_UNKNOWN' || err.status === 404) {
    return new EngineError('notFound', `manifest for ${reference} not found: manifest unknown: ${err.message}`, { cause: e });
  }
  const cause = (e as { cause?: { code?: string; message?: string } }).cause;
  return new EngineError('system', `pulling ${reference}: ${err.message}${cause ? ` (${cause.code ?? cause.message})` : ''}`, { cause: e });
}

function parsePlatform(s: string): PullOptions['platform'] {
  const [os, architecture, variant] = s.split('/');
  if (!os || !architecture) throw badParameter(`invalid platform "${s}": expected os/arch[/variant]`);
  return variant ? { os, architecture, variant } : { os, architecture };
}

export async function pullWithProgress(call: Call, deps: DaemonDeps, reference: string, o: { credentials?: Credentials; platform?: string }): Promise<void> {
  const res = call.res;
  if (!res) throw badParameter('/images/create does not upgrade the connection');
  let ref;
  try {
    ref = deps.images.parse(reference);
  } catch (e) {
    throw pullError(reference, e);
  }
  const before = await deps.images.get(reference).catch(() => undefined);

  let started = false;
  const pending = new Map<string, Message>();
  const write = (m: Message) => {
    if (!started) {
      started = true;
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.write(`${JSON.stringify({ status: `Pulling from ${ref.repository}`, id: ref.tag ?? ref.digest ?? 'latest' })}\r\n`);
    }
    res.write(`${JSON.stringify(m)}\r\n`);
  };

  // Per layer: what was said last, and when a Downloading line was last sent.
  const said = new Map<string, { phase: PullProgress['phase']; at: number; downloaded: boolean }>();
  let downloadedAny = false;
  const onProgress = (p: PullProgress) => {
    const id = shortId(p.layer);
    const prev = said.get(id);
    const now = Date.now();
    const emit = (status: string, detail: Message['progressDetail'] = {}, progress?: string) =>
      write({ status, progressDetail: detail, ...(progress ? { progress } : {}), id });
    switch (p.phase) {
      case 'waiting':
        if (!prev) pending.set(id, { status: 'Pulling fs layer', progressDetail: {}, id });
        break;
      case 'exists':
        pending.delete(id); // dockerd says only "Already exists" for these
        flush();
        emit('Already exists');
        break;
      case 'linked':
        flush();
        downloadedAny = true;
        emit('Linked from the co-located registry');
        break;
      case 'downloading':
        flush();
        downloadedAny = true;
        // Bars need a few updates a second, not one per chunk.
        if (prev?.phase === 'downloading' && now - prev.at < 100 && p.current < p.size) return;
        emit('Downloading', { current: p.current, total: p.size }, progressBar(p.current, p.size));
        break;
      case 'unpacking':
        flush();
        if (prev?.phase === 'downloading') {
          emit('Verifying Checksum');
          emit('Download complete');
        }
        emit('Extracting', { current: p.size, total: p.size }, progressBar(p.size, p.size));
        break;
      case 'done':
        flush();
        if (prev && prev.phase !== 'exists') emit('Pull complete');
        break;
    }
    said.set(id, { phase: p.phase, at: p.phase === 'downloading' ? now : (prev?.at ?? 0), downloaded: (prev?.downloaded ?? false) || p.phase === 'downloading' });
  };
  // "Pulling fs layer" for every layer comes once the manifest is known: when the first layer moves.
  function flush() {
    for (const m of pending.values()) write(m);
    pending.clear();
  }

  try {
    const opts: PullOptions = { onProgress };
    if (o.credentials) opts.credentials = o.credentials;
    if (o.platform) opts.platform = parsePlatform(o.platform);
    const rec = await deps.images.pull(ref, opts);
    flush();
    write({ status: `Digest: ${rec.indexDigest ?? rec.digest}` });
    const fresh = downloadedAny || !before || before.digest !== rec.digest;
    write({ status: `Status: ${fresh ? 'Downloaded newer image for' : 'Image is up to date for'} ${rec.reference}` });
    deps.events.emit('image', 'pull', rec.reference, { name: rec.reference });
    res.end();
  } catch (e) {
    const err = pullError(reference, e);
    if (!started) throw err;
    call.log.warn({ err: e, reference }, 'pull failed');
    res.end(`${JSON.stringify({ errorDetail: { message: err.message }, error: err.message })}\r\n`);
  }
}
