/**
 * Paths inside a container's root filesystem, resolved as if that root were `/` — never by
 * string join, so an image's symlink cannot lead a host-side read out of the image.
 *
 *   resolveInRoot(root, path)        the host path `path` names inside `root`: walked one
 *                                    component at a time with lstat/readlink, every symlink
 *                                    re-resolved against `root` (absolute ones from `root`),
 *                                    `..` clamped at `root`, at most MAX_SYMLINKS links
 *   readFileInRoot(root, path, max)  resolves, then opens the last component with O_NOFOLLOW
 *                                    and checks with fstat that it is the regular file that
 *                                    was resolved and at most `max` bytes: a device, FIFO,
 *                                    socket or directory is refused and never read, and
 *                                    so is anything under /dev, /proc or /sys, which the
 *                                    runtime mounts over the image's at start (Docker fails
 *                                    on `/etc/passwd -> /dev/zero` as well)
 *
 * This is filepath-securejoin's approach (what Docker uses for the same reads). Between the
 * walk and the open the tree could change; the callers read images before the container
 * runs (nothing else writes the rootfs then), and the final open refuses a symlink and
 * re-checks the file type and identity, so a swap yields an error, not a read outside.
 */
import { constants as fsConstants } from 'node:fs';
import { lstat, open, readlink } from 'node:fs/promises';
import { posix } from 'node:path';

/** Linux's own limit for one path lookup (MAXSYMLINKS is 40); securejoin uses 255. */
export const MAX_SYMLINKS = 40;

/** Mounted by the runtime over whatever the image has there: never image content. */
const RUNTIME_MOUNTS = ['/dev', '/proc', '/sys'];

export type InRootErrorCode = 'ENOENT' | 'ELOOP' | 'ENOTDIR' | 'NOT_REGULAR' | 'TOO_LARGE' | 'CHANGED' | 'INVALID';

/** A path that cannot be resolved or read inside the root; `code` says why. */
export class InRootError extends Error {
  override name = 'InRootError';
  constructor(
    readonly code: InRootErrorCode,
    /** the path as asked for, inside the root */
    readonly path: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

function components(p: string): string[] {
  return p.split('/').filter((c) => c !== '' && c !== '.');
}

/**
 * The host path of `path` inside `root` (an absolute host directory). The result always
 * lies under `root`. Components that do not exist are appended lexically (with `..` still
 * clamped), so the result may name something missing.
 */
export async function resolveInRoot(root: string, path: string): Promise<string> {
  if (!posix.isAbsolute(root)) throw new InRootError('INVALID', path, `root must be an absolute path: ${root}`);
  if (root.includes('\0') || path.includes('\0')) throw new InRootError('INVALID', path, 'path contains a NUL byte');
  const base = posix.resolve(root);
  const resolved: string[] = [];
  const pending = components(path);
  let links = 0;
  while (pending.length > 0) {
    const c = pending.shift()!;
    if (c === '..') {
      resolved.pop(); // at the root, `..` is the root
      continue;
    }
    const candidate = posix.join(base, ...resolved, c);
    let st;
    try {
      st = await lstat(candidate);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' && code !== 'ENOTDIR') throw new InRootError('INVALID', path, `resolving ${path} inside ${root}: ${code}`, { cause: e });
      // Missing: nothing below it can be a symlink, so the rest is lexical.
      resolved.push(c);
      for (const rest of pending.splice(0)) {
        if (rest === '..') resolved.pop();
        else resolved.push(rest);
      }
      break;
    }
    if (!st.isSymbolicLink()) {
      if (!st.isDirectory() && pending.some((p) => p !== '..')) {
        throw new InRootError('ENOTDIR', path, `${path}: /${[...resolved, c].join('/')} in the container is not a directory`);
      }
      resolved.push(c);
      continue;
    }
    if (++links > MAX_SYMLINKS) throw new InRootError('ELOOP', path, `${path}: too many levels of symbolic links in the container`);
    const target = await readlink(candidate);
    // An absolute target starts again from the root (the container's `/`), a relative one
    // from the link's directory: `resolved` already is that directory.
    if (target.startsWith('/')) resolved.length = 0;
    pending.unshift(...components(target));
  }
  return posix.join(base, ...resolved);
}

/** What a non-regular file is, for messages. */
function kindOf(st: { isDirectory(): boolean; isCharacterDevice(): boolean; isBlockDevice(): boolean; isFIFO(): boolean; isSocket(): boolean; isSymbolicLink(): boolean }): string {
  if (st.isDirectory()) return 'a directory';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  if (st.isFIFO()) return 'a FIFO';
  if (st.isSocket()) return 'a socket';
  if (st.isSymbolicLink()) return 'a symbolic link';
  return 'not a regular file';
}

/**
 * Reads the regular file `path` of the container whose root is `root`, at most `maxBytes`.
 * Resolves undefined when it does not exist; throws an InRootError when it is not a regular
 * file, is larger than `maxBytes`, or changed while it was opened.
 */
export async function readFileInRoot(root: string, path: string, maxBytes: number): Promise<Buffer | undefined> {
  const host = await resolveInRoot(root, path);
  const inContainer = `/${posix.relative(posix.resolve(root), host)}`;
  const runtimeMount = RUNTIME_MOUNTS.find((m) => inContainer === m || inContainer.startsWith(`${m}/`));
  if (runtimeMount) {
    throw new InRootError('NOT_REGULAR', path, `${path} in the container resolves to ${inContainer}, under ${runtimeMount} (devices and kernel files, mounted at start): refusing to read it`);
  }
  let before;
  try {
    before = await lstat(host);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw new InRootError('INVALID', path, `reading ${path} of the container: ${code}`, { cause: e });
  }
  if (!before.isFile()) throw new InRootError('NOT_REGULAR', path, `${path} in the container is ${kindOf(before)}, not a regular file: refusing to read it`);
  if (before.size > maxBytes) throw new InRootError('TOO_LARGE', path, `${path} in the container is larger than ${maxBytes} bytes: refusing to read it`);
  // O_NOFOLLOW: a symlink swapped in since the walk fails (ELOOP); O_NONBLOCK: a FIFO swapped
  // in does not block the open; fstat then proves it is the file that was checked.
  let fh;
  try {
    fh = await open(host, fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW | fsConstants.O_NONBLOCK | fsConstants.O_NOCTTY);
  } catch (e) {
    throw new InRootError('CHANGED', path, `${path} in the container changed while it was read (${(e as NodeJS.ErrnoException).code})`, { cause: e });
  }
  try {
    const st = await fh.stat();
    if (!st.isFile() || st.ino !== before.ino || st.dev !== before.dev) {
      throw new InRootError('CHANGED', path, `${path} in the container changed while it was read`);
    }
    // Read to EOF (the size may have changed since fstat), never more than maxBytes + 1.
    const chunks: Buffer[] = [];
    let n = 0;
    for (;;) {
      const want = Math.min(64 * 1024, maxBytes + 1 - n);
      const chunk = Buffer.alloc(want);
      const { bytesRead } = await fh.read(chunk, 0, want, null);
      if (bytesRead === 0) break;
      chunks.push(chunk.subarray(0, bytesRead));
      n += bytesRead;
      if (n > maxBytes) throw new InRootError('TOO_LARGE', path, `${path} in the container is larger than ${maxBytes} bytes: refusing to read it`);
    }
    return Buffer.concat(chunks, n);
  } finally {
    await fh.close();
  }
}
