/**
 * COPY and ADD, with the classic builder's semantics (moby builder/dockerfile/copy.go):
 *
 *   - sources are paths in the context (or in another stage's rootfs with --from), with
 *     wildcards (filepath.Match per path component); a path leaving the context is refused;
 *     a source that is a symlink is followed inside its root, symlinks below a copied
 *     directory are copied as symlinks
 *   - a directory source copies its contents, not itself
 *   - the destination is a directory when it ends with `/` (required with several sources)
 *     or already is one; else a file source becomes the file at the destination
 *   - missing parent directories are created (0755); a parent that is a file is refused:
 *     "Cannot mkdir: /app is not a directory"
 *   - copied files belong to 0:0, or to --chown's user and group (names looked up in the
 *     image's /etc/passwd and /etc/group, read inside the rootfs); modes and mtimes are kept
 *   - ADD extracts a local tar (plain, or gzip, bzip2, xz or zstd compressed: add-archive.ts)
 *     into the destination, keeping its owners,
 *     and fetches a URL into a file (mode 0600, mtime from Last-Modified)
 *
 * Every destination path is resolved inside the rootfs (runtime/layers/in-root.ts), never by
 * string join, and no write follows a symlink: a file is created fresh with O_NOFOLLOW after
 * whatever was there is removed.
 */
import { createHash } from 'node:crypto';
import { chmodSync, chownSync, constants as fsc, copyFileSync, createReadStream, lchownSync, lstatSync, lutimesSync, mkdirSync, readdirSync, readlinkSync, rmSync, symlinkSync, utimesSync, type Stats } from 'node:fs';
import { chmod, chown, copyFile, lstat, mkdir, readdir, readFile, rm, utimes, writeFile } from 'node:fs/promises';
import { posix } from 'node:path';

import { resolveInRoot } from '../../layers/in-root.js';
import { unpackLayer, type SpecialFileOps, nativeSpecialFileOps } from '../../layers/unpack.js';
import { archiveCompression, decompressedFile } from './add-archive.js';

export class CopyError extends Error {
  override name = 'CopyError';
}

export interface Source {
  /** host path, already resolved inside its root */
  host: string;
  /** as the Dockerfile named it (after wildcard expansion), for messages and file names */
  name: string;
  isDir: boolean;
}

const hasWildcard = (s: string): boolean => /[*?[]/.test(s);

/** Go's filepath.Match for one path component. */
function componentRegex(p: string): RegExp {
  let re = '^';
  for (let i = 0; i < p.length; i++) {
    const c = p[i]!;
    if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else if (c === '[') {
      const end = p.indexOf(']', i + 1);
      if (end < 0) throw new CopyError(`syntax error in pattern: ${p}`);
      let cls = p.slice(i + 1, end);
      if (cls.startsWith('^')) cls = `^${cls.slice(1)}`;
      re += `[${cls}]`;
      i = end;
    } else if (c === '\\' && i + 1 < p.length) re += p[++i]!.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    else re += c.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`${re}$`);
}

/** The sources a COPY/ADD names in `root` (the context, or a stage's rootfs). */
export async function resolveSources(root: string, patterns: string[], what: string): Promise<Source[]> {
  const out: Source[] = [];
  for (const raw of patterns) {
    const clean = posix.normalize(raw.replace(/^\/+/, '') || '.');
    if (clean === '..' || clean.startsWith('../')) throw new CopyError(`Forbidden path outside the build context: ${raw} ()`);
    if (!hasWildcard(clean)) {
      const host = await resolveInRoot(root, `/${clean}`);
      const st = await lstat(host).catch(() => undefined);
      if (!st) throw new CopyError(`${what} failed: file not found in build context or excluded by .dockerignore: stat ${clean}: file does not exist`);
      out.push({ host, name: clean, isDir: st.isDirectory() });
      continue;
    }
    let level: Array<{ host: string; name: string }> = [{ host: posix.resolve(root), name: '' }];
    for (const part of clean.split('/')) {
      const next: typeof level = [];
      for (const dir of level) {
        if (!hasWildcard(part)) {
          next.push({ host: posix.join(dir.host, part), name: dir.name ? `${dir.name}/${part}` : part });
          continue;
        }
        const re = componentRegex(part);
        const names = await readdir(dir.host).catch(() => [] as string[]);
        for (const n of names.sort()) if (re.test(n)) next.push({ host: posix.join(dir.host, n), name: dir.name ? `${dir.name}/${n}` : n });
      }
      level = next;
    }
    for (const m of level) {
      const host = await resolveInRoot(root, `/${m.name}`);
      const st = await lstat(host).catch(() => undefined);
      if (st) out.push({ host, name: m.name, isDir: st.isDirectory() });
    }
  }
  if (out.length === 0) throw new CopyError(`${what} failed: no source files were specified`);
  return out;
}

/**
 * The content checksum of the sources (the cache key part): names, types, modes, bytes, link
 * targets. The walk uses synchronous lstat/readdir/readlink (a few microseconds each; the
 * context is the build's own directory), yielding every 256 entries; a file's bytes are
 * hashed apart and in parallel, unless `known` (the context extraction's digests) has them.
 */
export async function checksumSources(sources: Source[], known?: ReadonlyMap<string, string>): Promise<string> {
  const parts: Array<string | Promise<string>> = [];
  let sinceYield = 0;
  const walk = async (host: string, rel: string): Promise<void> => {
    if (++sinceYield >= 256) {
      sinceYield = 0;
      await new Promise((r) => setImmediate(r));
    }
    const st = lstatSync(host);
    parts.push(`${rel}\0${st.mode}\0`);
    if (st.isSymbolicLink()) parts.push(`l${readlinkSync(host)}\0`);
    else if (st.isFile()) {
      const sum = known?.get(host);
      parts.push(sum !== undefined ? `${sum}\0` : fileDigest(host, st.size));
    } else if (st.isDirectory()) for (const n of readdirSync(host).sort()) await walk(posix.join(host, n), `${rel}/${n}`);
  };
  for (const s of sources) await walk(s.host, s.name);
  const h = createHash('sha256');
  for (const p of await Promise.all(parts)) h.update(p);
  return h.digest('hex');
}

/** Small files in one read (a stream costs several round trips through the thread pool). */
async function fileDigest(path: string, size: number): Promise<string> {
  const h = createHash('sha256');
  if (size <= 4 * 1024 * 1024) h.update(await readFile(path));
  else for await (const chunk of createReadStream(path, { highWaterMark: 1024 * 1024 })) h.update(chunk as Buffer);
  return `${h.digest('hex')}\0`;
}

export interface Owner {
  uid: number;
  gid: number;
}

/**
 * Create `dir` (absolute, inside the rootfs) and its missing parents; the host path of it.
 * Existing symlinks on the way are followed inside the root; a component that is not a
 * directory is refused.
 */
export async function mkdirInRoot(rootfs: string, dir: string, owner: Owner | undefined): Promise<string> {
  const root = posix.resolve(rootfs);
  const host = await resolveInRoot(root, dir);
  const rel = posix.relative(root, host);
  let cur = root;
  let inside = '';
  for (const part of rel === '' ? [] : rel.split('/')) {
    cur = posix.join(cur, part);
    inside = `${inside}/${part}`;
    const st = await lstat(cur).catch(() => undefined);
    if (!st) {
      await mkdir(cur, { mode: 0o755 });
      await chmod(cur, 0o755);
      if (owner) await chown(cur, owner.uid, owner.gid);
      continue;
    }
    if (!st.isDirectory()) throw new CopyError(`Cannot mkdir: ${inside} is not a directory`);
  }
  return host;
}

/**
 * Replace whatever is at `host` (never following it) by a copy of the file `src`.
 *
 * Synchronous calls (a few microseconds each for the small files a COPY mostly moves)
 * instead of six round trips through the thread pool per file; copyTreeInto yields to the
 * event loop every COPIES_PER_TURN files. A large file is copied off the event loop.
 */
async function copyFileTo(src: string, host: string, owner: Owner | undefined): Promise<void> {
  const st = lstatSync(src);
  const there = lstatIfAny(host);
  if (there) rmSync(host, { recursive: true, force: true });
  if (st.isSymbolicLink()) {
    symlinkSync(readlinkSync(src), host);
    lchownSync(host, owner?.uid ?? 0, owner?.gid ?? 0);
    lutimesSync(host, st.atime, st.mtime);
    return;
  }
  if (!st.isFile()) return; // devices, FIFOs and sockets of a context are not copied
  // COPYFILE_EXCL: the path was just cleared; a symlink racing in makes it fail, never followed.
  if (st.size <= SMALL_COPY) copyFileSync(src, host, fsc.COPYFILE_EXCL | fsc.COPYFILE_FICLONE);
  else await copyFile(src, host, fsc.COPYFILE_EXCL | fsc.COPYFILE_FICLONE);
  chownSync(host, owner?.uid ?? 0, owner?.gid ?? 0);
  chmodSync(host, st.mode & 0o7777);
  utimesSync(host, st.atime, st.mtime);
}

/** Files up to this size are copied with one synchronous call. */
const SMALL_COPY = 1024 * 1024;
const COPIES_PER_TURN = 64;

function lstatIfAny(path: string): Stats | undefined {
  try {
    return lstatSync(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT' || (e as NodeJS.ErrnoException).code === 'ENOTDIR') return undefined;
    throw e;
  }
}

/** Copy the tree at `src` (a directory: its contents) into the existing directory `hostDir`. */
async function copyTreeInto(src: string, hostDir: string, owner: Owner | undefined, keepOwners: boolean, turn = { n: 0 }): Promise<void> {
  for (const n of readdirSync(src).sort()) {
    if (++turn.n % COPIES_PER_TURN === 0) await new Promise((r) => setImmediate(r));
    const from = posix.join(src, n);
    const to = posix.join(hostDir, n);
    const st = lstatSync(from);
    const o = keepOwners ? { uid: st.uid, gid: st.gid } : owner;
    if (st.isDirectory()) {
      const there = lstatIfAny(to);
      if (there && !there.isDirectory()) rmSync(to, { force: true });
      if (!there || !there.isDirectory()) mkdirSync(to, { mode: 0o755 });
      await copyTreeInto(from, to, owner, keepOwners, turn);
      chownSync(to, o?.uid ?? 0, o?.gid ?? 0);
      chmodSync(to, st.mode & 0o7777);
      utimesSync(to, st.atime, st.mtime);
    } else {
      await copyFileTo(from, to, o);
    }
  }
}

export interface CopyOptions {
  rootfs: string;
  /** the destination as written (after substitution), relative to `workdir` unless absolute */
  dest: string;
  workdir: string;
  owner?: Owner;
  /** ADD: extract local archives */
  extractArchives?: boolean;
  /** where ADD may unpack an archive first (a temp dir of the build) */
  scratchDir?: string;
  specialOps?: SpecialFileOps;
}

function destPath(dest: string, workdir: string): { path: string; isDir: boolean } {
  const isDir = dest.endsWith('/') || dest === '.' || dest.endsWith('/.');
  const abs = dest.startsWith('/') ? dest : posix.join(workdir || '/', dest);
  return { path: posix.normalize(abs), isDir };
}

/** Run one COPY/ADD of `sources` into the mounted rootfs. */
export async function copySources(sources: Source[], o: CopyOptions, what: string): Promise<void> {
  const d = destPath(o.dest, o.workdir);
  if (sources.length > 1 && !d.isDir) throw new CopyError(`When using ${what} with more than one source file, the destination must be a directory and end with a /`);
  const root = posix.resolve(o.rootfs);
  for (const s of sources) {
    if (s.isDir) {
      const host = await mkdirInRoot(root, d.path, o.owner);
      await copyTreeInto(s.host, host, o.owner, false);
      continue;
    }
    const compression = o.extractArchives ? await archiveCompression(s.host) : undefined;
    if (compression) {
      const host = await mkdirInRoot(root, d.path, o.owner);
      const tmp = posix.join(o.scratchDir!, `archive-${Math.random().toString(16).slice(2)}`);
      try {
        await unpackLayer(decompressedFile(s.host, compression), tmp, { specialOps: o.specialOps ?? nativeSpecialFileOps });
        await copyTreeInto(tmp, host, o.owner, o.owner === undefined);
      } finally {
        await rm(tmp, { recursive: true, force: true });
      }
      continue;
    }
    await copyFileToDest(root, s.host, posix.basename(s.name), d, o.owner);
  }
}

async function copyFileToDest(root: string, src: string, base: string, d: { path: string; isDir: boolean }, owner: Owner | undefined): Promise<void> {
  let target = d.path;
  if (d.isDir) {
    target = posix.join(d.path, base);
  } else {
    const existing = await resolveInRoot(root, d.path);
    const st = await lstat(existing).catch(() => undefined);
    if (st?.isDirectory()) target = posix.join(d.path, base);
  }
  const parent = await mkdirInRoot(root, posix.dirname(target), owner);
  await copyFileTo(src, posix.join(parent, posix.basename(target)), owner);
}

/** ADD <url>: the body into a file at the destination (a directory destination: named after the URL's path). */
export async function addUrl(url: string, o: CopyOptions): Promise<void> {
  const res = await fetch(url, { redirect: 'follow' }).catch((e: Error) => {
    throw new CopyError(`failed to GET ${url}: ${e.message}`);
  });
  if (!res.ok) throw new CopyError(`failed to GET ${url} with status ${res.status} ${res.statusText}`);
  const body = Buffer.from(await res.arrayBuffer());
  const d = destPath(o.dest, o.workdir);
  const base = posix.basename(new URL(url).pathname) || 'index.html';
  const root = posix.resolve(o.rootfs);
  let target = d.isDir ? posix.join(d.path, base) : d.path;
  if (!d.isDir) {
    const st = await lstat(await resolveInRoot(root, d.path)).catch(() => undefined);
    if (st?.isDirectory()) target = posix.join(d.path, base);
  }
  const parent = await mkdirInRoot(root, posix.dirname(target), o.owner);
  const host = posix.join(parent, posix.basename(target));
  await rm(host, { recursive: true, force: true });
  await writeFile(host, body, { mode: 0o600, flag: 'wx' });
  await chown(host, o.owner?.uid ?? 0, o.owner?.gid ?? 0);
  const lm = res.headers.get('last-modified');
  if (lm && !Number.isNaN(Date.parse(lm))) await utimes(host, new Date(), new Date(Date.parse(lm)));
}

/** The checksum of a URL's body (ADD's cache key part: Docker downloads to know it). */
export async function checksumUrl(url: string): Promise<string> {
  const res = await fetch(url).catch((e: Error) => {
    throw new CopyError(`failed to GET ${url}: ${e.message}`);
  });
  if (!res.ok) throw new CopyError(`failed to GET ${url} with status ${res.status} ${res.statusText}`);
  return createHash('sha256').update(Buffer.from(await res.arrayBuffer())).digest('hex');
}

