/**
 * `wharf run`, in the foreground: the orchestration crun's container.c does, in one place.
 *
 *   image      the node's record, pulled first when missing (like docker)
 *   name       claimed (unique among running containers)
 *   rootfs     an overlay of the shared unpacked layers + the container's upper dir   } in
 *   cgroup     wharf/<id> with the limits                                             } parallel
 *   record     written first (state created, owner: this process), so that a SIGKILLed
 *              `wharf run` leaves a record `wharf container prune` finds
 *   plan       argv, env, user and groups, cwd, hostname, /etc files: all before clone
 *   stdio      pipes relayed by this process (stdio-relay.ts), never the caller's fds
 *   spawn      clone + the init helper; placed in its cgroup while the helper waits
 *   wait       signals forwarded; output copied to EOF; exit code, or 128+signal; OOM
 *              kills reported (137)
 *   cleanup    cgroup destroyed; rootfs unmounted; with --rm, everything removed
 *
 * Failures before the program runs are RunErrors carrying Docker's exit codes: 125 for
 * wharf's own errors, 126 when the program cannot be invoked, 127 when it is not found.
 */
import { writeFileSync } from 'node:fs';
import { mkdir, readFile, rm } from 'node:fs/promises';
import { hostname as osHostname } from 'node:os';
import { createCgroupDriver } from '../cgroups/detect.js';
import type { Cgroup } from '../cgroups/driver.js';
import { ContainerStore, processStartTime, type ContainerRecord } from './records.js';
import { NodeLayout } from '../layout.js';
import { formatReference, parseReference } from '../../oci/reference.js';
import type { ImageRecord, PullOptions } from '../images/store.js';
import { ContainerStartError, exitStatusCode, spawnContainer, type ContainerProcess, type SpawnOptions } from '../native/spawn.js';
import { commandLine, mergeEnv, workingDir, type RunFlags } from './run-options.js';
import { resolveUser } from './user.js';
import { readHostFile, writeEtcFiles } from './etc-files.js';
import { StdioRelay, type CallerStdio } from './stdio-relay.js';
import { prepareSnapshot, removeSnapshot, unmountSnapshot } from '../layers/snapshots.js';
import { defaultSecurityPlan, devicePlan } from './security-options.js';

export class RunError extends Error {
  override name = 'RunError';
  constructor(
    message: string,
    /** the exit code `wharf run` ends with */
    readonly exitCode: number,
  ) {
    super(message);
  }
}

export interface RunRequest {
  image: string;
  /** what follows the image name on the command line */
  args: string[];
  flags: RunFlags;
  /** node root (default /var/lib/wharf-node) */
  root: string;
  /** registry for image names without a host */
  defaultRegistry?: string;
  /** Where the program's output is copied to, and (with -i) its input read from; the
   * container gets pipes, never these. Default: this process's stdin, stdout, stderr. */
  stdio?: Partial<CallerStdio>;
  /** messages of wharf itself (pull notices, warnings). Default: stderr. */
  log?: (line: string) => void;
  pull?: Pick<PullOptions, 'onProgress'>;
  /** called once the program runs: forward signals to it here */
  onStart?: (proc: ContainerProcess, id: string) => void;
}

export interface RunResult {
  id: string;
  name: string;
  exitCode: number;
  signal?: NodeJS.Signals;
  oomKilled: boolean;
}

/** Docker's codes for a failed start: the program is missing (127) or cannot be run (126). */
function startFailure(e: ContainerStartError): RunError {
  if (e.step === 'exec') return new RunError(e.message, e.code === 'ENOENT' ? 127 : 126);
  return new RunError(e.message, 125);
}

/**
 * The image record: read straight from the node root when the reference names one (the
 * common case, which never loads the store, the registry client or the unpacker); else
 * the store resolves image IDs, and pulls what is missing.
 */
async function findOrPull(layout: NodeLayout, image: string, req: RunRequest, log: (line: string) => void): Promise<ImageRecord> {
  const refOpts = req.defaultRegistry ? { defaultRegistry: req.defaultRegistry } : {};
  let key: string | undefined;
  try {
    key = formatReference(parseReference(image, refOpts));
  } catch (e) {
    // Not a reference: then it must look like an image ID.
    if (!/^(?:sha256:)?[0-9a-f]{4,64}$/.test(image)) throw new RunError((e as Error).message, 125);
  }
  if (key !== undefined) {
    try {
      return JSON.parse(await readFile(layout.imageRecordPath(key), 'utf8')) as ImageRecord;
    } catch {
      /* not on this node: pulled below */
    }
  }
  const { ImageStore } = await import('../images/store.js');
  const store = new ImageStore(layout, refOpts);
  let rec: ImageRecord | undefined;
  try {
    rec = await store.get(image);
  } catch (e) {
    throw new RunError((e as Error).message, 125);
  }
  if (rec) return rec;
  log(`Unable to find image '${image}' locally`);
  try {
    rec = await store.pull(image, req.pull ?? {});
  } catch (e) {
    // fetch() says only "fetch failed"; the reason (ECONNREFUSED, ENOTFOUND, ...) is its cause.
    const cause = (e as { cause?: { code?: string; message?: string } }).cause;
    const why = cause ? ` (${cause.code ?? cause.message})` : '';
    throw new RunError(`pulling ${image}: ${(e as Error).message}${why}`, 125);
  }
  log(`Pulled ${rec.reference} (${rec.digest})`);
  return rec;
}

export async function runContainer(req: RunRequest): Promise<RunResult> {
  const log = req.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const { flags } = req;
  const layout = new NodeLayout(req.root);
  const containers = new ContainerStore(layout);
  const [image, driver] = await Promise.all([
    findOrPull(layout, req.image, req, log),
    createCgroupDriver().catch((e: Error) => {
      throw new RunError(`cgroups: ${e.message}`, 125);
    }),
  ]);
  // Validate what needs no rootfs before anything is created.
  const argv = commandLine(image.config, flags.entrypoint, req.args);
  const security = flags.security ?? defaultSecurityPlan();
  const devices = await devicePlan(security).catch((e: Error) => {
    throw new RunError(e.message, 125);
  });

  const id = containers.newId();
  const shortId = id.slice(0, 12);
  const name = flags.name ?? shortId;
  await containers.claimName(name, id);

  let cg: Cgroup | undefined;
  let mounted = false;
  let proc: ContainerProcess | undefined;
  let record: ContainerRecord | undefined;
  const cleanup = async (exitCode: number | undefined, oomKilled: boolean): Promise<void> => {
    const errors: unknown[] = [];
    const attempt = async (f: () => Promise<unknown>) => {
      try {
        await f();
      } catch (e) {
        errors.push(e);
      }
    };
    // The cgroup and the rootfs are independent: tear both down at once.
    await Promise.all([
      cg ? attempt(() => cg!.destroy()) : undefined,
      mounted
        ? attempt(() => (flags.rm ? removeSnapshot(layout, id) : unmountSnapshot(layout, id)))
        : attempt(() => rm(layout.containerDir(id), { recursive: true, force: true })), // nothing is mounted there
    ]);
    if (mounted && !flags.rm && record) {
      const done: ContainerRecord = { ...record, state: 'exited', oomKilled, finished: new Date().toISOString() };
      delete done.pid;
      delete done.pidStartTime;
      if (exitCode !== undefined) done.exitCode = exitCode;
      await attempt(() => containers.write(done));
    }
    await attempt(() => containers.releaseName(name, id));
    if (errors.length > 0) log(`warning: cleanup of ${shortId} failed: ${errors.map((e) => (e as Error).message).join('; ')}`);
  };

  let relay: StdioRelay | undefined;
  try {
    const startTime = await processStartTime(process.pid);
    record = {
      id,
      name,
      image: image.reference,
      imageId: image.configDigest,
      command: argv,
      created: new Date().toISOString(),
      state: 'created',
      owner: { pid: process.pid, startTime },
    };
    await mkdir(layout.containerDir(id), { recursive: true, mode: 0o700 });
    await containers.write(record);
    const layers = image.layers.map((l) => l.diffId);
    const [cgroup] = await Promise.allSettled([
      driver.create(id, { ...flags.limits, devices: devices.rules }),
      prepareSnapshot(layout, id, layers).then(() => {
        mounted = true;
      }),
    ]).then((results) => {
      if (results[0].status === 'fulfilled') cg = results[0].value;
      const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed) throw new RunError((failed.reason as Error).message, 125);
      return [cg!];
    });
    for (const w of cgroup!.warnings) log(`WARNING: ${w}`);

    if (flags.cidfile) {
      try {
        writeFileSync(flags.cidfile, id, { flag: 'wx' });
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        throw new RunError(
          code === 'EEXIST' ? `container ID file found, make sure the other container isn't running or delete ${flags.cidfile}` : `cannot write --cidfile ${flags.cidfile}: ${code}`,
          125,
        );
      }
    }

    // The plan: everything is decided here, before clone.
    const rootfs = layout.rootfsDir(id);
    const hostname = flags.hostname ?? (flags.network === 'host' ? hostHostname(shortId) : shortId);
    const [user, etcBinds] = await Promise.all([
      resolveUser(rootfs, flags.user ?? (image.config.User || undefined), flags.groupAdd),
      Promise.all([readHostFile('/etc/resolv.conf'), readHostFile('/etc/hosts')]).then(([hostResolvConf, hostHosts]) =>
        writeEtcFiles(layout, id, { hostname, hostNetwork: flags.network === 'host', dns: flags.dns, addHosts: flags.addHosts, hostResolvConf, hostHosts }, flags.readOnly),
      ),
    ]);
    const env = mergeEnv(image.config.Env, flags.env, hostname, user.home);
    relay = StdioRelay.open(flags.interactive, {
      stdin: req.stdio?.stdin ?? process.stdin,
      stdout: req.stdio?.stdout ?? process.stdout,
      stderr: req.stdio?.stderr ?? process.stderr,
    });
    const spec: SpawnOptions = {
      rootfs,
      args: argv,
      env,
      cwd: workingDir(image.config, flags.workdir),
      user: { uid: user.uid, gid: user.gid, additionalGids: user.additionalGids },
      hostname,
      namespaces: { net: flags.network !== 'host' },
      readOnlyRootfs: flags.readOnly,
      // Docker's default: setuid binaries keep working unless --security-opt no-new-privileges.
      noNewPrivileges: security.noNewPrivileges,
      capabilities: security.capabilities,
      seccomp: security.seccomp,
      devices: devices.nodes,
      // --privileged: nothing masked or read-only, /sys writable (as Docker).
      ...(security.privileged ? { writableSys: true, maskedPaths: [], readonlyPaths: [] } : {}),
      stdio: relay.fds,
      binds: etcBinds,
      // In the foreground the container never outlives `wharf run` (even SIGKILLed).
      dieWithParent: true,
      init: flags.init,
      cgroupfs: cgroup!.fs,
      beforeStart: (pid) => cgroup!.addProcess(pid),
    };

    try {
      proc = await spawnContainer(spec);
    } catch (e) {
      if (e instanceof ContainerStartError) throw startFailure(e);
      throw new RunError((e as Error).message, 125);
    }
    relay.started();
    record = { ...record, state: 'running', pid: proc.pid };
    const pidStartTime = await processStartTime(proc.pid);
    if (pidStartTime) record.pidStartTime = pidStartTime;
    await containers.write(record).catch((e: Error) => log(`warning: cannot write the container record: ${e.message}`));
    req.onStart?.(proc, id);
  } catch (e) {
    relay?.abort();
    const err = e instanceof RunError ? e : new RunError((e as Error).message, 125);
    await cleanup(err.exitCode, false);
    throw err;
  }

  // Every byte the program wrote is passed on before wharf run exits.
  const [status] = await Promise.all([proc.wait(), relay.finished()]);
  let oomKilled = false;
  try {
    oomKilled = (await cg!.stats()).oomKills > 0;
  } catch {
    /* stats are best effort */
  }
  const exitCode = exitStatusCode(status);
  await cleanup(exitCode, oomKilled);
  const result: RunResult = { id, name, exitCode, oomKilled };
  if (status.signal !== undefined) result.signal = status.signal;
  return result;
}

/** With --network host the container shows the host's name, as with Docker. */
function hostHostname(fallback: string): string {
  const h = osHostname();
  return /^[A-Za-z0-9]([A-Za-z0-9.-]{0,62})$/.test(h) ? h : fallback;
}
