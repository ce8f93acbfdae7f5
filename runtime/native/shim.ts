/**
 * The typed face of the per-container monitor (runtime/native/shim/wharf-shim.c).
 *
 *   launchShim(options)     start a shim for one container (or exec) start; resolves once
 *                           its socket listens. The shim runs in a session of its own,
 *                           reaped through a pidfd; it outlives us (reparented).
 *   ShimClient.connect(p)   a connection to a shim's socket: line commands (start, status,
 *                           kill, resize, wait) and attach streams.
 *   readExitFile(path)      the exit status the shim recorded (temp + rename).
 */
import { closeSync, existsSync, openSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { connect, Socket } from 'node:net';
import { join } from 'node:path';
import { helperPath, native, nativeBuildDir } from './spawn.js';

export function shimPath(): string {
  const file = join(nativeBuildDir(), 'wharf-shim');
  if (!existsSync(file)) throw new Error(`runtime/native: ${file} is missing; build it with \`npx node-gyp rebuild\``);
  return file;
}

export interface ShimOptions {
  /** the container's directory: the shim's cwd */
  bundle: string;
  /** the shim's socket (keep it short: sun_path holds 107 bytes) */
  socket: string;
  /** the encoded wharf-init spec, already written to this file */
  specFile: string;
  /** clone flags (from encodeSpawnSpec; 0 for an exec); else given with `start <flags>` */
  flags?: number;
  exitFile: string;
  /** cgroup.procs files the shim writes the pid to before sync 1 */
  cgroupProcs: string[];
  log?: { path: string; maxSize?: number; maxFiles?: number };
  tty: boolean;
  openStdin: boolean;
  stdinOnce: boolean;
  /** the shim's own stderr (its messages when it fails) */
  stderrFile: string;
  /** bind-source fds (encodeSpawnSpec's passFds), handed to wharf-init as its fds 5...;
   * the caller closes its own copies once this resolves */
  passFds?: readonly number[];
}

export class ShimError extends Error {
  override name = 'ShimError';
}

/** Starts a shim; resolves once it listens on its socket, with a connection to it (the one
 * the shim was spawned with: no connect). */
export async function launchShim(o: ShimOptions): Promise<ShimClient> {
  const args = ['-b', o.bundle, '-s', o.socket, '-H', helperPath(), '-S', o.specFile, '-f', String(o.flags ?? 0), '-x', o.exitFile];
  for (const c of o.cgroupProcs) args.push('-c', c);
  if (o.log) {
    args.push('-l', o.log.path);
    if (o.log.maxSize !== undefined && o.log.maxSize > 0) args.push('-m', String(o.log.maxSize));
    if (o.log.maxFiles !== undefined) args.push('-n', String(o.log.maxFiles));
  }
  if (o.tty) args.push('-t');
  if (o.openStdin) args.push('-i');
  if (o.stdinOnce) args.push('-o');
  const pass = o.passFds ?? [];
  if (pass.length > 0) args.push('-F', String(pass.length));
  // -N: spawned in a session of its own (below) and reaped by us through a pidfd, the shim
  // does not fork away (one process and one scheduling round less per start); when this
  // daemon goes, it is reparented and runs on.
  // -C: fd 3 is a socket that, after "ready", stays the first client connection.
  args.push('-N', '-C');
  // posix_spawn from the addon, not child_process.spawn: a fork of this process (its page
  // tables, hundreds of MB) was the slowest part of a container start (launch -> the shim's
  // main(): 5 ms on a loaded machine); a vfork-style spawn costs the same at any size.
  const n = native();
  const [readyRead, readyWrite] = n.socketpair();
  const ours = [readyWrite];
  let pending: Promise<{ pid: number; pidfd: number }>;
  try {
    ours.push(openSync(o.stderrFile, 'a', 0o600));
    ours.push(openSync('/dev/null', 'r+'));
    const [, errFd, nullFd] = ours as [number, number, number];
    // posix_spawn runs on a pool thread; the addon duplicated the fds: ours are closed now
    pending = n.spawnDetached(shimPath(), [shimPath(), ...args], [nullFd, nullFd, errFd, readyWrite, ...pass]);
  } catch (e) {
    closeSync(readyRead);
    throw new ShimError(`the container monitor did not start: ${(e as Error).message}`);
  } finally {
    for (const fd of ours) closeSync(fd);
  }
  let spawned: { pid: number; pidfd: number };
  try {
    spawned = await pending;
  } catch (e) {
    closeSync(readyRead);
    throw new ShimError(`the container monitor did not start: ${(e as Error).message}`);
  }
  // Reaped when it exits (the end of its container), or by init if this daemon is gone.
  void n
    .wait(spawned.pidfd)
    .catch(() => undefined)
    .finally(() => closeSync(spawned.pidfd));
  const client = new ShimClient(new Socket({ fd: readyRead, readable: true, writable: true }));
  const first = await client.nextLine();
  if (first !== 'ready') {
    client.close();
    const why = (await readFile(o.stderrFile, 'utf8').catch(() => '')).trim().split('\n').pop() ?? '';
    throw new ShimError(`the container monitor did not start${why ? `: ${why}` : ''}`);
  }
  return client;
}

export interface ExitRecord {
  exitCode: number;
  signal: number;
  /** seconds since the epoch */
  finishedAt: number;
}

export async function readExitFile(path: string): Promise<ExitRecord | undefined> {
  try {
    return JSON.parse(await readFile(path, 'utf8')) as ExitRecord;
  } catch {
    return undefined;
  }
}

/** One connection to a shim. Lines in, lines out; `attach` turns it into a stream. */
export class ShimClient {
  private buffered: Buffer = Buffer.alloc(0);
  private waiters: ((line: string | null) => void)[] = [];
  private ended = false;
  private readonly onData = (c: Buffer) => {
    this.buffered = this.buffered.length === 0 ? c : Buffer.concat([this.buffered, c]);
    let nl;
    while (this.waiters.length > 0 && (nl = this.buffered.indexOf(10)) >= 0) {
      const line = this.buffered.subarray(0, nl).toString('utf8');
      this.buffered = this.buffered.subarray(nl + 1);
      this.waiters.shift()!(line);
    }
  };

  constructor(readonly socket: Socket) {
    socket.on('data', this.onData);
    const end = () => {
      this.ended = true;
      for (const w of this.waiters.splice(0)) w(null);
    };
    socket.on('end', end);
    socket.on('close', end);
    socket.on('error', () => undefined);
  }

  static connect(path: string): Promise<ShimClient> {
    return new Promise((resolve, reject) => {
      const s = connect(path);
      s.once('connect', () => {
        s.off('error', reject);
        resolve(new ShimClient(s));
      });
      s.once('error', reject);
    });
  }

  /** The next line the shim sends unasked (its "ready"); null: the shim closed. */
  nextLine(): Promise<string | null> {
    if (this.ended && this.buffered.indexOf(10) < 0) return Promise.resolve(null);
    return new Promise((resolve) => {
      this.waiters.push(resolve);
      this.onData(Buffer.alloc(0)); // a line that came before this waiter
    });
  }

  /** Sends a command line; resolves with the answer line (null: the shim closed). */
  request(line: string): Promise<string | null> {
    if (this.ended) return Promise.resolve(null);
    return new Promise((resolve) => {
      this.waiters.push(resolve);
      this.socket.write(`${line}\n`);
    });
  }

  /**
   * Switches to an attach stream once the shim acknowledged it (so that no output of a
   * start that follows is missed). The socket then carries frames: read it directly.
   */
  async attach(streams: { stdin: boolean; stdout: boolean; stderr: boolean }): Promise<Socket> {
    const ack = await this.request(`attach ${streams.stdin ? 'i' : ''}${streams.stdout ? 'o' : ''}${streams.stderr ? 'e' : ''}-`);
    if (ack !== 'ok') {
      this.socket.destroy();
      throw new ShimError('the container monitor refused the attach');
    }
    // Held until the consumer listens: a flowing socket without a 'data' listener drops what
    // it reads (a short exec's whole output, read before pipeAttach was wired).
    this.socket.off('data', this.onData);
    this.socket.pause();
    const rest = this.buffered;
    this.buffered = Buffer.alloc(0);
    if (rest.length > 0) this.socket.unshift(rest);
    const resumeOnListener = (event: string | symbol) => {
      if (event !== 'data') return;
      this.socket.off('newListener', resumeOnListener);
      process.nextTick(() => this.socket.resume());
    };
    this.socket.on('newListener', resumeOnListener);
    return this.socket;
  }

  close(): void {
    this.socket.destroy();
  }
}

/** "exited <code> <signal>" -> {exitCode, signal} */
export function parseExitLine(line: string | null): { exitCode: number; signal: number } | undefined {
  const m = /^exited (-?\d+) (\d+)$/.exec(line ?? '');
  return m ? { exitCode: Number(m[1]), signal: Number(m[2]) } : undefined;
}
