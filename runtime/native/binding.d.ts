/** The raw shape of build/Release/wharf_native.node (runtime/native/wharf_native.cc).
 * Only runtime/native/spawn.ts calls it; everything else uses that typed face. */

export interface RawSpawnSpec {
  /** Absolute path of the static init helper (build/Release/wharf-init). */
  helper: string;
  /** Encoded helper spec: NUL-terminated key, value pairs (see wharf-init.c). */
  spec: Buffer;
  /** fds that become the child's 0, 1, 2. */
  stdio: [number, number, number];
  /** OR of cloneFlags values. */
  flags: number;
}

export interface RawSpawned {
  pid: number;
  pidfd: number;
  syncFd: number;
}

export interface RawStepError {
  step: number;
  errno: number;
  stepName: string;
  message: string;
}

export type RawExit = { exitCode: number } | { signal: number };

export interface WharfNativeBinding {
  spawn(spec: RawSpawnSpec): RawSpawned;
  /** Releases the helper (sync 1.) and resolves null on exec (EOF) or the step error. Closes syncFd. */
  resume(syncFd: number): Promise<RawStepError | null>;
  /** Resolves once the process ended; reaps it. Call once per pidfd. Does not close it. */
  wait(pidfd: number): Promise<RawExit>;
  kill(pidfd: number, signal: number): void;
  /** posix_spawn (on a pool thread) of `path` in a new session with fds[i] as its fd i (duplicated
   * at the call: the caller may close its copies then); the caller reaps it with wait(pidfd) and closes pidfd. */
  spawnDetached(path: string, argv: string[], fds: number[]): Promise<{ pid: number; pidfd: number }>;
  cloneFlags: { pid: number; mount: number; uts: number; ipc: number; net: number; cgroup: number };

  /* Filesystem syscalls (runtime/native/fs.ts). Synchronous; a failure throws an Error
   * with `errno` (positive) and `syscall`. */
  /** pipe2(O_CLOEXEC): [read end, write end]. */
  pipe(): [number, number];
  /** socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC) */
  socketpair(): [number, number];
  /** mount(2); with `cwd`, relative paths in `data` resolve from there (the process cwd is untouched). */
  mount(source: string | null, target: string, fstype: string | null, flags: number, data: string | null, cwd: string | null): void;
  /** umount2(2) */
  umount(target: string, flags: number): void;
  /** mknod(2): `mode` includes the file type bits. */
  mknod(path: string, mode: number, major: number, minor: number): void;
  lsetxattr(path: string, name: string, value: Buffer, flags: number): void;
  lgetxattr(path: string, name: string): Buffer;
  /** V8's LowMemoryNotification, then malloc_trim(0) */
  trimHeap(): void;
  /** copy_file_range(2) on a pool thread (copy_range.cc): resolves with the bytes copied. */
  copyFileRange(inFd: number, inOffset: number, outFd: number, outOffset: number, length: number): Promise<number>;
  mountFlags: RawMountFlags;
  /** cgroup v2 devices (devices_bpf.cc): loads `insns` (struct bpf_insn[]) as a
   * BPF_PROG_TYPE_CGROUP_DEVICE program and attaches it to the cgroup directory. */
  attachDeviceProgram(cgroupDir: string, insns: Buffer): void;
  umountFlags: { force: number; detach: number; expire: number; nofollow: number };

  /* rtnetlink (netlink.cc; typed face runtime/native/netlink.ts). Synchronous; a failure
   * throws an Error with `errno` and `syscall`. */
  netnsCreate(path: string): void;
  bridgeEnsure(name: string, ip: string, prefix: number): void;
  vethAttach(o: { host: string; peer: string; netns: string; bridge: string; ip: string; prefix: number; gateway: string; mac: Buffer; isolated: boolean }): void;
  linkDelete(name: string): boolean;
}

export interface RawMountFlags {
  rdonly: number;
  nosuid: number;
  nodev: number;
  noexec: number;
  noatime: number;
  relatime: number;
  remount: number;
  bind: number;
  move: number;
  rec: number;
  private: number;
  slave: number;
  shared: number;
  unbindable: number;
}
