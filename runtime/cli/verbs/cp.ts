/**
 * `wharf cp` over the archive endpoints, with docker cp's rules for the destination:
 *
 *   CONTAINER:SRC DEST   GET archive?path=SRC (a tar whose top entry is SRC's base name);
 *                        DEST an existing directory: extracted into it; else DEST is the
 *                        new name of SRC (its parent must exist); DEST "-": the tar itself
 *   SRC CONTAINER:DEST   HEAD archive?path=DEST says what DEST is; an existing directory
 *                        receives SRC under its base name, else SRC is PUT into DEST's
 *                        parent renamed to DEST's base name; SRC "-": a tar from stdin
 *
 * The container side resolves paths inside its rootfs (the daemon's job). On the host side
 * nothing from the archive may leave DEST: no absolute names, no "..", no entry below a
 * symlink, nothing but files, directories and symlinks.
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { lstat, mkdir, readdir, readlink, stat, symlink, utimes } from 'node:fs/promises';
import { basename, dirname, join, posix, resolve, sep } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { EngineClient } from '../engine/client.js';
import { CliError, EngineApiError } from '../engine/client.js';

interface PathStat {
  name: string;
  size: number;
  mode: number;
  mtime: string;
  linkTarget: string;
}

/** "name:path" with a name that is not a local path (docker: a ':' before any '/'). */
export function splitContainerPath(arg: string): { container?: string; path: string } {
  if (arg.startsWith('/') || arg.startsWith('.')) return { path: arg };
  const colon = arg.indexOf(':');
  const slash = arg.indexOf('/');
  if (colon > 0 && (slash < 0 || colon < slash)) return { container: arg.slice(0, colon), path: arg.slice(colon + 1) };
  return { path: arg };
}

/** Go's os.FileMode: type bits above the permission bits (docker's path stat header). */
const GO_MODE_DIR = 2 ** 31;

async function containerStat(client: EngineClient, container: string, path: string): Promise<PathStat | undefined> {
  try {
    const res = await client.request('HEAD', `/containers/${encodeURIComponent(container)}/archive`, { query: { path } });
    const header = res.headers['x-docker-container-path-stat'];
    return header ? (JSON.parse(Buffer.from(String(header), 'base64').toString('utf8')) as PathStat) : undefined;
  } catch (e) {
    if (e instanceof EngineApiError && e.status === 404) return undefined;
    throw e;
  }
}

/** A tar of `src` with its top entry named `as` (files, dirs, symlinks; symlinks not followed). */
async function packLocal(src: string, as: string) {
  const tar = await import('tar-stream');
  const pack = tar.pack();
  const add = async (abs: string, name: string): Promise<void> => {
    const st = await lstat(abs);
    // the whole st_mode: tar-stream writes its permission bits, and would take 0 as "none" (0644)
    const common = { name, mode: st.mode, mtime: st.mtime, uid: st.uid, gid: st.gid };
    if (st.isDirectory()) {
      pack.entry({ ...common, type: 'directory' });
      for (const child of (await readdir(abs)).sort()) await add(join(abs, child), `${name}/${child}`);
    } else if (st.isSymbolicLink()) {
      pack.entry({ ...common, type: 'symlink', linkname: await readlink(abs) });
    } else if (st.isFile()) {
      const entry = pack.entry({ ...common, type: 'file', size: st.size });
      await pipeline(createReadStream(abs), entry);
    } else {
      throw new CliError(`cannot copy ${abs}: only files, directories and symlinks are copied`);
    }
  };
  add(src, as).then(
    () => pack.finalize(),
    (e: unknown) => pack.destroy(e as Error),
  );
  return pack as unknown as NodeJS.ReadableStream;
}

async function copyToContainer(client: EngineClient, src: string, container: string, dest: string): Promise<void> {
  const put = (path: string, body: NodeJS.ReadableStream) =>
    client.request('PUT', `/containers/${encodeURIComponent(container)}/archive`, {
      query: { path, noOverwriteDirNonDir: true },
      body,
      headers: { 'Content-Type': 'application/x-tar' },
    });
  if (src === '-') return void (await put(dest, process.stdin));
  const local = await lstat(src).catch(() => {
    throw new CliError(`lstat ${resolve(src)}: no such file or directory`);
  });
  const target = await containerStat(client, container, dest);
  const destIsDir = target !== undefined && (target.mode & GO_MODE_DIR) !== 0;
  if (dest.endsWith('/') && target === undefined) throw new CliError(`Error response from daemon: Could not find the file ${dest} in container ${container}`);
  if (destIsDir) return void (await put(dest, await packLocal(src, basename(resolve(src)))));
  if (target !== undefined && local.isDirectory()) throw new CliError(`cannot copy a directory to a file: ${dest}`);
  await put(posix.dirname(dest), await packLocal(src, posix.basename(dest)));
}

/** Extracts a tar under `root`; the top entry `from` becomes `to` (when renaming). */
async function extractSafely(archive: NodeJS.ReadableStream, root: string, rename?: { from: string; to: string }): Promise<void> {
  const tar = await import('tar-stream');
  const extract = tar.extract();
  const links = new Set<string>();
  const done = pipeline(archive, extract);
  for await (const entry of extract) {
    const h = entry.header;
    let name = posix.normalize(h.name).replace(/\/+$/, '');
    if (rename && (name === rename.from || name.startsWith(`${rename.from}/`))) name = rename.to + name.slice(rename.from.length);
    const parts = name.split('/');
    if (name.startsWith('/') || parts.includes('..') || name === '.' || name === '') {
      throw new CliError(`refusing archive entry "${h.name}": it would leave ${root}`);
    }
    for (let i = 1; i < parts.length; i++) {
      if (links.has(parts.slice(0, i).join('/'))) throw new CliError(`refusing archive entry "${h.name}": it lies below a symlink`);
    }
    const abs = join(root, ...parts);
    if (!abs.startsWith(root.endsWith(sep) ? root : root + sep)) throw new CliError(`refusing archive entry "${h.name}"`);
    // A parent that exists on the host must not be a symlink (the archive would write through it).
    for (let i = 1; i < parts.length; i++) {
      const p = join(root, ...parts.slice(0, i));
      const st = await lstat(p).catch(() => undefined);
      if (st?.isSymbolicLink()) throw new CliError(`refusing to write through the symlink ${p}`);
    }
    if (h.type === 'directory') {
      await mkdir(abs, { recursive: true, mode: h.mode ?? 0o755 });
      entry.resume();
    } else if (h.type === 'file' || h.type === 'contiguous-file') {
      await mkdir(dirname(abs), { recursive: true });
      await pipeline(entry, createWriteStream(abs, { mode: (h.mode ?? 0o644) & 0o7777 }));
      if (h.mtime) await utimes(abs, h.mtime, h.mtime);
    } else if (h.type === 'symlink') {
      await mkdir(dirname(abs), { recursive: true });
      await symlink(h.linkname ?? '', abs);
      links.add(name);
      entry.resume();
    } else {
      entry.resume(); // devices, fifos, hard links: not recreated on the host
    }
  }
  await done;
}

async function copyFromContainer(client: EngineClient, container: string, src: string, dest: string): Promise<void> {
  const res = await client.stream('GET', `/containers/${encodeURIComponent(container)}/archive`, { query: { path: src } });
  if (dest === '-') return void (await pipeline(res, process.stdout));
  const header = res.headers['x-docker-container-path-stat'];
  const st = header ? (JSON.parse(Buffer.from(String(header), 'base64').toString('utf8')) as PathStat) : undefined;
  const top = st?.name ?? posix.basename(src);
  const target = await stat(dest).catch(() => undefined);
  if (target?.isDirectory()) return extractSafely(res, resolve(dest));
  if (target && st && (st.mode & GO_MODE_DIR) !== 0) throw new CliError(`cannot copy a directory to a file: ${dest}`);
  const parent = resolve(dirname(dest));
  if (!(await stat(parent).catch(() => undefined))?.isDirectory()) throw new CliError(`destination directory ${parent} does not exist`);
  await extractSafely(res, parent, { from: top, to: basename(resolve(dest)) });
}

export async function cp(client: EngineClient, src: string, dest: string): Promise<void> {
  const s = splitContainerPath(src);
  const d = splitContainerPath(dest);
  if (s.container && d.container) throw new CliError('copying between containers is not supported');
  if (!s.container && !d.container) throw new CliError('must specify at least one container source');
  if (s.container) return copyFromContainer(client, s.container, s.path, d.path);
  return copyToContainer(client, s.path, d.container!, d.path);
}
