/**
 * The typed face of the native addon (runtime/native/wharf_native.cc) and its
 * static init helper (runtime/native/init/wharf-init.c).
 *
 *   spawnContainer(options)    clone into new namespaces, set the container up
 *                              (mounts and binds resolved inside the rootfs,
 *                              pivot_root, hostname, masks, cgroupfs, lo up,
 *                              uid/gid, capabilities, no_new_privs) and exec its
 *                              program (or, with `init`, fork it under a tiny init).
 *   execInContainer(pid, opts) join a running container's namespaces and exec.
 *   createPipe()               a close-on-exec pipe for a container's stdio.
 *
 * Both resolve to a ContainerProcess once the program was exec'd (or reject
 * with a ContainerStartError naming the failed step), and leave a hook,
 * `beforeStart(pid)`, where the caller places the process in its cgroup (and
 * network) while the helper waits on the handshake socket.
 *
 * Every argument is validated here; the native side trusts what it gets.
 * The addon's filesystem syscalls (mount, mknod, xattrs) have their own typed face,
 * runtime/native/fs.ts.
 */
import { constants as osConstants } from 'node:os';
import { createRequire } from 'node:module';
import { closeSync, existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, isAbsolute, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { RawExit, RawStepError, WharfNativeBinding } from './binding.js';
import { compileSeccompCached, dockerDefaultProfile, type CompiledSeccomp } from '../security/seccomp.js';
import { seccompProgram } from './seccomp.js';
import type { DeviceNode } from '../security/devices.js';

/** Docker's default capability set: CHOWN DAC_OVERRIDE FOWNER FSETID KILL SETGID SETUID
 * SETPCAP NET_BIND_SERVICE NET_RAW SYS_CHROOT MKNOD AUDIT_WRITE SETFCAP. */
export const DOCKER_DEFAULT_CAPABILITIES = 0xa80425fbn;

/** Paths Docker masks (moby oci/defaults.go): /dev/null over files, empty ro tmpfs over dirs. */
export const DOCKER_MASKED_PATHS: readonly string[] = [
  '/proc/asound',
  '/proc/acpi',
  '/proc/kcore',
  '/proc/keys',
  '/proc/latency_stats',
  '/proc/timer_list',
  '/proc/timer_stats',
  '/proc/sched_debug',
  '/proc/scsi',
  '/sys/firmware',
  '/sys/devices/virtual/powercap',
];

/** Paths Docker makes read-only. */
export const DOCKER_READONLY_PATHS: readonly string[] = [
  '/proc/bus',
  '/proc/fs',
  '/proc/irq',
  '/proc/sys',
  '/proc/sysrq-trigger',
];

export const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export interface User {
  uid: number;
  gid: number;
  /** Supplementary groups (setgroups). Default: none. */
  additionalGids?: number[];
}

/** Which namespaces are new (true) or shared with the host (false). Default: all new.
 * The mount namespace is always new: the rootfs setup needs it. */
export interface Namespaces {
  pid?: boolean;
  net?: boolean;
  uts?: boolean;
  ipc?: boolean;
  cgroup?: boolean;
}

/** A host file or directory bound into the container. The target is resolved inside the
 * rootfs (an image's symlinks point inside it) and created with the source's type. */
export interface BindMount {
  /** Absolute host path (followed like Docker's bind sources). */
  source: string;
  /** Absolute path inside the container. */
  target: string;
  readonly: boolean;
}

/** A mount the caller prepared (runtime/volumes/): a host file or directory it opened
 * (O_PATH) bound onto `target`, or a fresh tmpfs there. Targets are resolved inside the
 * rootfs; bind mounts are private. The fd reaches wharf-init only (the shim hands it over;
 * it is closed once mounted and close-on-exec before the program runs). */
export type PreparedMount =
  | { type: 'bind'; fd: number; target: string; readonly: boolean }
  | { type: 'tmpfs'; target: string; readonly: boolean; flags: readonly ('nosuid' | 'nodev' | 'noexec' | 'noatime' | 'relatime')[]; data: string };

/** The container's own cgroups shown read-only at /sys/fs/cgroup (needs the cgroup
 * namespace). v1: one entry per hierarchy the container sits in, its controllers as the
 * kernel names the mount ("memory", "cpu,cpuacct"); v2: the unified hierarchy. */
export type CgroupFs = { version: 1; hierarchies: readonly string[] } | { version: 2 };

interface ProcessOptions {
  /** argv; args[0] is resolved through PATH of `env` (Docker's default PATH if unset) unless it has a slash. */
  args: string[];
  /** "KEY=value" entries, passed as is. */
  env?: string[];
  /** Absolute working directory inside the container. Default "/" (run: created if missing). */
  cwd?: string;
  /** Default: root (0:0), no supplementary groups. */
  user?: User;
  /** Capability set for bounding/effective/permitted (inheritable and ambient are cleared). Default Docker's. */
  capabilities?: bigint;
  /** prctl(PR_SET_NO_NEW_PRIVS). Default true. */
  noNewPrivileges?: boolean;
  /** The seccomp filter (runtime/security/seccomp.ts); null: unconfined. Default Docker's
   * default profile for `capabilities`. */
  seccomp?: CompiledSeccomp | null;
  /** PR_SET_PDEATHSIG(SIGKILL): the process dies with this Node process (the foreground
   * `wharf run`; a daemon that outlives its clients does not want it). Default false. */
  dieWithParent?: boolean;
  /** A new pty inside the container (its own devpts) as the program's 0, 1, 2 and
   * controlling terminal; the master goes to the parent over the sync socket. Only the
   * daemon's shim (runtime/native/shim.ts) receives it: spawnContainer refuses it. */
  tty?: boolean;
  /** fds for the program's stdin, stdout, stderr. Default: this process's 0, 1, 2. */
  stdio?: [number, number, number];
  /** Called with the helper's host pid while it waits (before any setup): place it in its
   * cgroup here. A rejection aborts the start (the helper is killed and reaped). */
  beforeStart?: (pid: number) => void | Promise<void>;
}

export interface SpawnOptions extends ProcessOptions {
  /** Absolute path of the prepared root filesystem (e.g. an overlay mount). */
  rootfs: string;
  /** Needs a new uts namespace. */
  hostname?: string;
  namespaces?: Namespaces;
  readOnlyRootfs?: boolean;
  /** Default DOCKER_MASKED_PATHS. */
  maskedPaths?: readonly string[];
  /** Default DOCKER_READONLY_PATHS. */
  readonlyPaths?: readonly string[];
  /** Bound in order, after /proc, /sys and /dev. */
  binds?: readonly BindMount[];
  /** Volumes, user binds and tmpfs, in order after `binds`. Only the shim can hand over
   * their fds (encodeSpawnSpec returns them as `passFds`): spawnContainer refuses them. */
  mounts?: readonly PreparedMount[];
  /** Mount the container's cgroups at /sys/fs/cgroup (read-only). Default: none. */
  cgroupfs?: CgroupFs;
  /** `--init`: the helper stays PID 1, forwards signals to the program and reaps zombies. */
  init?: boolean;
  /** Device nodes created in the container after pivot_root (--device, --privileged's host
   * devices; runtime/security/devices.ts). Whether they open is the devices cgroup's call. */
  devices?: readonly DeviceNode[];
  /** /sys read-write (--privileged). Default read-only. */
  writableSys?: boolean;
  /** A network namespace file (runtime/network/: made and wired before the start, or
   * another container's) that the helper joins instead of a new namespace. */
  netns?: string;
}

export type ExecOptions = ProcessOptions;

export type ExitStatus = { exitCode: number; signal?: undefined } | { signal: NodeJS.Signals; exitCode?: undefined };

/** Docker's convention: the exit code, or 128 + signal number. */
export function exitStatusCode(status: ExitStatus): number {
  if (status.signal !== undefined) return 128 + (osConstants.signals[status.signal] ?? 0);
  return status.exitCode;
}

export class InvalidSpecError extends Error {
  override name = 'InvalidSpecError';
}

/** A failed setup step of the init helper (or of the clone itself). */
export class ContainerStartError extends Error {
  override name = 'ContainerStartError';
  constructor(
    /** Step name, e.g. "pivot_root", "exec", "mount_proc" (see runtime/native/sync.h). */
    readonly step: string,
    readonly errno: number,
    /** Symbolic errno, e.g. "ENOENT". */
    readonly code: string,
    readonly detail: string,
  ) {
    super(`container start failed at ${step}: ${code} (${detail})`);
  }
}

function errnoName(errno: number): string {
  for (const [name, value] of Object.entries(osConstants.errno)) if (value === errno) return name;
  return `errno ${errno}`;
}

function signalName(signal: number): NodeJS.Signals {
  for (const [name, value] of Object.entries(osConstants.signals)) if (value === signal) return name as NodeJS.Signals;
  return `SIG${signal}` as NodeJS.Signals;
}

/* ---------- locating and loading the addon ---------- */

let buildDir: string | undefined;
/** build/Release of the package root: walked up from this file (dist/runtime/native/spawn.js or
 * dist-<x>/runtime/native/spawn.js), once (every container start asks for the helper and the shim). */
export function nativeBuildDir(): string {
  buildDir ??= findBuildDir();
  return buildDir;
}

function findBuildDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg)) {
      try {
        if ((JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === 'wharf') {
          return join(dir, 'build', 'Release');
        }
      } catch {
        /* not ours, keep walking */
      }
    }
    const up = dirname(dir);
    if (up === dir) throw new Error('runtime/native: cannot find the wharf package root (package.json)');
    dir = up;
  }
}

let binding: WharfNativeBinding | undefined;
/** The raw binding, loaded once. Only the typed faces (this file, runtime/native/fs.ts) call it. */
export function native(): WharfNativeBinding {
  if (!binding) {
    const file = join(nativeBuildDir(), 'wharf_native.node');
    if (!existsSync(file)) throw new Error(`runtime/native: ${file} is missing; build it with \`npx node-gyp rebuild\``);
    binding = createRequire(import.meta.url)(file) as WharfNativeBinding;
  }
  return binding;
}

export function helperPath(): string {
  const file = join(nativeBuildDir(), 'wharf-init');
  if (!existsSync(file)) throw new Error(`runtime/native: ${file} is missing; build it with \`npx node-gyp rebuild\``);
  return file;
}

/* ---------- validation ---------- */

function noNul(what: string, s: unknown): string {
  if (typeof s !== 'string') throw new InvalidSpecError(`${what} must be a string`);
  if (s.includes('\0')) throw new InvalidSpecError(`${what} contains a NUL byte`);
  return s;
}

function absolute(what: string, p: unknown): string {
  const s = noNul(what, p);
  if (!isAbsolute(s)) throw new InvalidSpecError(`${what} must be an absolute path: ${s}`);
  return s;
}

function id(what: string, n: unknown): number {
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 0 || n > 0xfffffffe) {
    throw new InvalidSpecError(`${what} must be an integer in 0..4294967294`);
  }
  return n;
}

const HOSTNAME = /^[A-Za-z0-9]([A-Za-z0-9.-]{0,62})$/;

/** The helper's "device" entry (init/devices.c): "c 10 200 666 0 0 /dev/net/tun". */
function deviceEntry(i: number, d: DeviceNode): string {
  const what = `devices[${i}]`;
  if (typeof d !== 'object' || d === null || (d.type !== 'c' && d.type !== 'b')) throw new InvalidSpecError(`${what}.type must be c or b`);
  const path = absolute(`${what}.path`, d.path);
  if (path.split('/').some((c) => c === '..' || c === '.') || path === '/' || path.endsWith('/')) throw new InvalidSpecError(`${what}.path must be a normalised file path: ${path}`);
  for (const k of ['major', 'minor'] as const) if (!Number.isInteger(d[k]) || d[k] < 0 || d[k] > 0xfffff) throw new InvalidSpecError(`${what}.${k} must be a device number`);
  if (!Number.isInteger(d.mode) || d.mode < 0 || d.mode > 0o7777) throw new InvalidSpecError(`${what}.mode must be permission bits`);
  return `${d.type} ${d.major} ${d.minor} ${d.mode.toString(8)} ${id(`${what}.uid`, d.uid)} ${id(`${what}.gid`, d.gid)} ${path}`;
}

class SpecWriter {
  private parts: Buffer[] = [];
  add(key: string, value: string): void {
    this.parts.push(Buffer.from(`${key}\0${value}\0`, 'utf8'));
  }
  buffer(): Buffer {
    return Buffer.concat(this.parts);
  }
}

function writeProcess(w: SpecWriter, o: ProcessOptions, defaultCwd: string | undefined): void {
  if (!Array.isArray(o.args) || o.args.length === 0) throw new InvalidSpecError('args must be a non-empty array');
  o.args.forEach((a, i) => w.add('arg', noNul(`args[${i}]`, a)));
  if (o.args[0] === '') throw new InvalidSpecError('args[0] must not be empty');
  if (o.tty) w.add('console', '1');
  if (o.env !== undefined) {
    if (!Array.isArray(o.env)) throw new InvalidSpecError('env must be an array of KEY=value');
    o.env.forEach((e, i) => {
      const s = noNul(`env[${i}]`, e);
      if (s.indexOf('=') <= 0) throw new InvalidSpecError(`env[${i}] must look like KEY=value: ${s}`);
      w.add('env', s);
    });
  }
  const cwd = o.cwd ?? defaultCwd;
  if (cwd !== undefined) w.add('cwd', absolute('cwd', cwd));
  const user = o.user ?? { uid: 0, gid: 0 };
  w.add('uid', String(id('user.uid', user.uid)));
  w.add('gid', String(id('user.gid', user.gid)));
  if (user.additionalGids !== undefined) {
    if (!Array.isArray(user.additionalGids)) throw new InvalidSpecError('user.additionalGids must be an array');
    user.additionalGids.forEach((g, i) => w.add('group', String(id(`user.additionalGids[${i}]`, g))));
  }
  const caps = o.capabilities ?? DOCKER_DEFAULT_CAPABILITIES;
  if (typeof caps !== 'bigint' || caps < 0n || caps >= 1n << 64n) throw new InvalidSpecError('capabilities must be a 64-bit bigint mask');
  w.add('caps', caps.toString(16));
  w.add('nnp', o.noNewPrivileges === false ? '0' : '1');
  if (o.dieWithParent !== undefined && typeof o.dieWithParent !== 'boolean') throw new InvalidSpecError('dieWithParent must be a boolean');
  if (o.dieWithParent) w.add('pdeathsig', '1');
}

function writeBinds(w: SpecWriter, binds: unknown): void {
  if (binds === undefined) return;
  if (!Array.isArray(binds)) throw new InvalidSpecError('binds must be an array');
  binds.forEach((b: unknown, i) => {
    if (typeof b !== 'object' || b === null) throw new InvalidSpecError(`binds[${i}] must be an object`);
    const { source, target, readonly } = b as Record<string, unknown>;
    const src = absolute(`binds[${i}].source`, source);
    if (!existsSync(src)) throw new InvalidSpecError(`binds[${i}].source does not exist: ${src}`);
    const dst = absolute(`binds[${i}].target`, target);
    if (dst.split('/').every((c) => c === '' || c === '.')) throw new InvalidSpecError(`binds[${i}].target must not be /`);
    if (typeof readonly !== 'boolean') throw new InvalidSpecError(`binds[${i}].readonly must be a boolean`);
    w.add('bind', src);
    w.add('bind-target', dst);
    w.add('bind-ro', readonly ? '1' : '0');
  });
}

const TMPFS_FLAGS = ['nosuid', 'nodev', 'noexec', 'noatime', 'relatime'] as const;

/** The helper's bind-fd / tmpfs entries; returns the caller's fds in the order the helper
 * gets them (its fds 5, 6, ...). */
function writeMounts(w: SpecWriter, mounts: unknown): number[] {
  const fds: number[] = [];
  if (mounts === undefined) return fds;
  if (!Array.isArray(mounts)) throw new InvalidSpecError('mounts must be an array');
  const f = native().mountFlags;
  mounts.forEach((m: unknown, i) => {
    if (typeof m !== 'object' || m === null) throw new InvalidSpecError(`mounts[${i}] must be an object`);
    const { type, fd, target, readonly, flags, data } = m as Record<string, unknown>;
    const dst = absolute(`mounts[${i}].target`, target);
    if (dst.split('/').every((c) => c === '' || c === '.')) throw new InvalidSpecError(`mounts[${i}].target must not be /`);
    if (typeof readonly !== 'boolean') throw new InvalidSpecError(`mounts[${i}].readonly must be a boolean`);
    if (type === 'bind') {
      if (typeof fd !== 'number' || !Number.isInteger(fd) || fd < 0) throw new InvalidSpecError(`mounts[${i}].fd must be a file descriptor`);
      w.add('bind-fd', String(5 + fds.length));
      fds.push(fd);
    } else if (type === 'tmpfs') {
      const d = noNul(`mounts[${i}].data`, data);
      if (Buffer.byteLength(d) > 4095) throw new InvalidSpecError(`mounts[${i}].data is longer than a page`);
      if (!Array.isArray(flags) || !flags.every((x) => (TMPFS_FLAGS as readonly unknown[]).includes(x))) throw new InvalidSpecError(`mounts[${i}].flags must be among ${TMPFS_FLAGS.join(', ')}`);
      let bits = readonly ? f.rdonly : 0;
      for (const x of flags as (typeof TMPFS_FLAGS)[number][]) bits |= f[x];
      w.add('tmpfs', d);
      w.add('mount-flags', bits.toString(16));
    } else {
      throw new InvalidSpecError(`mounts[${i}].type must be bind or tmpfs`);
    }
    w.add('bind-target', dst);
    w.add('bind-ro', readonly ? '1' : '0');
  });
  return fds;
}

const HIERARCHY = /^[a-z0-9_]+(,[a-z0-9_]+)*$/;

function writeCgroupFs(w: SpecWriter, fs: unknown, cgroupns: boolean): void {
  if (fs === undefined) return;
  if (!cgroupns) throw new InvalidSpecError('cgroupfs needs a new cgroup namespace');
  const f = fs as { version?: unknown; hierarchies?: unknown };
  if (typeof fs !== 'object' || fs === null || (f.version !== 1 && f.version !== 2)) {
    throw new InvalidSpecError('cgroupfs must be {version: 1, hierarchies} or {version: 2}');
  }
  if (f.version === 2) return w.add('cgroup2', '1');
  if (!Array.isArray(f.hierarchies) || f.hierarchies.length === 0) throw new InvalidSpecError('cgroupfs.hierarchies must be a non-empty array');
  for (const h of f.hierarchies) {
    if (typeof h !== 'string' || !HIERARCHY.test(h)) throw new InvalidSpecError(`invalid cgroup v1 hierarchy: ${String(h)}`);
    w.add('cgroup1', h);
  }
}

/** The seccomp program for the spec (built once per profile: runtime/native/seccomp.ts), or null. */
async function writeSeccomp(w: SpecWriter, o: ProcessOptions): Promise<void> {
  const seccomp = o.seccomp === undefined ? compileSeccompCached(dockerDefaultProfile(), o.capabilities ?? DOCKER_DEFAULT_CAPABILITIES) : o.seccomp;
  if (seccomp === null) return;
  if (typeof seccomp !== 'object' || !Array.isArray(seccomp.arches) || !Array.isArray(seccomp.rules) || typeof seccomp.defaultAction !== 'string') {
    throw new InvalidSpecError('seccomp must be a compiled profile (runtime/security/seccomp.ts) or null');
  }
  [seccomp.defaultAction, ...seccomp.arches, ...seccomp.rules].forEach((s) => noNul('seccomp', s));
  w.add('seccomp_bpf', await seccompProgram(helperPath(), seccomp));
}

function checkStdio(stdio: unknown): [number, number, number] {
  if (stdio === undefined) return [0, 1, 2];
  if (!Array.isArray(stdio) || stdio.length !== 3 || !stdio.every((fd) => Number.isInteger(fd) && fd >= 0 && fd < 2 ** 31)) {
    throw new InvalidSpecError('stdio must be three file descriptors');
  }
  return stdio as [number, number, number];
}

/** An idle daemon's memory back to the kernel: V8's LowMemoryNotification, then glibc's malloc_trim(0). */
export function trimHeap(): void {
  native().trimHeap();
}

/* ---------- processes ---------- */

/** A pipe (both ends close-on-exec) for a container's stdio: the child end is dup'ed into
 * the helper's 0-2 by spawn; the caller keeps the other end and closes the child's. */
export function createPipe(): { read: number; write: number } {
  const [read, write] = native().pipe();
  return { read, write };
}

/** A started container process (or exec'd process): the helper's host pid, held by a pidfd. */
export class ContainerProcess {
  private exited: Promise<ExitStatus>;
  private done = false;

  constructor(
    /** Host pid (PID 1 of the container when it has its own pid namespace). */
    readonly pid: number,
    private readonly pidfd: number,
  ) {
    this.exited = native()
      .wait(pidfd)
      .then((raw: RawExit): ExitStatus => ('signal' in raw ? { signal: signalName(raw.signal) } : { exitCode: raw.exitCode }))
      .finally(() => {
        this.done = true;
        closeSync(pidfd);
      });
  }

  /** Resolves once the process ended (and was reaped): {exitCode} or {signal}. */
  wait(): Promise<ExitStatus> {
    return this.exited;
  }

  /** Signals the process through its pidfd; a no-op once it ended. */
  kill(signal: NodeJS.Signals | number = 'SIGKILL'): void {
    if (this.done) return;
    const n = typeof signal === 'number' ? signal : osConstants.signals[signal];
    if (n === undefined) throw new InvalidSpecError(`unknown signal ${String(signal)}`);
    try {
      native().kill(this.pidfd, n);
    } catch (e) {
      if ((e as { errno?: number }).errno !== osConstants.errno.ESRCH) throw e;
    }
  }
}

async function start(spec: Buffer, flags: number, stdio: [number, number, number], beforeStart: ProcessOptions['beforeStart']): Promise<ContainerProcess> {
  const n = native();
  const raw = n.spawn({ helper: helperPath(), spec, stdio, flags });
  const proc = new ContainerProcess(raw.pid, raw.pidfd);
  let failure: RawStepError | null;
  try {
    if (beforeStart) await beforeStart(raw.pid);
  } catch (e) {
    closeSync(raw.syncFd); // EOF on the socket: the helper exits
    proc.kill('SIGKILL');
    await proc.wait();
    throw e;
  }
  try {
    failure = await n.resume(raw.syncFd);
  } catch (e) {
    proc.kill('SIGKILL');
    await proc.wait();
    throw e;
  }
  if (failure) {
    proc.kill('SIGKILL');
    await proc.wait();
    throw new ContainerStartError(failure.stepName, failure.errno, errnoName(failure.errno), failure.message);
  }
  return proc;
}

/** The helper's spec and the clone flags for a container (what spawnContainer and the
 * daemon's shim, runtime/native/shim.ts, hand to wharf-init). Validates everything. */
export async function encodeSpawnSpec(options: Omit<SpawnOptions, 'stdio' | 'beforeStart'>): Promise<{ spec: Buffer; flags: number; passFds: number[] }> {
  const o = options;
  if (typeof o !== 'object' || o === null) throw new InvalidSpecError('options must be an object');
  const w = new SpecWriter();
  w.add('mode', 'run');
  const rootfs = absolute('rootfs', o.rootfs);
  let st;
  try {
    st = statSync(rootfs);
  } catch {
    throw new InvalidSpecError(`rootfs does not exist: ${rootfs}`);
  }
  if (!st.isDirectory()) throw new InvalidSpecError(`rootfs is not a directory: ${rootfs}`);
  w.add('rootfs', rootfs.replace(/\/+$/, '') || '/');
  if (rootfs.replace(/\/+$/, '') === '') throw new InvalidSpecError('rootfs must not be /');
  const ns = { pid: true, net: true, uts: true, ipc: true, cgroup: true, ...(o.namespaces ?? {}) };
  for (const [k, v] of Object.entries(ns)) {
    if (typeof v !== 'boolean') throw new InvalidSpecError(`namespaces.${k} must be a boolean`);
    if (!['pid', 'net', 'uts', 'ipc', 'cgroup'].includes(k)) throw new InvalidSpecError(`unknown namespace ${k}`);
  }
  if (o.hostname !== undefined) {
    if (!ns.uts) throw new InvalidSpecError('hostname needs a new uts namespace');
    if (typeof o.hostname !== 'string' || !HOSTNAME.test(o.hostname)) throw new InvalidSpecError(`invalid hostname: ${String(o.hostname)}`);
    w.add('hostname', o.hostname);
  }
  if (o.readOnlyRootfs) w.add('readonly', '1');
  if (o.writableSys) w.add('sysrw', '1');
  for (const [i, d] of (o.devices ?? []).entries()) w.add('device', deviceEntry(i, d));
  for (const p of o.maskedPaths ?? DOCKER_MASKED_PATHS) w.add('mask', absolute('maskedPaths[]', p));
  for (const p of o.readonlyPaths ?? DOCKER_READONLY_PATHS) w.add('rpath', absolute('readonlyPaths[]', p));
  // The cgroup namespace is unshared by the helper after it was placed in its cgroup,
  // so that the container's cgroup is its root.
  if (ns.cgroup) w.add('cgroupns', '1');
  // A new network namespace has only lo, down: bring it up (Docker's --network none).
  if (ns.net) w.add('lo', '1');
  if (o.netns !== undefined) {
    if (!ns.net) throw new InvalidSpecError('netns needs namespaces.net');
    w.add('netns', absolute('netns', o.netns));
  }
  writeBinds(w, o.binds);
  const passFds = writeMounts(w, o.mounts);
  writeCgroupFs(w, o.cgroupfs, ns.cgroup);
  if (o.init !== undefined && typeof o.init !== 'boolean') throw new InvalidSpecError('init must be a boolean');
  if (o.init) w.add('init', '1');
  writeProcess(w, o, '/');
  await writeSeccomp(w, o);
  const f = native().cloneFlags;
  const flags = f.mount | (ns.pid ? f.pid : 0) | (ns.net && o.netns === undefined ? f.net : 0) | (ns.uts ? f.uts : 0) | (ns.ipc ? f.ipc : 0);
  return { spec: w.buffer(), flags, passFds };
}

/** Starts a container. Resolves once its program was exec'd. */
export async function spawnContainer(options: SpawnOptions): Promise<ContainerProcess> {
  if (typeof options !== 'object' || options === null) throw new InvalidSpecError('options must be an object');
  if (options.tty) throw new InvalidSpecError('tty needs the shim (wharf daemon)');
  if (options.mounts?.length) throw new InvalidSpecError('mounts need the shim (wharf daemon)');
  const { spec, flags } = await encodeSpawnSpec(options);
  const stdio = checkStdio(options.stdio);
  if (options.beforeStart !== undefined && typeof options.beforeStart !== 'function') throw new InvalidSpecError('beforeStart must be a function');
  return start(spec, flags, stdio, options.beforeStart);
}

/** Runs a program inside a running container (by the host pid of its init), like `docker exec`.
 * The returned process is the helper, which waits for the program and mirrors its exit
 * status (and forwards signals to it). Place it in the container's cgroup in beforeStart. */
export async function execInContainer(pid: number, options: ExecOptions): Promise<ContainerProcess> {
  if (options?.tty) throw new InvalidSpecError('tty needs the shim (wharf daemon)');
  const spec = await encodeExecSpec(pid, options);
  const stdio = checkStdio(options.stdio);
  if (options.beforeStart !== undefined && typeof options.beforeStart !== 'function') throw new InvalidSpecError('beforeStart must be a function');
  return start(spec, 0, stdio, options.beforeStart);
}

/** The helper's spec for an exec into the container whose init has host pid `pid`. */
export async function encodeExecSpec(pid: number, options: Omit<ExecOptions, 'stdio' | 'beforeStart'>): Promise<Buffer> {
  if (!Number.isInteger(pid) || pid <= 0) throw new InvalidSpecError('pid must be a positive integer');
  if (!existsSync(`/proc/${pid}/ns/mnt`)) throw new InvalidSpecError(`no such process: ${pid}`);
  const o = options;
  if (typeof o !== 'object' || o === null) throw new InvalidSpecError('options must be an object');
  const w = new SpecWriter();
  w.add('mode', 'exec');
  w.add('target', String(pid));
  for (const kind of ['cgroup', 'ipc', 'uts', 'net', 'pid', 'mnt']) w.add('join', kind);
  writeProcess(w, o, undefined);
  await writeSeccomp(w, o);
  return w.buffer();
}
