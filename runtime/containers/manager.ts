/**
 * The daemon's containers: create, start, stop, kill, wait, remove, rename, pause, and
 * what happens when a container exits (restart policies, --rm). Every running container
 * has a shim (runtime/native/shim) as its parent; the manager keeps one monitor
 * connection per shim, which reports the exit. When the daemon dies the shims carry on;
 * `load()` reconciles the records with what it finds: a live shim is adopted, an exit
 * file recorded meanwhile is applied (with the restart policy), a vanished shim makes
 * the container exited (255) with an error.
 *
 * Operations on one container are serialised (a promise chain per container); the exit
 * path never waits for that lock, so a stop holding it can wait for the exit.
 */
import { mkdir, readFile, readdir, rm } from 'node:fs/promises';
import { existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import type { NodeLayout } from '../layout.js';
import { shimSocketPath } from '../layout.js';
import type { ImageRecord, ImageStore } from '../images/store.js';
import type { EventBus } from '../daemon/events.js';
import { createCgroupDriver } from '../cgroups/detect.js';
import type { Cgroup, CgroupDriver } from '../cgroups/driver.js';
import { prepareSnapshot, unmountSnapshot } from '../layers/snapshots.js';
import { encodeSpawnSpec } from '../native/spawn.js';
import { launchShim, parseExitLine, readExitFile, ShimClient } from '../native/shim.js';
import { badParameter, conflict, EngineError, noSuchContainer, noSuchImage, notModified } from '../daemon/errors.js';
import type { ContainerCounts } from '../daemon/deps.js';
import {
  checkPause,
  checkRemove,
  checkRunning,
  checkStart,
  checkUnpause,
  initialState,
  setStatus,
  shouldRestart,
  startsWithDaemon,
  writeRecord,
  ZERO_TIME,
  type ContainerRecord,
} from './container.js';
import { limitsOf, planCreate, planStart, securityOf, signalNumber, type CreateBody } from './plan.js';
import { devicePlan } from './security-options.js';
import { NameIndex, newContainerId } from './names.js';
import { ContainerStore, NameConflictError } from './records.js';
import { parseSize } from './run-options.js';
import type { VolumeStore } from '../volumes/store.js';
import { planMountPoints } from '../volumes/mount-points.js';
import { checkBindSources, prepareMounts } from '../volumes/prepare.js';
import type { NetworkManager, Prepared } from '../network/endpoints.js';

export interface ManagerOptions {
  layout: NodeLayout;
  execRoot: string;
  images: ImageStore;
  events: EventBus;
  log: Logger;
  defaultRegistry: string;
  volumes: VolumeStore;
  /** bridge networks, ports, DNS (runtime/network/) */
  network: NetworkManager;
}

export interface AttachStreams {
  stdin: boolean;
  stdout: boolean;
  stderr: boolean;
}

export interface WaitResult {
  StatusCode: number;
  Error: { Message: string } | null;
}

export type WaitCondition = 'not-running' | 'next-exit' | 'removed';

interface PendingAttach {
  streams: AttachStreams;
  resolve: (s: Socket) => void;
  reject: (e: Error) => void;
}

/** One container: its record and what the daemon holds for it while it runs. */
export class Container {
  lock: Promise<unknown> = Promise.resolve();
  saving: Promise<unknown> = Promise.resolve();
  monitor: ShimClient | undefined;
  cgroup: Cgroup | undefined;
  /** resolved when the current run has ended and its exit was recorded */
  runDone: Promise<void> = Promise.resolve();
  endRun: () => void = () => undefined;
  exitWaiters: ((r: WaitResult) => void)[] = [];
  removeWaiters: ((r: WaitResult) => void)[] = [];
  pendingAttach: PendingAttach[] = [];
  restartTimer: NodeJS.Timeout | undefined;
  restartDelay = 0;
  startedAtMs = 0;
  removed = false;
  constructor(public rec: ContainerRecord) {}
  get id(): string {
    return this.rec.id;
  }
  get socket(): string {
    return '';
  }
}

/** trash/ is emptied after this long without a container start or removal ... */
const TRASH_IDLE_MS = 250;
/** ... or this long after its oldest entry came. */
const TRASH_MAX_WAIT_MS = 10_000;

const RESTART_DELAY_MIN = 100;
const RESTART_DELAY_MAX = 60_000;

export class ContainerManager {
  private byId = new Map<string, Container>();
  private names = new NameIndex();
  private driver: CgroupDriver | undefined;
  /** removed containers' directories in trash/, not deleted yet */
  private trash: string[] = [];
  private trashSince = 0;
  private trashTimer: NodeJS.Timeout | undefined;
  /** name claims on disk (names/), shared with foreground `wharf run` */
  private readonly claims: ContainerStore;
  private closing = false;
  readonly layout: NodeLayout;
  readonly log: Logger;
  /** set by the daemon: inspect lists exec ids, removal forgets them */
  execs: { idsOf(id: string): string[]; forget(id: string): void } | undefined;

  constructor(private readonly o: ManagerOptions) {
    this.layout = o.layout;
    this.log = o.log;
    o.network.directory = {
      find: (ref) => {
        const c = this.find(ref);
        return { rec: c.rec, pid: c.rec.state.Status === 'running' || c.rec.state.Status === 'paused' ? c.rec.state.Pid : 0 };
      },
      all: () => [...this.byId.values()].map((c) => c.rec),
    };
    this.claims = new ContainerStore(o.layout);
  }

  private async cgroups(): Promise<CgroupDriver> {
    this.driver ??= await createCgroupDriver();
    return this.driver;
  }

  get execRoot(): string {
    return this.o.execRoot;
  }

  socketOf(id: string): string {
    return shimSocketPath(this.o.execRoot, id);
  }

  /* ---------- lookups ---------- */

  counts(): ContainerCounts {
    const c = { total: 0, running: 0, paused: 0, stopped: 0 };
    for (const x of this.byId.values()) {
      c.total++;
      const s = x.rec.state.Status;
      if (s === 'paused') c.paused++;
      else if (s === 'running' || s === 'restarting') c.running++;
      else c.stopped++;
    }
    return c;
  }

  containersUsingImage(imageId: string): string[] {
    return [...this.byId.values()].filter((c) => c.rec.imageId === imageId).map((c) => c.id);
  }

  imageUsers(imageId: string): Array<{ id: string; running: boolean }> {
    return [...this.byId.values()]
      .filter((c) => c.rec.imageId === imageId)
      .map((c) => ({ id: c.id, running: ['running', 'paused', 'restarting'].includes(c.rec.state.Status) }));
  }

  all(): Container[] {
    return [...this.byId.values()];
  }

  /** ids of the containers (any state) whose mount points use the volume */
  volumeUsers(name: string, except?: string): string[] {
    return [...this.byId.values()].filter((c) => c.id !== except && !c.removed && (c.rec.mounts ?? []).some((m) => m.Type === 'volume' && m.Name === name)).map((c) => c.id);
  }

  /** By full id, name, or unique id prefix; 404 "No such container" otherwise. */
  find(ref: string): Container {
    const exact = this.byId.get(ref);
    if (exact) return exact;
    const byName = this.names.get(ref);
    if (byName) return this.byId.get(byName)!;
    if (/^[0-9a-f]{1,64}$/.test(ref)) {
      const hits = [...this.byId.keys()].filter((id) => id.startsWith(ref));
      if (hits.length === 1) return this.byId.get(hits[0]!)!;
      if (hits.length > 1) throw badParameter(`multiple IDs found with provided prefix: ${ref}`);
    }
    throw noSuchContainer(ref);
  }

  private withLock<T>(c: Container, f: () => Promise<T>): Promise<T> {
    const next = c.lock.then(f, f);
    c.lock = next.catch(() => undefined);
    return next;
  }

  /** Writes the record (atomically); `durable` also fsyncs it: for what a client was told (create, rename). */
  private save(c: Container, durable = false): Promise<void> {
    if (c.removed) return Promise.resolve();
    const snapshot = JSON.stringify(c.rec);
    const next = c.saving.then(() => (c.removed ? undefined : writeRecord(this.layout.engineRecordPath(c.id), snapshot, { durable })));
    c.saving = next.catch((e: Error) => this.log.error({ err: e, id: c.id }, 'cannot write the container record'));
    return next;
  }

  /** docker events: volume mount / unmount for each volume of the container */
  private volumeEvents(c: Container, action: 'mount' | 'unmount'): void {
    for (const m of c.rec.mounts ?? []) {
      if (m.Type !== 'volume') continue;
      const attrs: Record<string, string> = { container: c.id, driver: 'local' };
      if (action === 'mount') Object.assign(attrs, { destination: m.Destination, propagation: m.Propagation, 'read/write': String(m.RW) });
      this.o.events.emit('volume', action, m.Name!, attrs);
    }
  }

  private event(c: Container, action: string, extra: Record<string, string> = {}): void {
    this.o.events.emit('container', action, c.id, { image: c.rec.config.Image, name: c.rec.name, ...c.rec.config.Labels, ...extra });
  }

  /* ---------- create ---------- */

  /** `image`: the builder's step image, which has no record (it is not listed) */
  async create(body: CreateBody, name: string | undefined, image?: ImageRecord): Promise<{ Id: string; Warnings: string[] }> {
    if (typeof body !== 'object' || body === null || Array.isArray(body)) throw badParameter('the create body must be a JSON object');
    if (!body.Image || typeof body.Image !== 'string') throw badParameter('Config.Image is required');
    image ??= await this.findImage(body.Image);
    let plan;
    try {
      plan = planCreate(body, image);
    } catch (e) {
      if (e instanceof EngineError) throw e;
      throw badParameter((e as Error).message);
    }
    const hc = body.HostConfig ?? {};
    const mounts = planMountPoints(
      { binds: hc.Binds, mounts: hc.Mounts, tmpfs: hc.Tmpfs, volumesFrom: hc.VolumesFrom, volumes: [image.config.Volumes, body.Volumes] },
      (ref) => this.find(ref).rec.mounts ?? [],
    );
    await checkBindSources(mounts);
    const net = this.o.network.planNetworks(plan.hostConfig.NetworkMode, body.NetworkingConfig?.EndpointsConfig, body.HostConfig?.Links);
    plan.hostConfig.NetworkMode = net.NetworkMode;
    // --device: the host's node must be there now (dockerd's words when it is not).
    if (Array.isArray(body.HostConfig?.Devices) && body.HostConfig.Devices.length > 0) {
      await devicePlan(securityOf(plan.hostConfig)).catch((e: Error) => {
        throw badParameter(e.message);
      });
    }
    const id = newContainerId();
    const reserved = this.names.reserve(name, id);
    const madeVolumes: string[] = [];
    try {
      for (const m of mounts) {
        if (m.Type !== 'volume') continue;
        if (!this.o.volumes.get(m.Name!)) {
          await this.o.volumes.create({ Name: m.Name }, m.Anonymous === true);
          madeVolumes.push(m.Name!);
        }
        m.Source = this.o.volumes.mountpoint(m.Name!);
      }
      if (!plan.config.Hostname) plan.config.Hostname = id.slice(0, 12);
      const rec: ContainerRecord = {
        id,
        name: reserved,
        created: new Date().toISOString(),
        path: plan.path,
        args: plan.args,
        config: plan.config,
        hostConfig: plan.hostConfig,
        imageId: image.configDigest,
        imageRef: image.reference,
        layers: image.layers.map((l) => l.diffId),
        mounts,
        state: initialState(),
        restartCount: 0,
        manuallyStopped: false,
        hasBeenStarted: false,
        networks: net.networks,
      };
      mkdirSync(this.layout.containerDir(id), { recursive: true, mode: 0o700 });
      const c = new Container(rec);
      this.byId.set(id, c);
      // Durable (fsynced) for what a client may come back to; not for --rm: a crash or a
      // power loss before its end makes the daemon's next start remove it anyway, and a
      // client that started it has lost it by then (wait condition=removed broke).
      await this.save(c, !rec.hostConfig.AutoRemove);
      await this.claimName(reserved, id);
      this.event(c, 'create');
      return { Id: id, Warnings: plan.warnings };
    } catch (e) {
      this.names.release(reserved, id);
      this.byId.delete(id);
      for (const v of madeVolumes) await this.o.volumes.remove(v, []).catch(() => undefined);
      await rm(this.layout.containerDir(id), { recursive: true, force: true }).catch(() => undefined);
      throw e;
    }
  }

  /** The name on disk too (names/), against a running foreground `wharf run --name` on this root. */
  private async claimName(name: string, id: string): Promise<void> {
    try {
      await this.claims.claimName(name, id, { daemon: true });
    } catch (e) {
      if (e instanceof NameConflictError) throw conflict(`Conflict. The container name "/${name}" is already in use by a container of wharf run on this node. You have to remove (or rename) that container to be able to reuse that name.`);
      throw e;
    }
  }

  private async findImage(ref: string): Promise<ImageRecord> {
    let rec: ImageRecord | undefined;
    try {
      rec = await this.o.images.get(ref);
    } catch {
      rec = undefined;
    }
    if (!rec) throw noSuchImage(/[:@]/.test(ref.split('/').pop() ?? '') ? ref : `${ref}:latest`);
    return rec;
  }

  /* ---------- start ---------- */

  start(ref: string): Promise<void> {
    const c = this.find(ref);
    return this.withLock(c, async () => {
      checkStart(c.rec);
      c.rec.manuallyStopped = false;
      try {
        await this.startLocked(c);
      } catch (e) {
        // dockerd: a container created with --rm that fails to start is removed, and
        // its waiters (the CLI's wait condition=removed) answered.
        if (c.rec.hostConfig.AutoRemove) await this.removeLocked(c).catch(() => undefined);
        throw e;
      }
    });
  }

  private async startLocked(c: Container): Promise<void> {
    const rec = c.rec;
    const id = rec.id;
    if (c.restartTimer) clearTimeout(c.restartTimer);
    c.restartTimer = undefined;
    this.scheduleTrash(); // a start: the trash waits until things are quiet
    const driver = await this.cgroups();
    let cg: Cgroup | undefined;
    let mounted = false;
    let prepared: { close(): void } | undefined;
    let net: Prepared | undefined;
    let launched: Promise<ShimClient> | undefined;
    const undo = async () => {
      prepared?.close();
      if (net) await this.o.network.release(rec).catch(() => undefined);
      // a shim launched for a start that did not happen goes away
      const m = await launched?.catch(() => undefined);
      if (m && !c.monitor) await m.request('quit').finally(() => m.close());
      await cg?.destroy().catch(() => undefined);
      if (mounted) await unmountSnapshot(this.layout, id).catch(() => undefined);
    };
    try {
      for (const l of rec.layers) {
        if (!existsSync(this.layout.layerDir(l))) throw new EngineError('system', `the layers of image ${rec.config.Image} are no longer on this node (layer ${l}); pull it again`);
      }
      await unmountSnapshot(this.layout, id);
      await (await driver.open(id).catch(() => undefined))?.destroy(); // a leftover of a crash
      const socket = this.socketOf(id);
      const log = rec.hostConfig.LogConfig;
      const launch = async (passFds: readonly number[]): Promise<ShimClient> => {
        rmSync(this.layout.exitFilePath(id), { force: true });
        mkdirSync(join(this.o.execRoot, 's'), { recursive: true, mode: 0o700 });
        return launchShim({
          bundle: this.layout.containerDir(id),
          socket,
          specFile: this.layout.initSpecPath(id),
          exitFile: this.layout.exitFilePath(id),
          cgroupProcs: driver.pathsOf(id).map((p) => join(p, 'cgroup.procs')),
          ...(log.Type === 'json-file'
            ? { log: { path: this.layout.containerLogPath(id), maxSize: log.Config['max-size'] ? parseSize('max-size', log.Config['max-size']) : -1, maxFiles: Number(log.Config['max-file'] ?? 1) } }
            : {}),
          tty: rec.config.Tty,
          openStdin: rec.config.OpenStdin,
          stdinOnce: rec.config.StdinOnce,
          stderrFile: this.layout.shimLogPath(id),
          passFds,
        });
      };
      // Without mounts (whose fds the shim takes when it is launched) the shim starts while
      // the cgroup and the rootfs are made: it reads the spec file and joins the cgroups
      // only at `start`.
      if ((rec.mounts ?? []).length === 0) {
        launched = launch([]);
        launched.catch(() => undefined); // awaited below, or by undo
      }
      // Device nodes and the devices cgroup's rules: Docker's defaults, --device, --privileged.
      const devices = await devicePlan(securityOf(rec.hostConfig)).catch((e: Error) => {
        throw badParameter(e.message);
      });
      const [cgroup] = await Promise.all([
        driver.create(id, { ...limitsOf(rec.hostConfig), devices: devices.rules }).then((g) => {
          driver.primeAttach(); // the shim moves the init in once the rootfs and the spec are ready
          return g;
        }),
        // --rm: the rootfs is thrown away at exit, so its overlay skips the sync of the
        // whole upper filesystem that an unmount does (overlayfs volatile, as podman's --rm).
        prepareSnapshot(this.layout, id, rec.layers, { volatile: rec.hostConfig.AutoRemove }).then(() => {
          mounted = true;
        }),
      ]);
      cg = cgroup;
      net = await this.o.network.prepare(rec);
      const startPlan = await planStart(rec, this.layout.rootfsDir(id), net);
      const ready = await prepareMounts(rec.mounts ?? [], this.layout.rootfsDir(id), this.o.volumes);
      prepared = ready;
      if (ready.copied) await this.save(c);
      // cgroupfs: the container's own read-only view of its cgroups at /sys/fs/cgroup, as wharf run.
      const { spec, flags, passFds } = await encodeSpawnSpec({ ...startPlan, mounts: ready.mounts, devices: devices.nodes, cgroupfs: cgroup.fs, tty: rec.config.Tty });
      writeFileSync(this.layout.initSpecPath(id), spec, { mode: 0o600 }); // ~20 KB into the page cache: no pool round trip
      if (launched && passFds.length > 0) {
        const early = await launched; // not expected: mounts come with fds
        await early.request('quit').finally(() => early.close());
        launched = undefined;
      }
      launched ??= launch(passFds);
      const monitor = await launched;
      ready.close();
      // Attach clients waiting for this start connect before the program runs.
      for (const a of c.pendingAttach.splice(0)) {
        await this.connectAttach(c, a.streams).then(a.resolve, a.reject);
      }
      const answer = await monitor.request(`start ${flags}`);
      const started = /^started (\d+)$/.exec(answer ?? '');
      if (!started) {
        monitor.close();
        launched = undefined;
        await undo();
        throw this.startFailure(c, answer);
      }
      c.monitor = monitor;
      c.cgroup = cgroup;
      c.startedAtMs = Date.now();
      const runDone = new Promise<void>((resolve) => (c.endRun = resolve));
      c.runDone = runDone;
      setStatus(rec.state, 'running');
      rec.state.Pid = Number(started[1]);
      rec.state.StartedAt = new Date().toISOString();
      rec.state.ExitCode = 0;
      rec.state.Error = '';
      rec.state.OOMKilled = false;
      rec.state.FinishedAt = ZERO_TIME;
      rec.hasBeenStarted = true;
      await this.save(c);
      this.volumeEvents(c, 'mount');
      this.event(c, 'start');
      this.watch(c, monitor);
    } catch (e) {
      if (!(e instanceof EngineError && e.status === 400 && rec.state.Status === 'exited')) await undo();
      // prepareSnapshot removes the container dir when its mount fails: write the record back.
      await mkdir(this.layout.containerDir(id), { recursive: true, mode: 0o700 }).catch(() => undefined);
      if (rec.state.Status === 'restarting') setStatus(rec.state, 'exited');
      await this.save(c).catch(() => undefined);
      for (const a of c.pendingAttach.splice(0)) a.reject(e as Error);
      throw e instanceof EngineError ? e : new EngineError('system', (e as Error).message, { cause: e });
    }
  }

  /** A failed start, in dockerd's words (the docker CLI turns them into 127 / 126). */
  private startFailure(c: Container, answer: string | null): EngineError {
    const m = /^failed ([^\t]*)\t(\d+)\t(.*)$/.exec(answer ?? '');
    const step = m?.[1] ?? 'shim';
    const errno = Number(m?.[2] ?? 0);
    const detail = m?.[3] ?? 'the container monitor exited';
    const prog = c.rec.path;
    let message: string;
    let code = 128;
    if (step === 'exec' && errno === 2) {
      message = prog.includes('/') ? `exec: "${prog}": stat ${prog}: no such file or directory` : `exec: "${prog}": executable file not found in $PATH`;
      code = 127;
    } else if (step === 'exec' && (errno === 13 || errno === 8)) {
      message = `exec: "${prog}": permission denied`;
      code = 126;
    } else {
      message = `${step}: ${detail} (errno ${errno})`;
    }
    const full = `failed to create task for container: unable to start container process: ${message}: unknown`;
    setStatus(c.rec.state, 'exited');
    c.rec.state.ExitCode = code;
    c.rec.state.Error = full;
    c.rec.state.Pid = 0;
    c.rec.state.FinishedAt = new Date().toISOString();
    return new EngineError(code === 128 ? 'system' : 'invalid', full);
  }

  /** Waits for the exit the shim reports on the monitor connection. */
  private watch(c: Container, monitor: ShimClient): void {
    void (async () => {
      const line = await monitor.request('wait');
      monitor.close();
      if (this.closing) return;
      let exit = parseExitLine(line);
      if (!exit) {
        // The connection broke: the exit file is the truth when the shim wrote one.
        for (let i = 0; i < 20 && !exit; i++) {
          exit = await readExitFile(this.layout.exitFilePath(c.id));
          if (!exit) await new Promise((r) => setTimeout(r, 50));
        }
      }
      await this.exited(c, exit ?? { exitCode: 255, signal: 0 }, exit ? '' : 'the container monitor (shim) exited without recording a status');
    })().catch((e: Error) => this.log.error({ err: e, id: c.id }, 'monitor failed'));
  }

  /** The run ended: record it, tell waiters, then --rm or the restart policy. */
  private async exited(c: Container, exit: { exitCode: number; signal: number }, error: string): Promise<void> {
    const rec = c.rec;
    c.monitor = undefined;
    let oom = false;
    if (c.cgroup) {
      oom = await c.cgroup
        .stats()
        .then((s) => s.oomKills > 0)
        .catch(() => false);
      await c.cgroup.destroy().catch((e: Error) => this.log.warn({ err: e, id: c.id }, 'cgroup destroy failed'));
      c.cgroup = undefined;
    }
    await unmountSnapshot(this.layout, c.id).catch((e: Error) => this.log.warn({ err: e, id: c.id }, 'unmount failed'));
    await this.o.network.release(rec).catch((e: Error) => this.log.warn({ err: e, id: c.id }, 'network release failed'));
    setStatus(rec.state, 'exited');
    rec.state.ExitCode = exit.exitCode;
    rec.state.OOMKilled = oom;
    rec.state.Pid = 0;
    rec.state.Error = error;
    rec.state.FinishedAt = new Date().toISOString();
    const restart = !rec.hostConfig.AutoRemove && !this.closing && shouldRestart(rec, exit.exitCode);
    if (restart) setStatus(rec.state, 'restarting');
    // --rm: the record goes next (a crash before that: the next start finds the exit file
    // and removes the container).
    if (!rec.hostConfig.AutoRemove) await this.save(c);
    this.event(c, 'die', { exitCode: String(exit.exitCode) });
    this.volumeEvents(c, 'unmount');
    if (oom) this.event(c, 'oom');
    const result: WaitResult = { StatusCode: exit.exitCode, Error: error ? { Message: error } : null };
    for (const w of c.exitWaiters.splice(0)) w(result);
    c.endRun();
    if (rec.hostConfig.AutoRemove) {
      void this.withLock(c, () => this.removeLocked(c)).catch((e: Error) => this.log.error({ err: e, id: c.id }, 'auto-remove failed'));
    } else if (restart) {
      this.scheduleRestart(c);
    }
  }

  private scheduleRestart(c: Container): void {
    // Docker's backoff: 100 ms doubling while runs stay short; a run of 10 s resets it.
    const ran = Date.now() - c.startedAtMs;
    c.restartDelay = ran >= 10_000 || c.restartDelay === 0 ? RESTART_DELAY_MIN : Math.min(c.restartDelay * 2, RESTART_DELAY_MAX);
    c.restartTimer = setTimeout(() => {
      c.restartTimer = undefined;
      void this.withLock(c, async () => {
        if (c.removed || c.rec.state.Status !== 'restarting') return;
        c.rec.restartCount++;
        await this.startLocked(c);
      }).catch((e: Error) => this.log.warn({ err: e, id: c.id }, 'restart failed'));
    }, c.restartDelay);
  }

  /* ---------- signals, stop, restart ---------- */

  private async signal(c: Container, sig: number): Promise<void> {
    const client = await ShimClient.connect(this.socketOf(c.id)).catch(() => undefined);
    if (!client) return;
    try {
      await client.request(`kill ${sig}`);
    } finally {
      client.close();
    }
  }

  kill(ref: string, signal: string | undefined): Promise<void> {
    const c = this.find(ref);
    const sig = signalNumber(signal || 'SIGKILL');
    return this.withLock(c, async () => {
      if (c.rec.state.Status === 'restarting') {
        this.cancelRestart(c);
        return;
      }
      checkRunning(c.rec);
      c.rec.manuallyStopped = true;
      await this.save(c);
      await this.signal(c, sig);
      if (c.rec.state.Status === 'paused' && sig === 9) await c.cgroup?.thaw().catch(() => undefined);
    });
  }

  private cancelRestart(c: Container): void {
    if (c.restartTimer) clearTimeout(c.restartTimer);
    c.restartTimer = undefined;
    c.rec.manuallyStopped = true;
    setStatus(c.rec.state, 'exited');
    void this.save(c);
  }

  stop(ref: string, timeout: number | undefined, signal?: string): Promise<void> {
    const c = this.find(ref);
    const sig = signalNumber(signal || c.rec.config.StopSignal || 'SIGTERM');
    return this.withLock(c, async () => {
      if (c.rec.state.Status === 'restarting') return this.cancelRestart(c);
      if (c.rec.state.Status !== 'running' && c.rec.state.Status !== 'paused') throw notModified('container already stopped');
      c.rec.manuallyStopped = true;
      await this.save(c);
      await this.stopLocked(c, sig, timeout ?? c.rec.config.StopTimeout ?? 10);
    });
  }

  /** StopSignal, then SIGKILL after `t` seconds (t < 0: wait forever). */
  private async stopLocked(c: Container, sig: number, t: number): Promise<void> {
    const done = c.runDone;
    if (c.rec.state.Status === 'paused') {
      await this.signal(c, 9);
      await c.cgroup?.thaw().catch(() => undefined);
      await done;
      return;
    }
    await this.signal(c, sig);
    if (t >= 0) {
      const timedOut = await Promise.race([done.then(() => false), new Promise<boolean>((r) => setTimeout(() => r(true), t * 1000).unref())]);
      if (timedOut) await this.signal(c, 9);
    }
    await done;
  }

  restart(ref: string, timeout: number | undefined, signal?: string): Promise<void> {
    const c = this.find(ref);
    const sig = signalNumber(signal || c.rec.config.StopSignal || 'SIGTERM');
    return this.withLock(c, async () => {
      if (c.rec.state.Status === 'restarting') this.cancelRestart(c);
      if (c.rec.state.Status === 'running' || c.rec.state.Status === 'paused') {
        c.rec.manuallyStopped = true;
        await this.stopLocked(c, sig, timeout ?? c.rec.config.StopTimeout ?? 10);
      }
      if (c.restartTimer) this.cancelRestart(c);
      c.rec.manuallyStopped = false;
      await this.startLocked(c);
      this.event(c, 'restart');
    });
  }

  /* ---------- wait ---------- */

  /** Registers the waiter now (before the caller answers the headers), resolves later. */
  wait(ref: string, condition: WaitCondition): Promise<WaitResult> {
    const c = this.find(ref);
    const s = c.rec.state.Status;
    if (condition === 'removed') return new Promise((r) => c.removeWaiters.push(r));
    if (condition === 'not-running' && s !== 'running' && s !== 'paused' && s !== 'restarting') {
      return Promise.resolve({ StatusCode: c.rec.state.ExitCode, Error: c.rec.state.Error ? { Message: c.rec.state.Error } : null });
    }
    return new Promise((r) => c.exitWaiters.push(r));
  }

  /* ---------- remove, rename ---------- */

  remove(ref: string, force: boolean, volumes = false): Promise<void> {
    const c = this.find(ref);
    return this.withLock(c, async () => {
      if (c.removed) return;
      checkRemove(c.rec, force);
      if (c.rec.state.Status === 'restarting') this.cancelRestart(c);
      if (c.rec.state.Status === 'running' || c.rec.state.Status === 'paused') {
        c.rec.manuallyStopped = true;
        await this.stopLocked(c, 9, -1);
      }
      await this.removeLocked(c, volumes);
    });
  }

  /** rm -v, --rm: the container's anonymous volumes that no other container uses (dockerd keeps those quietly). */
  private async removeAnonymousVolumes(c: Container): Promise<void> {
    for (const m of c.rec.mounts ?? []) {
      if (m.Type !== 'volume' || !m.Anonymous || !this.o.volumes.get(m.Name!)) continue;
      if (this.volumeUsers(m.Name!, c.id).length > 0) continue;
      await this.o.volumes.remove(m.Name!, []).catch((e: Error) => this.log.warn({ err: e, id: c.id, volume: m.Name }, 'removing an anonymous volume failed'));
    }
  }

  private async removeLocked(c: Container, volumes = c.rec.hostConfig.AutoRemove): Promise<void> {
    if (c.removed) return;
    // 'removing' is what the API shows meanwhile; the record is not rewritten for it: a
    // removal cut short by a crash leaves the record as it was, and is done again.
    setStatus(c.rec.state, 'removing');
    try {
      if (c.cgroup) await c.cgroup.destroy();
      else await (await (await this.cgroups()).open(c.id).catch(() => undefined))?.destroy();
      await unmountSnapshot(this.layout, c.id);
      await c.saving; // no record write lands in the directory once it is moved away
      this.discardContainerDir(c.id);
      rmSync(this.socketOf(c.id), { force: true });
    } catch (e) {
      setStatus(c.rec.state, 'dead');
      c.rec.state.Error = `removal failed: ${(e as Error).message}`;
      await this.save(c);
      throw e;
    }
    c.removed = true;
    this.byId.delete(c.id);
    if (volumes) await this.removeAnonymousVolumes(c);
    this.names.release(c.rec.name, c.id);
    await this.claims.releaseName(c.rec.name, c.id);
    this.execs?.forget(c.id);
    for (const a of c.pendingAttach.splice(0)) a.reject(noSuchContainer(c.id));
    this.event(c, 'destroy');
    const result: WaitResult = { StatusCode: c.rec.state.ExitCode, Error: c.rec.state.Error ? { Message: c.rec.state.Error } : null };
    for (const w of c.exitWaiters.splice(0)) w(result);
    for (const w of c.removeWaiters.splice(0)) w(result);
  }

  /**
   * The container directory leaves containers/ at once (one rename into trash/, so that the
   * container is gone for every reader and for a daemon start), and its files (the upper
   * dir, logs) are deleted later (emptyTrash). A daemon start empties trash/ as well.
   */
  private discardContainerDir(id: string): void {
    const dir = this.layout.containerDir(id);
    const trash = join(this.layout.trashDir, `${id}-${Date.now().toString(36)}`);
    try {
      mkdirSync(this.layout.trashDir, { recursive: true, mode: 0o700 });
      renameSync(dir, trash);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT' && !existsSync(dir)) return;
      rmSync(dir, { recursive: true, force: true }); // not movable (e.g. trash/ on another filesystem)
      return;
    }
    if (this.trash.length === 0) this.trashSince = Date.now();
    this.trash.push(trash);
    this.scheduleTrash();
  }

  /**
   * Deleting a removed container's files is work that nobody waits for, and on a small
   * machine it competes with the starts that somebody waits for (each entry costs a few
   * dozen syscalls and pool round trips): it runs once no container was started or removed
   * for TRASH_IDLE_MS, so that a burst of `docker run --rm` does not pay it between its
   * runs, and at the latest TRASH_MAX_WAIT_MS after the oldest entry came, or when the
   * daemon stops (after a crash: at the next start).
   */
  private scheduleTrash(): void {
    if (this.trash.length === 0 || this.closing) return;
    if (this.trashTimer) clearTimeout(this.trashTimer);
    const left = this.trashSince + TRASH_MAX_WAIT_MS - Date.now();
    this.trashTimer = setTimeout(() => void this.emptyTrash(), Math.max(0, Math.min(TRASH_IDLE_MS, left)));
    this.trashTimer.unref();
  }

  private async emptyTrash(): Promise<void> {
    this.trashTimer = undefined;
    const entries = this.trash.splice(0);
    for (const t of entries) {
      await rm(t, { recursive: true, force: true }).catch((e: Error) => this.log.warn({ err: e, dir: t }, 'deleting a removed container directory failed'));
    }
  }

  rename(ref: string, newName: string): Promise<void> {
    const c = this.find(ref);
    if (!newName) throw badParameter('Neither old nor new names may be empty');
    return this.withLock(c, async () => {
      const old = c.rec.name;
      if (newName.replace(/^\//, '') === old) throw conflict(`Renaming a container with the same name as its current name`);
      const reserved = this.names.reserve(newName, c.id);
      try {
        await this.claimName(reserved, c.id);
      } catch (e) {
        this.names.release(reserved, c.id);
        throw e;
      }
      c.rec.name = reserved;
      this.names.release(old, c.id);
      await this.save(c, true);
      await this.claims.releaseName(old, c.id);
      this.event(c, 'rename', { oldName: `/${old}` });
    });
  }

  /* ---------- pause ---------- */

  pause(ref: string): Promise<void> {
    const c = this.find(ref);
    return this.withLock(c, async () => {
      checkPause(c.rec);
      if (!c.cgroup) throw new EngineError('system', 'the freezer is not available on this node');
      await c.cgroup.freeze();
      setStatus(c.rec.state, 'paused');
      await this.save(c);
      this.event(c, 'pause');
    });
  }

  unpause(ref: string): Promise<void> {
    const c = this.find(ref);
    return this.withLock(c, async () => {
      checkUnpause(c.rec);
      if (!c.cgroup) throw new EngineError('system', 'the freezer is not available on this node');
      await c.cgroup.thaw();
      setStatus(c.rec.state, 'running');
      await this.save(c);
      this.event(c, 'unpause');
    });
  }

  /* ---------- the rootfs, for docker cp ---------- */

  /**
   * Runs `f` with the container's rootfs mounted and still: a running container is frozen
   * for the duration (dockerd does the same for archive operations), a stopped one has its
   * rootfs mounted for it and unmounted after.
   */
  withRootfs<T>(ref: string, f: (rootfs: string, containerId: string) => Promise<T>): Promise<T> {
    const c = this.find(ref);
    return this.withLock(c, async () => {
      const rootfs = this.layout.rootfsDir(c.id);
      const s = c.rec.state.Status;
      if (s === 'running' && c.cgroup) {
        await c.cgroup.freeze();
        try {
          return await f(rootfs, c.id);
        } finally {
          await c.cgroup.thaw().catch((e: Error) => this.log.error({ err: e, id: c.id }, 'thaw after archive failed'));
        }
      }
      if (s === 'paused') return f(rootfs, c.id);
      if (s === 'removing' || s === 'dead' || s === 'restarting') throw conflict(`container ${c.id} is ${s}`);
      await unmountSnapshot(this.layout, c.id);
      try {
        await prepareSnapshot(this.layout, c.id, c.rec.layers);
      } catch (e) {
        await mkdir(this.layout.containerDir(c.id), { recursive: true, mode: 0o700 }).catch(() => undefined);
        await this.save(c);
        throw e;
      }
      try {
        return await f(rootfs, c.id);
      } finally {
        await unmountSnapshot(this.layout, c.id).catch((e: Error) => this.log.warn({ err: e, id: c.id }, 'unmount after archive failed'));
      }
    });
  }

  /** Runs `f` on the record under the container's lock and saves it (network connect, disconnect). */
  update<T>(ref: string, f: (rec: ContainerRecord, running: boolean) => Promise<T>): Promise<T> {
    const c = this.find(ref);
    return this.withLock(c, async () => {
      const out = await f(c.rec, c.rec.state.Status === 'running' || c.rec.state.Status === 'paused');
      await this.save(c);
      return out;
    });
  }

  /* ---------- attach, resize ---------- */

  /** A shim attach stream for this container: now when it runs, else at its next start. */
  attach(ref: string, streams: AttachStreams): { container: Container; socket: Promise<Socket>; cancel: () => void } {
    const c = this.find(ref);
    if (c.rec.state.Status === 'paused') throw conflict(`You cannot attach to a paused container, unpause it first`);
    if (c.rec.state.Status === 'running' && c.monitor) {
      return { container: c, socket: this.connectAttach(c, streams), cancel: () => undefined };
    }
    let pending: PendingAttach | undefined;
    const socket = new Promise<Socket>((resolve, reject) => {
      pending = { streams, resolve, reject };
      c.pendingAttach.push(pending);
    });
    return {
      container: c,
      socket,
      cancel: () => {
        const i = c.pendingAttach.indexOf(pending!);
        if (i >= 0) c.pendingAttach.splice(i, 1);
      },
    };
  }

  private async connectAttach(c: Container, streams: AttachStreams): Promise<Socket> {
    const client = await ShimClient.connect(this.socketOf(c.id));
    return await client.attach(streams);
  }

  async resize(ref: string, h: number, w: number): Promise<void> {
    const c = this.find(ref);
    if (!Number.isInteger(h) || !Number.isInteger(w) || h < 0 || w < 0 || h > 65535 || w > 65535) throw badParameter('invalid height or width');
    if (c.rec.state.Status !== 'running') throw conflict(`Container ${c.id} is not running`);
    const client = await ShimClient.connect(this.socketOf(c.id));
    try {
      const a = await client.request(`resize ${h} ${w}`);
      if (a !== 'ok' && c.rec.config.Tty) throw new EngineError('system', `resize failed: ${a}`);
    } finally {
      client.close();
    }
  }

  /* ---------- daemon start and stop ---------- */

  /** Reads every record and reconciles it with its shim; then applies restart policies. */
  async load(): Promise<void> {
    await mkdir(this.layout.containersDir, { recursive: true });
    // what removals before a crash had not finished deleting
    const trash = this.layout.trashDir;
    for (const t of await readdir(trash).catch(() => [] as string[])) {
      void rm(join(trash, t), { recursive: true, force: true }).catch((e: Error) => this.log.warn({ err: e, dir: t }, 'emptying the trash failed'));
    }
    await mkdir(join(this.o.execRoot, 's'), { recursive: true, mode: 0o700 });
    const ids = await readdir(this.layout.containersDir).catch(() => [] as string[]);
    const toStart: Container[] = [];
    await Promise.all(
      ids.map(async (id) => {
        let rec: ContainerRecord;
        try {
          rec = JSON.parse(await readFile(this.layout.engineRecordPath(id), 'utf8')) as ContainerRecord;
        } catch {
          return; // not a daemon container (wharf run) or never written
        }
        const c = new Container(rec);
        this.byId.set(id, c);
        try {
          this.names.reserve(rec.name, id);
        } catch (e) {
          // Two records with one name cannot be written by this daemon; keep both, renamed.
          rec.name = this.names.reserve(undefined, id);
          this.log.warn({ err: e, id, name: rec.name }, 'container name already taken: renamed');
        }
        await this.claimName(rec.name, id).catch((e: Error) => this.log.warn({ err: e, id, name: rec.name }, 'cannot claim the container name on disk'));
        try {
          if (await this.reconcile(c)) toStart.push(c);
        } catch (e) {
          this.log.error({ err: e, id }, 'reconciling the container failed');
        }
      }),
    );
    for (const c of toStart) {
      void this.withLock(c, async () => {
        if (c.removed || c.rec.state.Status === 'running') return;
        setStatus(c.rec.state, 'exited');
        await this.startLocked(c);
      }).catch((e: Error) => this.log.warn({ err: e, id: c.id }, 'start at daemon start failed'));
    }
  }

  /** Returns true when the container should be started now (restart policy). */
  private async reconcile(c: Container): Promise<boolean> {
    const rec = c.rec;
    const wasRunning = rec.state.Status === 'running' || rec.state.Status === 'paused' || rec.state.Status === 'restarting';
    const client = await ShimClient.connect(this.socketOf(c.id)).catch(() => undefined);
    if (client) {
      const status = await client.request('status');
      const running = /^running (\d+)$/.exec(status ?? '');
      if (running) {
        const driver = await this.cgroups();
        c.cgroup = (await driver.list()).includes(c.id) ? await driver.open(c.id) : undefined;
        if (rec.state.Status !== 'paused') setStatus(rec.state, 'running');
        rec.state.Pid = Number(running[1]);
        c.startedAtMs = Date.parse(rec.state.StartedAt) || Date.now();
        c.runDone = new Promise<void>((resolve) => (c.endRun = resolve));
        c.monitor = client;
        await this.o.network.restore(rec).catch((e: Error) => this.log.error({ err: e, id: c.id }, 'restoring the network of a running container failed'));
        await this.save(c);
        this.log.info({ id: c.id, pid: rec.state.Pid }, 'reattached to running container');
        this.watch(c, client);
        return false;
      }
      if (status === 'created') await client.request('quit');
      client.close();
    }
    if (!wasRunning) {
      await this.cleanupLeftovers(c);
      return startsWithDaemon(rec);
    }
    // It ran when the daemon went away and its shim is gone: the exit file says how it ended.
    const exit = await readExitFile(this.layout.exitFilePath(c.id));
    const driver = await this.cgroups();
    c.cgroup = (await driver.list()).includes(c.id) ? await driver.open(c.id) : undefined;
    const pending = rec.state.Status === 'restarting';
    await this.exitedWhileAway(c, exit, pending);
    return startsWithDaemon(rec) || (rec.state.Status === 'exited' && shouldRestart(rec, rec.state.ExitCode) && rec.hostConfig.RestartPolicy.Name === 'on-failure');
  }

  private async exitedWhileAway(c: Container, exit: { exitCode: number; finishedAt?: number } | undefined, pendingRestart: boolean): Promise<void> {
    const rec = c.rec;
    if (c.cgroup) {
      rec.state.OOMKilled = await c.cgroup
        .stats()
        .then((s) => s.oomKills > 0)
        .catch(() => false);
      await c.cgroup.destroy().catch(() => undefined);
      c.cgroup = undefined;
    }
    await unmountSnapshot(this.layout, c.id).catch(() => undefined);
    this.o.network.cleanup(rec);
    await this.o.network.release(rec).catch(() => undefined);
    setStatus(rec.state, 'exited');
    rec.state.Pid = 0;
    if (!pendingRestart) {
      rec.state.ExitCode = exit?.exitCode ?? 255;
      rec.state.Error = exit ? '' : 'the container monitor (shim) was gone when the daemon started';
      rec.state.FinishedAt = exit?.finishedAt ? new Date(exit.finishedAt * 1000).toISOString() : new Date().toISOString();
      this.log.info({ id: c.id, exitCode: rec.state.ExitCode }, 'container exited while the daemon was away');
    }
    await this.save(c);
    if (!pendingRestart) this.event(c, 'die', { exitCode: String(rec.state.ExitCode) });
    if (rec.hostConfig.AutoRemove) await this.withLock(c, () => this.removeLocked(c));
  }

  private async cleanupLeftovers(c: Container): Promise<void> {
    await unmountSnapshot(this.layout, c.id).catch(() => undefined);
    this.o.network.cleanup(c.rec);
    const driver = await this.cgroups();
    if ((await driver.list()).includes(c.id)) await (await driver.open(c.id)).destroy().catch(() => undefined);
  }

  /** The daemon stops: drop the monitor connections and timers; the shims carry on. */
  async detach(): Promise<void> {
    this.closing = true;
    if (this.trashTimer) clearTimeout(this.trashTimer);
    for (const c of this.byId.values()) {
      if (c.restartTimer) clearTimeout(c.restartTimer);
      c.monitor?.close();
    }
    await this.emptyTrash(); // a clean stop leaves no removed container's files behind
    await Promise.all([...this.byId.values()].map((c) => c.saving));
  }
}
