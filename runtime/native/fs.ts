/**
 * The typed face of the addon's filesystem syscalls, the ones Node lacks
 * (runtime/native/wharf_native.cc):
 *
 *   mount(source, target, fstype, flags, data, {cwd})   mount(2)
 *   umount(target, {detach, force, noFollow})            umount2(2)
 *   mknod(path, mode, major, minor)                      mknod(2): devices, FIFOs, whiteouts
 *   lsetxattr(path, name, value) / lgetxattr(path, name) extended attributes, never via a symlink
 *   copyFileRange(inFd, inOffset, outFd, outOffset, len) copy_file_range(2), asynchronous
 *
 * All synchronous but copyFileRange: each is one quick syscall (an overlay mount takes well under a
 * millisecond), cheaper on the JS thread than a round trip through the libuv pool.
 * Arguments are validated here (absolute paths, no NUL bytes, known flags, kernel
 * limits); a refused argument throws a TypeError or RangeError with Node's
 * ERR_INVALID_ARG_VALUE code. A failed syscall throws a SyscallError shaped like
 * Node's fs errors: `code` ('EPERM'), `errno` (negative, as Node's), `syscall`, `path`.
 */
import { constants as fsConstants } from 'node:fs';
import { isAbsolute } from 'node:path';
import { getSystemErrorName } from 'node:util';
import { native } from './spawn.js';
import type { RawMountFlags } from './binding.js';

/** A failed syscall, as Node reports fs failures (NodeJS.ErrnoException). */
export class SyscallError extends Error implements NodeJS.ErrnoException {
  override name = 'SyscallError';
  /** Symbolic errno, e.g. "EPERM". */
  readonly code: string;
  /** Negative errno, as in Node's fs errors (e.g. -1 for EPERM). */
  readonly errno: number;
  constructor(
    errno: number,
    description: string,
    readonly syscall: string,
    readonly path?: string,
  ) {
    const code = safeErrorName(errno);
    super(`${code}: ${description}, ${syscall}${path === undefined ? '' : ` '${path}'`}`);
    this.code = code;
    this.errno = -errno;
  }
}

function safeErrorName(errno: number): string {
  try {
    return getSystemErrorName(-errno);
  } catch {
    return `errno ${errno}`;
  }
}

/** Runs a raw call; a native failure ({errno, syscall}) becomes a SyscallError. */
function syscall<T>(call: () => T, pathFor: (failedSyscall: string) => string | undefined): T {
  try {
    return call();
  } catch (e) {
    const raw = e as { errno?: unknown; syscall?: unknown; message?: string };
    if (typeof raw.errno === 'number' && typeof raw.syscall === 'string') {
      throw new SyscallError(raw.errno, raw.message ?? '', raw.syscall, pathFor(raw.syscall));
    }
    throw e;
  }
}

/* ---------- validation ---------- */

function invalid(message: string, Kind: typeof TypeError | typeof RangeError = TypeError): Error {
  const e = new Kind(message) as Error & { code: string };
  e.code = 'ERR_INVALID_ARG_VALUE';
  return e;
}

function noNul(what: string, s: unknown): string {
  if (typeof s !== 'string') throw invalid(`${what} must be a string`);
  if (s.includes('\0')) throw invalid(`${what} must not contain a NUL byte`);
  return s;
}

function absolutePath(what: string, p: unknown): string {
  const s = noNul(what, p);
  if (!isAbsolute(s)) throw invalid(`${what} must be an absolute path: ${s}`);
  return s;
}

function uint(what: string, n: unknown, max: number): number {
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 0 || n > max) throw invalid(`${what} must be an integer in 0..${max}`, RangeError);
  return n;
}

/* ---------- mount ---------- */

export type MountFlag = keyof RawMountFlags;

const PROPAGATION: readonly MountFlag[] = ['private', 'slave', 'shared', 'unbindable'];

/** One page including the terminating NUL: the kernel refuses longer mount data. */
export const MAX_MOUNT_DATA = 4095;

export interface MountOptions {
  /** Relative paths in `data` (overlay lowerdirs) resolve from here. The process cwd is
   * never changed: the mount runs on a thread with its own fs context. */
  cwd?: string;
}

/**
 * mount(2). `source` and `fstype` may be '' (bind mounts, propagation changes);
 * `data` is the comma-separated option string, at most MAX_MOUNT_DATA bytes.
 */
export function mount(source: string, target: string, fstype: string, flags: readonly MountFlag[] = [], data = '', options: MountOptions = {}): void {
  noNul('source', source);
  absolutePath('target', target);
  if (typeof fstype !== 'string' || (fstype !== '' && !/^[a-z0-9][a-z0-9._-]*$/.test(fstype))) throw invalid(`invalid fstype: ${String(fstype)}`);
  noNul('data', data);
  if (Buffer.byteLength(data) > MAX_MOUNT_DATA) throw invalid(`mount data is ${Buffer.byteLength(data)} bytes, more than one page allows (${MAX_MOUNT_DATA})`, RangeError);
  const cwd = options.cwd === undefined ? null : absolutePath('cwd', options.cwd);
  const n = native();
  if (!Array.isArray(flags)) throw invalid('flags must be an array of mount flag names');
  let bits = 0;
  for (const f of flags) {
    if (typeof f !== 'string' || !Object.hasOwn(n.mountFlags, f)) throw invalid(`unknown mount flag: ${String(f)}`);
    bits |= n.mountFlags[f as MountFlag];
  }
  // The kernel reads a propagation change, or a move, as the whole request.
  const propagation = flags.filter((f) => PROPAGATION.includes(f));
  if (propagation.length > 1 || (propagation.length === 1 && flags.some((f) => f !== propagation[0] && f !== 'rec'))) {
    throw invalid(`mount flag ${propagation[0]} combines only with rec`);
  }
  if (flags.includes('move') && flags.some((f) => f !== 'move')) throw invalid('mount flag move combines with no other flag');
  syscall(
    () => n.mount(source === '' ? null : source, target, fstype === '' ? null : fstype, bits, data === '' ? null : data, cwd),
    (failed) => (failed === 'chdir' ? (cwd ?? undefined) : target),
  );
}

export interface UmountOptions {
  /** MNT_DETACH: lazy unmount, detached now, cleaned up when no longer busy. */
  detach?: boolean;
  /** MNT_FORCE (NFS and the like). */
  force?: boolean;
  /** UMOUNT_NOFOLLOW: do not follow a symlink at `target`. */
  noFollow?: boolean;
}

/** umount2(2). */
export function umount(target: string, options: UmountOptions = {}): void {
  absolutePath('target', target);
  const n = native();
  const bits = (options.detach ? n.umountFlags.detach : 0) | (options.force ? n.umountFlags.force : 0) | (options.noFollow ? n.umountFlags.nofollow : 0);
  syscall(() => n.umount(target, bits), () => target);
}

/* ---------- device nodes, FIFOs ---------- */

const MKNOD_TYPES = new Set([fsConstants.S_IFCHR, fsConstants.S_IFBLK, fsConstants.S_IFIFO]);

/**
 * mknod(2). `mode` is a file type (S_IFCHR, S_IFBLK or S_IFIFO from fs.constants) OR'ed
 * with permission bits (subject to the umask). An overlayfs whiteout is
 * `mknod(path, S_IFCHR | 0o600, 0, 0)`.
 */
export function mknod(path: string, mode: number, major = 0, minor = 0): void {
  absolutePath('path', path);
  uint('mode', mode, 0o177777);
  if (!MKNOD_TYPES.has(mode & fsConstants.S_IFMT)) throw invalid('mode must carry the file type S_IFCHR, S_IFBLK or S_IFIFO');
  // The kernel's dev_t: 12 bits of major, 20 of minor.
  uint('major', major, 0xfff);
  uint('minor', minor, 0xfffff);
  syscall(() => native().mknod(path, mode, major, minor), () => path);
}

/* ---------- extended attributes ---------- */

const XATTR_NAMESPACES = ['user.', 'trusted.', 'security.', 'system.'];
const XATTR_NAME_MAX = 255;
const XATTR_SIZE_MAX = 65536;
const XATTR_CREATE = 1; // linux/xattr.h
const XATTR_REPLACE = 2;

function xattrName(name: unknown): string {
  const s = noNul('xattr name', name);
  const bytes = Buffer.byteLength(s);
  if (bytes === 0 || bytes > XATTR_NAME_MAX) throw invalid(`xattr name must be 1..${XATTR_NAME_MAX} bytes`, RangeError);
  if (!XATTR_NAMESPACES.some((p) => s.startsWith(p) && s.length > p.length)) throw invalid(`xattr name has no known namespace: ${s}`);
  return s;
}

export interface SetXattrOptions {
  /** XATTR_CREATE: fail with EEXIST if the attribute exists. */
  create?: boolean;
  /** XATTR_REPLACE: fail with ENODATA if it does not. */
  replace?: boolean;
}

/** lsetxattr(2): sets the attribute on `path` itself, a symlink included. */
export function lsetxattr(path: string, name: string, value: Uint8Array, options: SetXattrOptions = {}): void {
  absolutePath('path', path);
  xattrName(name);
  if (!(value instanceof Uint8Array)) throw invalid('xattr value must be a Buffer');
  if (value.length > XATTR_SIZE_MAX) throw invalid(`xattr value must be at most ${XATTR_SIZE_MAX} bytes`, RangeError);
  if (options.create && options.replace) throw invalid('create and replace exclude each other');
  const flags = (options.create ? XATTR_CREATE : 0) | (options.replace ? XATTR_REPLACE : 0);
  const buf = Buffer.isBuffer(value) ? value : Buffer.from(value.buffer, value.byteOffset, value.length);
  syscall(() => native().lsetxattr(path, name, buf, flags), () => path);
}

/** lgetxattr(2): the attribute's bytes; a SyscallError with code ENODATA when it is not set. */
export function lgetxattr(path: string, name: string): Buffer {
  absolutePath('path', path);
  xattrName(name);
  return syscall(() => native().lgetxattr(path, name), () => path);
}

/* ---------- copy_file_range ---------- */

/**
 * copy_file_range(2) of `length` bytes from `inFd` at `inOffset` to `outFd` at `outOffset`,
 * in the kernel, on a libuv pool thread (the one asynchronous call here: a large
 * file takes a while). Falls back to pread/pwrite where the kernel refuses the pair. Neither
 * fd's file offset moves. A source shorter than `length` fails with EIO.
 */
export async function copyFileRange(inFd: number, inOffset: number, outFd: number, outOffset: number, length: number): Promise<void> {
  uint('inFd', inFd, 0x7fffffff);
  uint('outFd', outFd, 0x7fffffff);
  uint('inOffset', inOffset, Number.MAX_SAFE_INTEGER);
  uint('outOffset', outOffset, Number.MAX_SAFE_INTEGER);
  uint('length', length, Number.MAX_SAFE_INTEGER);
  try {
    await native().copyFileRange(inFd, inOffset, outFd, outOffset, length);
  } catch (e) {
    const raw = e as { errno?: unknown; syscall?: unknown; message?: string };
    if (typeof raw.errno === 'number' && typeof raw.syscall === 'string') throw new SyscallError(raw.errno, raw.message ?? '', raw.syscall);
    throw e;
  }
}
