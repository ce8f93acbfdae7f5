/**
 * The daemon's container: a record (Docker's Config and HostConfig as created, the state)
 * and a state machine. The record is written atomically (temp, fsync, rename, fsync of
 * the directory) on every change of state, so what a client was told survives a crash.
 *
 *            start               pause
 *   created ───────▶ running ◀──────────▶ paused
 *      ▲               │  ▲  unpause         │ kill
 *      │        exit   ▼  │ restart policy   ▼
 *      │            exited ──▶ restarting ──▶ running
 *      │               │  start
 *      └───────────────┴──▶ removing ──▶ (gone) | dead (removal failed)
 */
import { open, rename } from 'node:fs/promises';
import { renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Digest } from '../../oci/names.js';
import { conflict, notModified } from '../daemon/errors.js';
import type { MountPoint } from '../volumes/mount-points.js';
import type { EndpointSettings, PublishedPort } from '../network/types.js';

export type Status = 'created' | 'running' | 'paused' | 'restarting' | 'removing' | 'exited' | 'dead';

export interface RestartPolicy {
  Name: '' | 'no' | 'always' | 'unless-stopped' | 'on-failure';
  MaximumRetryCount: number;
}

/** The parts of Docker's HostConfig this node honours (others are refused at create). */
export interface HostConfig {
  AutoRemove: boolean;
  RestartPolicy: RestartPolicy;
  NetworkMode: string;
  ReadonlyRootfs: boolean;
  Memory: number;
  MemorySwap: number;
  NanoCpus: number;
  CpuShares: number;
  CpusetCpus: string;
  PidsLimit: number | null;
  LogConfig: { Type: string; Config: Record<string, string> };
  [k: string]: unknown;
}

/** Docker's container Config, merged with the image's (moby daemon/create.go merge()). */
export interface Config {
  Hostname: string;
  Domainname: string;
  User: string;
  AttachStdin: boolean;
  AttachStdout: boolean;
  AttachStderr: boolean;
  Tty: boolean;
  OpenStdin: boolean;
  StdinOnce: boolean;
  Env: string[];
  Cmd: string[] | null;
  Entrypoint: string[] | null;
  Image: string;
  WorkingDir: string;
  Labels: Record<string, string>;
  StopSignal: string;
  StopTimeout?: number;
  [k: string]: unknown;
}

export interface State {
  Status: Status;
  Running: boolean;
  Paused: boolean;
  Restarting: boolean;
  OOMKilled: boolean;
  Dead: boolean;
  Pid: number;
  ExitCode: number;
  Error: string;
  StartedAt: string;
  FinishedAt: string;
}

export const ZERO_TIME = '0001-01-01T00:00:00Z';

export interface ContainerRecord {
  id: string;
  name: string;
  created: string;
  /** the program and its arguments (Path, Args of inspect) */
  path: string;
  args: string[];
  config: Config;
  hostConfig: HostConfig;
  /** the image's config digest (the image ID) and its reference in the node's store */
  imageId: Digest;
  imageRef: string;
  /** diffIDs, bottom first: the container keeps working after `rmi -f` of its image */
  layers: Digest[];
  /** binds, volumes and tmpfs (runtime/volumes/mount-points.ts), parents first */
  mounts?: MountPoint[];
  state: State;
  restartCount: number;
  /** docker stop / kill: restart policies (but `always` at daemon start) leave it alone */
  manuallyStopped: boolean;
  hasBeenStarted: boolean;
  /** network memberships by network name (runtime/network/); addresses set while it runs */
  networks?: Record<string, EndpointSettings>;
  /** the host ports published for the current run */
  ports?: PublishedPort[];
}

export function initialState(): State {
  return { Status: 'created', Running: false, Paused: false, Restarting: false, OOMKilled: false, Dead: false, Pid: 0, ExitCode: 0, Error: '', StartedAt: ZERO_TIME, FinishedAt: ZERO_TIME };
}

/** The flags of State follow Status (Docker keeps both). */
export function setStatus(s: State, status: Status): void {
  s.Status = status;
  s.Running = status === 'running' || status === 'paused' || status === 'restarting';
  s.Paused = status === 'paused';
  s.Restarting = status === 'restarting';
  s.Dead = status === 'dead';
}

/* ---------- transitions: what each operation allows, with dockerd's answers ---------- */

const short = (id: string) => id.slice(0, 12);

export function checkStart(r: ContainerRecord): void {
  const s = r.state.Status;
  if (s === 'running' || s === 'restarting') throw notModified('container already started');
  if (s === 'paused') throw conflict('cannot start a paused container, try unpause instead');
  if (s === 'removing' || s === 'dead') throw conflict(`container is marked for removal and cannot be started`);
}

export function checkRunning(r: ContainerRecord): void {
  if (r.state.Status !== 'running' && r.state.Status !== 'paused') throw conflict(`Container ${r.id} is not running`);
}

export function checkPause(r: ContainerRecord): void {
  if (r.state.Status === 'paused') throw conflict(`Container ${r.id} is already paused`);
  if (r.state.Status !== 'running') throw conflict(`Container ${r.id} is not running`);
}

export function checkUnpause(r: ContainerRecord): void {
  if (r.state.Status !== 'paused') throw conflict(`Container ${r.id} is not paused`);
}

export function checkRemove(r: ContainerRecord, force: boolean): void {
  const s = r.state.Status;
  if (s === 'removing') throw conflict(`removal of container ${short(r.id)} is already in progress`);
  if ((s === 'running' || s === 'paused' || s === 'restarting') && !force) {
    const what = s === 'paused' ? 'paused' : s === 'restarting' ? 'restarting' : 'running';
    throw conflict(`You cannot remove a ${what} container ${r.id}. ${s === 'paused' ? 'Unpause and then stop' : 'Stop'} the container before attempting removal or force remove`);
  }
}

/**
 * Docker's restart manager: should a container that exited with `exitCode` start again?
 * A manual stop wins; `always` and `unless-stopped` restart; `on-failure[:N]` restarts a
 * non-zero exit, at most N times when N > 0.
 */
export function shouldRestart(r: ContainerRecord, exitCode: number): boolean {
  if (r.manuallyStopped) return false;
  const p = r.hostConfig.RestartPolicy;
  switch (p.Name) {
    case 'always':
    case 'unless-stopped':
      return true;
    case 'on-failure':
      return exitCode !== 0 && (p.MaximumRetryCount <= 0 || r.restartCount < p.MaximumRetryCount);
    default:
      return false;
  }
}

/** At daemon start: `always` starts whatever its state; `unless-stopped` unless stopped by hand. */
export function startsWithDaemon(r: ContainerRecord): boolean {
  const p = r.hostConfig.RestartPolicy.Name;
  return p === 'always' || (p === 'unless-stopped' && !r.manuallyStopped);
}

/**
 * Atomic replace of a record file (JSON text) (temp + rename: a crash of this process never leaves a torn
 * record). With `durable` the bytes and the rename are also fsynced, for what a client was
 * told exists (create, rename): a power loss cannot forget it. State changes skip the fsyncs:
 * after a power loss no container is running anyway and the reconcile at start corrects
 * whatever state an older record says.
 */
export async function writeRecord(path: string, text: string, opts: { durable?: boolean } = {}): Promise<void> {
  const tmp = `${path}.tmp`;
  if (opts.durable === false) {
    // A few hundred bytes into the page cache: cheaper on this thread than three pool hops.
    writeFileSync(tmp, text, { mode: 0o600 });
    renameSync(tmp, path);
    return;
  }
  const f = await open(tmp, 'w', 0o600);
  try {
    await f.writeFile(text);
    await f.sync();
  } finally {
    await f.close();
  }
  await rename(tmp, path);
  const d = await open(dirname(path), 'r');
  try {
    await d.sync();
  } finally {
    await d.close();
  }
}

/** Atomic, durable replace of a JSON file (networks, volumes). */
export async function writeDurable(path: string, value: unknown): Promise<void> {
  return writeRecord(path, JSON.stringify(value));
}
