/**
 * `docker cp` both ways (the Engine API's /containers/{id}/archive): a tar of a path of
 * the container, and a tar extracted into a directory of it. Every path is resolved
 * inside the rootfs as if it were `/` (runtime/layers/in-root.ts), never by string join;
 * the walk never follows a symlink (it is archived as one), and extraction replaces what
 * is there instead of writing through it. The caller freezes a running container for the
 * duration (as dockerd does since CVE-2018-15664), so the tree cannot change underneath.
 */
import { createReadStream } from 'node:fs';
import { chmod, lchown, lstat, lutimes, mkdir, open, readdir, readlink, rm, symlink } from 'node:fs/promises';
import { posix } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import * as tar from 'tar-stream';
import { resolveInRoot } from '../layers/in-root.js';
import { badParameter, notFound } from '../daemon/errors.js';

/** Go's os.FileMode type bits, as the X-Docker-Container-Path-Stat header carries them. */
const GO_MODE_DIR = 2 ** 31;
const GO_MODE_SYMLINK = 2 ** 27;

export interface PathStat {
  name: string;
  size: number;
  mode: number;
  mtime: string;
  linkTarget: string;
}

/** The host path of `path` in the container: its parent resolved inside the root, its last component not followed. */
async function locate(rootfs: string, path: string): Promise<{ host: string; inContainer: string }> {
  if (typeof path !== 'string' || path === '' || path.includes('\0')) throw badParameter('path is required');
  const clean = posix.normalize(posix.join('/', path));
  if (clean === '/') return { host: posix.resolve(rootfs), inContainer: '/' };
  const parent = await resolveInRoot(rootfs, posix.dirname(clean));
  return { host: posix.join(parent, posix.basename(clean)), inContainer: clean };
}

export async function statPath(rootfs: string, path: string, containerRef: string): Promise<PathStat> {
  const { host, inContainer } = await locate(rootfs, path);
  let st;
  try {
    st = await lstat(host);
  } catch {
    throw notFound(`Could not find the file ${path} in container ${containerRef}`);
  }
  const mode = (st.mode & 0o7777) + (st.isDirectory() ? GO_MODE_DIR : 0) + (st.isSymbolicLink() ? GO_MODE_SYMLINK : 0);
  return {
    name: inContainer === '/' ? '/' : posix.basename(inContainer),
    size: st.size,
    mode,
    mtime: st.mtime.toISOString(),
    linkTarget: st.isSymbolicLink() ? await readlink(host) : '',
  };
}

/** A tar of `path` (its last component as the top entry), streamed. */
export async function archivePath(rootfs: string, path: string, containerRef: string): Promise<tar.Pack> {
  const { host, inContainer } = await locate(rootfs, path);
  await statPath(rootfs, path, containerRef);
  const pack = tar.pack();
  const top = inContainer === '/' ? '.' : posix.basename(inContainer);
  const add = async (hostPath: string, name: string): Promise<void> => {
    const st = await lstat(hostPath);
    // the whole st_mode: tar-stream writes its permission bits, and would take 0 as "none" (0644)
    const base = { name, mode: st.mode, uid: st.uid, gid: st.gid, mtime: st.mtime };
    if (st.isSymbolicLink()) {
      await entry(pack, { ...base, type: 'symlink', linkname: await readlink(hostPath) });
    } else if (st.isDirectory()) {
      await entry(pack, { ...base, type: 'directory' });
      for (const child of (await readdir(hostPath)).sort()) await add(posix.join(hostPath, child), `${name}/${child}`);
    } else if (st.isFile()) {
      const w = pack.entry({ ...base, type: 'file', size: st.size });
      await pipeline(createReadStream(hostPath, { flags: 'r' }), w);
    }
    // devices, FIFOs and sockets are left out, as a tar of a live tree would
  };
  void (async () => {
    try {
      await add(host, top);
      pack.finalize();
    } catch (e) {
      pack.destroy(e as Error);
    }
  })();
  return pack;
}

function entry(pack: tar.Pack, header: Partial<tar.Header> & { name: string }): Promise<void> {
  return new Promise((resolve, reject) => pack.entry(header, (err) => (err ? reject(err) : resolve())));
}

/** Extracts the tar `body` into the directory `dest` of the container. */
export async function extractInto(rootfs: string, dest: string, body: Readable, containerRef: string): Promise<void> {
  const destHost = await resolveInRoot(rootfs, posix.join('/', dest));
  const st = await lstat(destHost).catch(() => undefined);
  if (!st) throw notFound(`Could not find the file ${dest} in container ${containerRef}`);
  if (!st.isDirectory()) throw badParameter(`extraction point is not a directory: ${dest}`);
  const destInContainer = `/${posix.relative(posix.resolve(rootfs), destHost)}`;
  const extract = tar.extract();
  const done = new Promise<void>((resolve, reject) => {
    extract.on('entry', (header, stream, next) => {
      writeEntry(rootfs, destInContainer, header, stream).then(
        () => next(),
        (e: Error) => {
          stream.resume();
          extract.destroy(e);
        },
      );
    });
    extract.on('finish', () => resolve());
    extract.on('error', reject);
  });
  body.pipe(extract);
  await done;
}

async function writeEntry(rootfs: string, destInContainer: string, h: tar.Header, stream: { resume(): unknown; [Symbol.asyncIterator](): AsyncIterator<unknown> }): Promise<void> {
  const rel = posix.normalize(h.name.replace(/^\/+/, ''));
  if (rel === '.' || rel === './' || rel === '') {
    stream.resume();
    return;
  }
  if (rel.startsWith('../') || rel === '..') throw badParameter(`tar entry ${h.name} would land outside the extraction point`);
  const inContainer = posix.join(destInContainer, rel);
  // The parent resolved inside the root; the entry itself replaces what is there.
  const parent = await resolveInRoot(rootfs, posix.dirname(inContainer));
  await mkdir(parent, { recursive: true });
  const target = posix.join(parent, posix.basename(inContainer));
  const existing = await lstat(target).catch(() => undefined);
  const mode = (h.mode ?? 0o644) & 0o7777;
  switch (h.type) {
    case 'directory':
      if (existing && !existing.isDirectory()) await rm(target, { force: true });
      if (!existing || !existing.isDirectory()) await mkdir(target, { mode });
      await chmod(target, mode);
      stream.resume();
      break;
    case 'symlink':
      if (existing) await rm(target, { recursive: true, force: true });
      await symlink(h.linkname ?? '', target);
      stream.resume();
      break;
    case 'file':
    case 'contiguous-file': {
      if (existing) await rm(target, { recursive: true, force: true });
      // O_EXCL: never through a link planted meanwhile.
      const f = await open(target, 'wx', mode);
      try {
        for await (const chunk of stream) await f.write(chunk as Buffer);
      } finally {
        await f.close();
      }
      await chmod(target, mode);
      break;
    }
    default:
      stream.resume();
      return; // hard links, devices and FIFOs are not copied in
  }
  await lchown(target, h.uid ?? 0, h.gid ?? 0).catch(() => undefined);
  if (h.mtime && h.type !== 'symlink') await lutimes(target, h.mtime, h.mtime).catch(() => undefined);
}
