/**
 * The build context: the request body (a tar, plain or gzip'd) extracted into a fresh
 * directory, as the classic builder does before the first step.
 *
 * Contexts are many small files, so each file is written with synchronous calls (open,
 * write, fchmod, futimes, close: a few microseconds each on the event loop) instead of a
 * round trip through the thread pool per call, which under load cost ~1 ms each; files
 * over 1 MiB are streamed. Owners are not kept (COPY gives 0:0 or --chown's).
 *
 * Safety, as runtime/layers/unpack.ts: names are normalised and refused when absolute or
 * when they contain `..`; every parent of an entry must be a real directory created here
 * (lstat, never followed), so a symlink earlier in the tar cannot be written through; hard
 * link targets obey the same rules; devices and FIFOs are skipped. Names such as `.wh.x` are
 * plain files here (a context has no whiteouts).
 */
import { closeSync, constants as fsc, futimesSync, fchmodSync, linkSync, lstatSync, mkdirSync, openSync, symlinkSync, utimesSync, chmodSync, writeSync, rmSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import * as tar from 'tar-stream';
import { LayerEscapeError, normalizeEntryPath } from '../../layers/unpack.js';

const SMALL = 1024 * 1024;

export class ContextError extends Error {
  override name = 'ContextError';
}

/**
 * The sha256 (hex) of every regular file the extraction wrote, by host path (`dest` joined
 * with the entry's normalised name; a hard link has its target's). Hashed from the bytes as
 * they were written, so COPY's cache key needs no second read of the context
 * (checksumSources); nothing writes into a context after its extraction (.dockerignore
 * only removes files).
 */
export type ContextDigests = Map<string, string>;

export interface ExtractedContext {
  digests: ContextDigests;
  /**
   * What the context's top level holds at the names asked for (`keep`): the bytes of a
   * regular file up to 1 MiB as the extraction wrote them, null for anything else there (a
   * symlink, a directory, a hard link, a larger file: read it from the directory, inside
   * the root), no key when the tar has no such entry. The Dockerfile and .dockerignore
   * then cost no read of the directory.
   */
  top: Map<string, Buffer | null>;
}

/** Extract the context tar from `body` into `dest` (created here, must not exist). */
export async function extractContext(body: Readable, dest: string, keep: readonly string[] = []): Promise<ExtractedContext> {
  const digests: ContextDigests = new Map();
  const top = new Map<string, Buffer | null>();
  const wanted = new Set(keep);
  mkdirSync(dest, { mode: 0o755 });
  const dirs = new Set<string>(['']);
  const dirTimes: Array<[string, number, Date]> = [];
  const parentsOk = (rel: string, name: string): void => {
    const parts = rel.split('/');
    parts.pop();
    let cur = '';
    for (const p of parts) {
      cur = cur ? `${cur}/${p}` : p;
      if (dirs.has(cur)) continue;
      let st;
      try {
        st = lstatSync(join(dest, cur));
      } catch {
        mkdirSync(join(dest, cur), { mode: 0o755 });
        dirs.add(cur);
        continue;
      }
      if (!st.isDirectory()) throw new LayerEscapeError(name, `has the non-directory "${cur}" as a parent`);
      dirs.add(cur);
    }
  };
  const clear = (abs: string): void => {
    try {
      const st = lstatSync(abs);
      if (!st.isDirectory()) rmSync(abs, { force: true });
    } catch {
      /* nothing there */
    }
  };

  // gzip'd or plain: sniffed from the first bytes, as dockerd does
  const it = body[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  const first = await it.next();
  const head = first.done ? Buffer.alloc(0) : first.value;
  async function* rest(): AsyncGenerator<Buffer> {
    if (head.length) yield head;
    if (first.done) return;
    for (;;) {
      const r = await it.next();
      if (r.done) return;
      yield r.value;
    }
  }
  const extract = tar.extract();
  const stages: NodeJS.ReadableStream[] = head[0] === 0x1f && head[1] === 0x8b ? [createGunzip()] : [];
  const feed = pipeline([Readable.from(rest()), ...stages, extract] as unknown as [Readable, NodeJS.WritableStream]);
  const consume = (async () => {
    for await (const entry of extract) {
      const h = entry.header;
      const rel = normalizeEntryPath(h.name);
      const mode = (h.mode ?? 0o644) & 0o7777;
      const mtime = h.mtime ?? new Date(0);
      if (rel === '') {
        entry.resume();
        continue;
      }
      parentsOk(rel, h.name);
      const abs = join(dest, rel);
      if (wanted.has(rel)) top.set(rel, null); // until a regular file's bytes say otherwise
      switch (h.type) {
        case 'directory':
          entry.resume();
          try {
            mkdirSync(abs, { mode: 0o755 });
          } catch (e) {
            if ((e as NodeJS.ErrnoException).code !== 'EEXIST' || !lstatSync(abs).isDirectory()) throw e;
          }
          dirs.add(rel);
          dirTimes.push([abs, mode, mtime]);
          break;
        case 'file':
        case 'contiguous-file': {
          clear(abs);
          const hash = createHash('sha256');
          if ((h.size ?? 0) <= SMALL) {
            const chunks: Buffer[] = [];
            for await (const c of entry) chunks.push(c as Buffer);
            const fd = openSync(abs, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL | fsc.O_NOFOLLOW, 0o600);
            try {
              for (const c of chunks) {
                writeSync(fd, c);
                hash.update(c);
              }
              if (wanted.has(rel)) top.set(rel, Buffer.concat(chunks));
              fchmodSync(fd, mode);
              futimesSync(fd, mtime, mtime);
            } finally {
              closeSync(fd);
            }
          } else {
            const fh = await open(abs, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL | fsc.O_NOFOLLOW, 0o600);
            try {
              for await (const c of entry) {
                await fh.write(c as Buffer);
                hash.update(c as Buffer);
              }
              await fh.chmod(mode);
              await fh.utimes(mtime, mtime);
            } finally {
              await fh.close();
            }
          }
          digests.set(abs, hash.digest('hex'));
          break;
        }
        case 'symlink':
          entry.resume();
          clear(abs);
          digests.delete(abs);
          symlinkSync(h.linkname ?? '', abs);
          break;
        case 'link': {
          entry.resume();
          const target = normalizeEntryPath(h.linkname ?? '');
          if (target === '') throw new LayerEscapeError(h.name, 'is a hard link to the context root');
          parentsOk(target, h.name);
          const st = lstatSync(join(dest, target));
          if (st.isDirectory()) throw new ContextError(`context entry "${h.name}": hard link to a directory`);
          clear(abs);
          linkSync(join(dest, target), abs);
          const same = digests.get(join(dest, target));
          if (same) digests.set(abs, same);
          else digests.delete(abs);
          break;
        }
        default:
          entry.resume(); // devices, FIFOs: not part of a build context
      }
    }
  })();
  try {
    await Promise.all([feed, consume]);
  } catch (e) {
    extract.destroy();
    await Promise.allSettled([feed, consume]);
    throw e instanceof LayerEscapeError || e instanceof ContextError ? e : new ContextError(`the build context is not a valid tar archive: ${(e as Error).message}`);
  }
  // directories last, deepest first: writing their children changed their times
  for (const [abs, mode, mtime] of dirTimes.reverse()) {
    chmodSync(abs, mode);
    utimesSync(abs, mtime, mtime);
  }
  return { digests, top };
}
