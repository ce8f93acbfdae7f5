/**
 * `wharf run`, `create`, `start -a`, `attach` and `exec` through the Engine API, in the
 * docker CLI's order (cli/command/container/run.go): create (on 404 "no such image":
 * pull, then create again) -> attach (hijacked) -> wait registered -> start -> streams ->
 * the exit code from wait. `-d` prints the id and leaves. Exit codes as docker's: 125 for
 * errors of the CLI or daemon, 126/127 when the program cannot be run / is not found,
 * else the program's.
 */
import { readFile } from 'node:fs/promises';
import type { EngineClient, Query } from '../engine/client.js';
import { parseDeviceFlag } from '../../security/devices.js';
import { CliError, EngineApiError } from '../engine/client.js';
import type { RawRunFlags } from '../../containers/run-options.js';
import { pumpStreams } from './streams.js';
import { pullImage } from './images.js';
import { qualifyName } from '../verb.js';
import { volumeFields, type VolumeFlags } from './volume-flags.js';

export interface ClientRunFlags extends RawRunFlags, VolumeFlags {
  detach?: boolean;
  tty?: boolean;
  restart?: string;
  detachKeys?: string;
  sigProxy?: boolean;
  /** a registry to put in front of names without one (only when the user gave --registry) */
  qualifyWith?: string;
  quiet?: boolean;
  /** -p, -P, --expose, --link, --network-alias (bridge networking, runtime/network/) */
  publish?: string[];
  publishAll?: boolean;
  expose?: string[];
  link?: string[];
  networkAlias?: string[];
}

/** docker/cli parseSecurityOpts: seccomp=<file> is sent as the file's JSON. */
async function inlineSeccompProfile(opt: string): Promise<string> {
  const m = /^seccomp[=:](.*)$/s.exec(opt);
  if (!m || m[1] === 'unconfined' || m[1] === 'builtin' || m[1]!.trimStart().startsWith('{')) return opt;
  try {
    return `seccomp=${JSON.stringify(JSON.parse(await readFile(m[1]!, 'utf8')))}`;
  } catch (e) {
    throw new CliError(`opening seccomp profile (${m[1]}) failed: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, 125);
  }
}

/** --device as the Engine API's DeviceMapping (validated by parseRunFlags already). */
function deviceMapping(spec: string): { PathOnHost: string; PathInContainer: string; CgroupPermissions: string } {
  const d = parseDeviceFlag(spec);
  return { PathOnHost: d.hostPath, PathInContainer: d.containerPath, CgroupPermissions: d.access };
}

/** docker's --restart: no | always | unless-stopped | on-failure[:max-retries]. */
export function restartPolicy(value: string | undefined): { Name: string; MaximumRetryCount: number } | undefined {
  if (value === undefined) return undefined;
  const m = /^(no|always|unless-stopped|on-failure)(?::(\d+))?$/.exec(value);
  if (!m || (m[2] !== undefined && m[1] !== 'on-failure')) {
    throw new CliError(`invalid restart policy "${value}": use no, always, unless-stopped or on-failure[:max-retries]`, 125);
  }
  return { Name: m[1]!, MaximumRetryCount: m[2] ? Number(m[2]) : 0 };
}

/** The create body, as the docker CLI builds it from the same flags. */
export async function createBody(image: string, args: string[], raw: ClientRunFlags, hostEnv: Record<string, string | undefined>, hostCpus: number) {
  const { parseRunFlags, RunOptionsError } = await import('../../containers/run-options.js');
  let flags;
  try {
    // The network is the daemon's to decide (dockerd: bridge by default); validated there.
    flags = await parseRunFlags({ ...raw, network: undefined }, hostEnv, hostCpus, { planSecurity: false });
  } catch (e) {
    if (e instanceof RunOptionsError) throw new CliError(e.message, 125);
    throw e;
  }
  const restart = restartPolicy(raw.restart);
  if (raw.rm && restart && restart.Name !== 'no') throw new CliError('Conflicting options: --restart and --rm', 125);
  const attach = !raw.detach;
  const l = flags.limits;
  const { mergeBindings, parsePortKey, PortSpecError } = await import('../../network/ports.js');
  let portBindings;
  const exposed: Record<string, Record<string, never>> = {};
  try {
    portBindings = mergeBindings(raw.publish ?? []);
    for (const e of raw.expose ?? []) {
      const [port, proto] = parsePortKey(e);
      exposed[`${port}/${proto}`] = {};
    }
  } catch (e) {
    if (e instanceof PortSpecError) throw new CliError(`invalid argument for -p/--expose: ${e.message}`, 125);
    throw e;
  }
  for (const k of Object.keys(portBindings)) exposed[k] = {};
  if (raw.networkAlias?.length && (raw.network === undefined || ['bridge', 'default', 'host', 'none'].includes(raw.network))) {
    throw new CliError('network-scoped aliases are only supported for user-defined networks', 125);
  }
  const hostConfig: Record<string, unknown> = {
    AutoRemove: flags.rm,
    ReadonlyRootfs: flags.readOnly,
    ...(restart ? { RestartPolicy: restart } : {}),
    ...(raw.network !== undefined ? { NetworkMode: raw.network } : {}),
    ...(Object.keys(portBindings).length > 0 ? { PortBindings: portBindings } : {}),
    ...(raw.publishAll ? { PublishAllPorts: true } : {}),
    ...(raw.link?.length ? { Links: raw.link } : {}),
    ...(l.memoryBytes !== undefined ? { Memory: l.memoryBytes } : {}),
    ...(l.memorySwapBytes !== undefined ? { MemorySwap: l.memorySwapBytes } : {}),
    ...(l.cpus !== undefined ? { NanoCpus: Math.round(l.cpus * 1e9) } : {}),
    ...(l.cpuShares !== undefined ? { CpuShares: l.cpuShares } : {}),
    ...(l.cpusetCpus !== undefined ? { CpusetCpus: l.cpusetCpus } : {}),
    ...(l.pidsLimit !== undefined ? { PidsLimit: l.pidsLimit } : {}),
    ...(flags.init ? { Init: true } : {}),
    ...(raw.groupAdd?.length ? { GroupAdd: raw.groupAdd } : {}),
    ...(raw.dns?.length ? { Dns: raw.dns } : {}),
    ...(raw.dnsSearch?.length ? { DnsSearch: raw.dnsSearch } : {}),
    ...(raw.dnsOption?.length ? { DnsOptions: raw.dnsOption } : {}),
    ...(raw.addHost?.length ? { ExtraHosts: raw.addHost } : {}),
    ...(raw.capAdd?.length ? { CapAdd: raw.capAdd } : {}),
    ...(raw.capDrop?.length ? { CapDrop: raw.capDrop } : {}),
    ...(raw.privileged ? { Privileged: true } : {}),
    // As the docker CLI: a seccomp profile file travels as its content.
    ...(raw.securityOpt?.length ? { SecurityOpt: await Promise.all(raw.securityOpt.map(inlineSeccompProfile)) } : {}),
    ...(raw.device?.length ? { Devices: raw.device.map(deviceMapping) } : {}),
  };
  const vf = volumeFields(raw);
  if (vf.binds.length) hostConfig.Binds = vf.binds;
  if (vf.mounts.length) hostConfig.Mounts = vf.mounts;
  if (Object.keys(vf.tmpfs).length) hostConfig.Tmpfs = vf.tmpfs;
  if (vf.volumesFrom.length) hostConfig.VolumesFrom = vf.volumesFrom;
  return {
    name: flags.name,
    cidfile: flags.cidfile,
    body: {
      Hostname: flags.hostname ?? '',
      User: flags.user ?? '',
      AttachStdin: attach && flags.interactive,
      AttachStdout: attach,
      AttachStderr: attach,
      Tty: raw.tty ?? false,
      OpenStdin: flags.interactive,
      StdinOnce: attach && flags.interactive,
      Env: flags.env,
      Cmd: args.length > 0 ? args : null,
      Image: qualifyName(image, raw.qualifyWith),
      WorkingDir: flags.workdir ?? '',
      Entrypoint: flags.entrypoint === undefined ? null : [flags.entrypoint],
      Labels: {},
      ...(Object.keys(vf.volumes).length ? { Volumes: vf.volumes } : {}),
      ...(Object.keys(exposed).length > 0 ? { ExposedPorts: exposed } : {}),
      HostConfig: hostConfig,
      ...(raw.networkAlias?.length ? { NetworkingConfig: { EndpointsConfig: { [raw.network!]: { Aliases: raw.networkAlias } } } } : {}),
    },
  };
}

/** POST /containers/create; a missing image is pulled (progress on stderr) and the create retried. */
export async function createContainer(
  client: EngineClient,
  image: string,
  args: string[],
  raw: ClientRunFlags,
  hostEnv: Record<string, string | undefined>,
  hostCpus: number,
): Promise<string> {
  const { name, cidfile, body } = await createBody(image, args, raw, hostEnv, hostCpus);
  const create = () => client.json<{ Id: string; Warnings?: string[] | null }>('POST', '/containers/create', { query: { name }, body });
  let res;
  try {
    res = await create();
  } catch (e) {
    if (!(e instanceof EngineApiError) || e.status !== 404 || !/no such image/i.test(e.daemonMessage)) throw toRunError(e);
    process.stderr.write(`Unable to find image '${body.Image}' locally\n`);
    const auth = await (await import('../image-workflow.js')).storedAuthFor(body.Image);
    await pullImage(client, body.Image, { out: process.stderr, quiet: raw.quiet, withinRun: true, ...(auth ? { auth } : {}) }).catch((err: unknown) => {
      throw toRunError(err);
    });
    res = await create().catch((err: unknown) => {
      throw toRunError(err);
    });
  }
  for (const w of res.Warnings ?? []) process.stderr.write(`WARNING: ${w}\n`);
  if (cidfile) {
    const { writeFile } = await import('node:fs/promises');
    await writeFile(cidfile, res.Id, { flag: 'wx' }).catch((err: NodeJS.ErrnoException) => {
      throw new CliError(
        err.code === 'EEXIST' ? `container ID file found, make sure the other container isn't running or delete ${cidfile}` : `cannot write --cidfile ${cidfile}: ${err.code}`,
        125,
      );
    });
  }
  return res.Id;
}

/** docker/cli runStartContainerErr: 127 not found, 126 cannot be run, else 125. */
export function toRunError(e: unknown): unknown {
  if (!(e instanceof CliError)) return e;
  const msg = e.message.replace(/^Error response from daemon: /, '');
  let code = 125;
  if (/executable file not found|no such file or directory/i.test(msg)) code = 127;
  else if (/permission denied|is a directory/i.test(msg)) code = 126;
  return new CliError(e.message, code);
}

/** Registers the wait before start, as docker does: resolved once the daemon has accepted it. */
async function registerWait(client: EngineClient, id: string, condition: string): Promise<{ exitCode: Promise<number> }> {
  const res = await client.stream('POST', `/containers/${encodeURIComponent(id)}/wait`, { query: { condition } });
  const exitCode = (async () => {
    const chunks: Buffer[] = [];
    for await (const c of res) chunks.push(c as Buffer);
    const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { StatusCode: number; Error?: { Message?: string } | null };
    if (body.Error?.Message) throw new CliError(body.Error.Message, 125);
    return body.StatusCode;
  })();
  exitCode.catch(() => undefined); // awaited after the streams; never an unhandled rejection meanwhile
  return { exitCode };
}

/** Signals `wharf run` passes on to the container (docker's --sig-proxy, without a TTY). */
const PROXIED: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2'];

function proxySignals(client: EngineClient, id: string): () => void {
  const forward = (sig: NodeJS.Signals) => void client.request('POST', `/containers/${encodeURIComponent(id)}/kill`, { query: { signal: sig } }).catch(() => undefined);
  for (const s of PROXIED) process.on(s, forward);
  return () => {
    for (const s of PROXIED) process.off(s, forward);
  };
}

interface AttachRun {
  id: string;
  tty: boolean;
  stdin: boolean;
  detachKeys?: string;
  sigProxy: boolean;
  waitCondition: string;
  /** start the container (run, start -a); attach alone does not */
  start: boolean;
}

/** attach -> wait -> start -> streams -> exit code (0 after a detach). */
async function attachAndRun(client: EngineClient, r: AttachRun): Promise<number> {
  const cid = encodeURIComponent(r.id);
  // Both registered before the start, as docker does; sent together, in one round trip.
  const [attached, waiting] = await Promise.allSettled([
    client.hijack('POST', `/containers/${cid}/attach`, {
      query: { stream: true, stdin: r.stdin, stdout: true, stderr: true, detachKeys: r.detachKeys } satisfies Query,
    }),
    registerWait(client, r.id, r.waitCondition),
  ]);
  if (attached.status === 'rejected') throw attached.reason;
  const socket = attached.value;
  if (waiting.status === 'rejected') {
    socket.destroy();
    throw waiting.reason;
  }
  const exited = waiting.value;
  if (r.start) {
    try {
      await client.request('POST', `/containers/${cid}/start`);
    } catch (e) {
      socket.destroy();
      throw toRunError(e);
    }
  }
  const unproxy = r.sigProxy && !r.tty ? proxySignals(client, r.id) : () => undefined;
  try {
    const { detached } = await pumpStreams({
      socket,
      tty: r.tty,
      stdin: r.stdin,
      ...(r.detachKeys ? { detachKeys: r.detachKeys } : {}),
      resize: async (h, w) => void (await client.request('POST', `/containers/${cid}/resize`, { query: { h, w } })),
    });
    if (detached) return 0;
    return await exited.exitCode;
  } finally {
    unproxy();
  }
}

export async function run(client: EngineClient, image: string, args: string[], raw: ClientRunFlags, hostEnv: Record<string, string | undefined>, hostCpus: number): Promise<number> {
  if (raw.detach && raw.rm && raw.restart) restartPolicy(raw.restart);
  const id = await createContainer(client, image, args, raw, hostEnv, hostCpus);
  if (raw.detach) {
    try {
      await client.request('POST', `/containers/${encodeURIComponent(id)}/start`);
    } catch (e) {
      throw toRunError(e);
    }
    process.stdout.write(`${id}\n`);
    return 0;
  }
  return attachAndRun(client, {
    id,
    tty: raw.tty ?? false,
    stdin: raw.interactive ?? false,
    ...(raw.detachKeys ? { detachKeys: raw.detachKeys } : {}),
    sigProxy: raw.sigProxy !== false,
    waitCondition: raw.rm ? 'removed' : 'next-exit',
    start: true,
  });
}

interface InspectState {
  Id: string;
  Config?: { Tty?: boolean; OpenStdin?: boolean };
  State?: { Running?: boolean; Paused?: boolean; Restarting?: boolean };
  HostConfig?: { AutoRemove?: boolean };
}

/** `start -a [-i]`: the container's streams, and its exit code. */
export async function startAttached(client: EngineClient, name: string, opts: { interactive?: boolean; detachKeys?: string }): Promise<number> {
  const info = await client.json<InspectState>('GET', `/containers/${encodeURIComponent(name)}/json`);
  return attachAndRun(client, {
    id: info.Id,
    tty: info.Config?.Tty ?? false,
    stdin: (opts.interactive ?? false) && (info.Config?.OpenStdin ?? false),
    ...(opts.detachKeys ? { detachKeys: opts.detachKeys } : {}),
    sigProxy: true,
    waitCondition: info.HostConfig?.AutoRemove ? 'removed' : 'next-exit',
    start: true,
  });
}

export async function attach(client: EngineClient, name: string, opts: { stdin?: boolean; detachKeys?: string; sigProxy?: boolean }): Promise<number> {
  const info = await client.json<InspectState>('GET', `/containers/${encodeURIComponent(name)}/json`);
  if (!info.State?.Running) throw new CliError('You cannot attach to a stopped container, start it first');
  if (info.State.Paused) throw new CliError('You cannot attach to a paused container, unpause it first');
  if (info.State.Restarting) throw new CliError('You cannot attach to a restarting container, wait until it is running');
  return attachAndRun(client, {
    id: info.Id,
    tty: info.Config?.Tty ?? false,
    stdin: opts.stdin !== false && (info.Config?.OpenStdin ?? false),
    ...(opts.detachKeys ? { detachKeys: opts.detachKeys } : {}),
    sigProxy: opts.sigProxy !== false,
    waitCondition: info.HostConfig?.AutoRemove ? 'removed' : 'not-running',
    start: false,
  });
}

export interface ExecFlags {
  detach?: boolean;
  interactive?: boolean;
  tty?: boolean;
  env?: string[];
  workdir?: string;
  user?: string;
  privileged?: boolean;
  detachKeys?: string;
}

/** exec: create, then start hijacked (or detached), then the exit code from exec json. */
export async function exec(client: EngineClient, name: string, cmd: string[], f: ExecFlags, hostEnv: Record<string, string | undefined>): Promise<number> {
  const env = (f.env ?? []).flatMap((e) => (e.includes('=') ? [e] : hostEnv[e] !== undefined ? [`${e}=${hostEnv[e]}`] : []));
  const created = await client.json<{ Id: string }>('POST', `/containers/${encodeURIComponent(name)}/exec`, {
    body: {
      AttachStdin: !f.detach && (f.interactive ?? false),
      AttachStdout: !f.detach,
      AttachStderr: !f.detach,
      Tty: f.tty ?? false,
      Env: env,
      Cmd: cmd,
      Privileged: f.privileged ?? false,
      ...(f.user ? { User: f.user } : {}),
      ...(f.workdir ? { WorkingDir: f.workdir } : {}),
      ...(f.detachKeys ? { DetachKeys: f.detachKeys } : {}),
    },
  });
  const eid = encodeURIComponent(created.Id);
  if (f.detach) {
    await client.request('POST', `/exec/${eid}/start`, { body: { Detach: true, Tty: f.tty ?? false } });
    return 0;
  }
  const socket = await client.hijack('POST', `/exec/${eid}/start`, { body: { Detach: false, Tty: f.tty ?? false } });
  const { detached } = await pumpStreams({
    socket,
    tty: f.tty ?? false,
    stdin: f.interactive ?? false,
    ...(f.detachKeys ? { detachKeys: f.detachKeys } : {}),
    resize: async (h, w) => void (await client.request('POST', `/exec/${eid}/resize`, { query: { h, w } })),
  });
  if (detached) return 0;
  // The stream closes as the process exits; its exit code may take a moment to be recorded.
  for (let i = 0; ; i++) {
    const info = await client.json<{ ExitCode: number | null; Running?: boolean }>('GET', `/exec/${eid}/json`);
    if (!info.Running || i >= 100) return info.ExitCode ?? 0;
    await new Promise((r) => setTimeout(r, 20));
  }
}
