/**
 * `docker exec`: a process in a running container, with its own shim (the same
 * wharf-shim, running wharf-init in exec mode: setns into the container's namespaces,
 * fork, credentials, exec). The exec shim places the helper in the container's cgroups,
 * holds its stdio (pipes or a pty opened in the container's devpts) and records its exit.
 * Exec instances live in memory, as dockerd's (they do not survive a daemon restart).
 */
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { Socket } from 'node:net';
import { shimSocketPath } from '../layout.js';
import { encodeExecSpec } from '../native/spawn.js';
import { securityOf } from './plan.js';
import type { HostConfig } from './container.js';

function execSecurity(hc: HostConfig, privileged: boolean): { capabilities: bigint; seccomp: ReturnType<typeof securityOf>['seccomp']; noNewPrivileges: boolean } {
  const own = securityOf(hc);
  const caps = privileged ? securityOf({ ...hc, Privileged: true }).capabilities : own.capabilities;
  return { capabilities: caps, seccomp: own.seccomp, noNewPrivileges: own.noNewPrivileges };
}
import { launchShim, readExitFile, ShimClient } from '../native/shim.js';
import { badParameter, conflict, EngineError, noSuchExec } from '../daemon/errors.js';
import { mergeEnv } from './run-options.js';
import { resolveUser } from './user.js';
import type { Container, ContainerManager } from './manager.js';

export interface ExecCreateBody {
  AttachStdin?: boolean;
  AttachStdout?: boolean;
  AttachStderr?: boolean;
  DetachKeys?: string;
  Tty?: boolean;
  Env?: string[] | null;
  Cmd?: string[] | null;
  Privileged?: boolean;
  User?: string;
  WorkingDir?: string;
}

export class ExecInstance {
  running = false;
  exitCode: number | null = null;
  pid = 0;
  started = false;
  /** a resize that came before the process ran */
  pendingSize: [number, number] | undefined;
  done: Promise<void>;
  private finish!: () => void;
  constructor(
    readonly id: string,
    readonly container: Container,
    readonly body: ExecCreateBody,
  ) {
    this.done = new Promise((r) => (this.finish = r));
  }
  ended(code: number): void {
    if (this.exitCode !== null) return;
    this.exitCode = code;
    this.running = false;
    this.finish();
  }
}

export class ExecManager {
  private execs = new Map<string, ExecInstance>();

  constructor(
    private readonly containers: ContainerManager,
    private readonly execRoot: string,
  ) {}

  create(ref: string, body: ExecCreateBody): string {
    const c = this.containers.find(ref);
    if (typeof body !== 'object' || body === null || Array.isArray(body)) throw badParameter('the exec body must be a JSON object');
    if (!Array.isArray(body.Cmd) || body.Cmd.length === 0 || !body.Cmd.every((a) => typeof a === 'string')) throw badParameter('No exec command specified');
    if (body.Privileged) throw badParameter('privileged exec is not supported by this node');
    if (body.WorkingDir && !body.WorkingDir.startsWith('/')) throw badParameter(`the working directory '${body.WorkingDir}' is invalid, it needs to be an absolute path`);
    if (c.rec.state.Status === 'paused') throw conflict(`Container ${c.id} is paused, unpause the container before exec`);
    if (c.rec.state.Status !== 'running') throw conflict(`Container ${c.id} is not running`);
    const id = randomBytes(32).toString('hex');
    this.execs.set(id, new ExecInstance(id, c, body));
    return id;
  }

  find(id: string): ExecInstance {
    const e = this.execs.get(id) ?? [...this.execs.values()].find((x) => id.length >= 12 && x.id.startsWith(id));
    if (!e) throw noSuchExec(id);
    return e;
  }

  idsOf(containerId: string): string[] {
    return [...this.execs.values()].filter((e) => e.container.id === containerId).map((e) => e.id);
  }

  /** Forgets the execs of a removed container. */
  forget(containerId: string): void {
    for (const [id, e] of this.execs) if (e.container.id === containerId) this.execs.delete(id);
  }

  /**
   * Starts the exec; resolves with its shim attach socket (after the program runs) when
   * `attach` is set. The exit is recorded on the instance when the shim reports it.
   */
  async start(e: ExecInstance, attach: boolean): Promise<Socket | undefined> {
    if (e.started) throw conflict(`Error: Exec command ${e.id} has already run`);
    const c = e.container;
    if (c.rec.state.Status !== 'running' || !c.cgroup) throw conflict(`Container ${c.id} is not running`);
    e.started = true;
    const layout = this.containers.layout;
    const dir = layout.execDir(c.id, e.id);
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const b = e.body;
    const user = await resolveUser(layout.rootfsDir(c.id), (b.User || c.rec.config.User) || undefined).catch((err: Error) => {
      throw badParameter(err.message);
    });
    const env = mergeEnv([], [...c.rec.config.Env, ...(b.Env ?? [])], c.rec.config.Hostname, user.home);
    const spec = await encodeExecSpec(c.rec.state.Pid, {
      args: b.Cmd!,
      env,
      cwd: b.WorkingDir || c.rec.config.WorkingDir || '/',
      user: { uid: user.uid, gid: user.gid, additionalGids: user.additionalGids },
      // The container's capabilities, filter and no_new_privs (docker exec --privileged: every capability).
      ...execSecurity(c.rec.hostConfig, b.Privileged === true),
      tty: b.Tty ?? false,
    });
    const specFile = join(dir, 'exec.spec');
    await writeFile(specFile, spec, { mode: 0o600 });
    const socket = shimSocketPath(this.execRoot, e.id);
    const exitFile = join(dir, 'exit');
    const monitor = await launchShim({
      bundle: dir,
      socket,
      specFile,
      flags: 0,
      exitFile,
      cgroupProcs: c.cgroup.paths.map((p) => join(p, 'cgroup.procs')),
      tty: b.Tty ?? false,
      openStdin: b.AttachStdin ?? false,
      stdinOnce: true,
      stderrFile: join(dir, 'shim.log'),
    });
    let stream: Socket | undefined;
    if (attach) {
      const client = await ShimClient.connect(socket);
      stream = await client.attach({ stdin: b.AttachStdin ?? false, stdout: b.AttachStdout ?? true, stderr: b.AttachStderr ?? true });
    }
    const answer = await monitor.request('start');
    const started = /^started (\d+)$/.exec(answer ?? '');
    if (!started) {
      monitor.close();
      stream?.destroy();
      const m = /^failed ([^\t]*)\t(\d+)\t(.*)$/.exec(answer ?? '');
      const prog = b.Cmd![0]!;
      const errno = Number(m?.[2] ?? 0);
      const notFound = m?.[1] === 'exec' && errno === 2;
      const why = notFound ? `exec: "${prog}": executable file not found in $PATH` : m?.[1] === 'exec' && errno === 13 ? `exec: "${prog}": permission denied` : `${m?.[1] ?? 'shim'}: ${m?.[3] ?? 'failed'}`;
      e.ended(notFound ? 127 : 126);
      await rm(dir, { recursive: true, force: true });
      throw new EngineError('system', `OCI runtime exec failed: exec failed: unable to start container process: ${why}: unknown`);
    }
    e.pid = Number(started[1]);
    e.running = true;
    if (e.pendingSize) await monitor.request(`resize ${e.pendingSize[0]} ${e.pendingSize[1]}`);
    void (async () => {
      const line = await monitor.request('wait');
      monitor.close();
      const m = /^exited (-?\d+) /.exec(line ?? '');
      const code = m ? Number(m[1]) : ((await readExitFile(exitFile))?.exitCode ?? 126);
      e.ended(code);
      await rm(dir, { recursive: true, force: true }).catch(() => undefined);
    })();
    return stream;
  }

  async resize(e: ExecInstance, h: number, w: number): Promise<void> {
    if (!Number.isInteger(h) || !Number.isInteger(w) || h < 0 || w < 0 || h > 65535 || w > 65535) throw badParameter('invalid height or width');
    if (!e.running) {
      e.pendingSize = [h, w];
      return;
    }
    const client = await ShimClient.connect(shimSocketPath(this.execRoot, e.id)).catch(() => undefined);
    if (!client) return;
    try {
      await client.request(`resize ${h} ${w}`);
    } finally {
      client.close();
    }
  }
}
