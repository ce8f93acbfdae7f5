/**
 * The plan of a container, from the Engine API's create body and the image config
 * (moby daemon/create.go: verify, merge): what create stores, and what each start hands
 * to wharf-init. Reuses `wharf run`'s rules (run-options.ts) for env, user and working dir.
 */
import { constants as osConstants } from 'node:os';
import type { ImageRecord } from '../images/store.js';
import type { CgroupLimits } from '../cgroups/driver.js';
import { badParameter } from '../daemon/errors.js';
import { mergeEnv, parseSize, workingDir } from './run-options.js';
import { resolveUser } from './user.js';
import type { Config, HostConfig, RestartPolicy } from './container.js';
import type { SpawnOptions } from '../native/spawn.js';
import { ALLOW_ALL_DEVICES, DOCKER_DEFAULT_DEVICE_RULES } from '../security/devices.js';
import { parseSecurityFlags, securityFlagsOfHostConfig, type SecurityPlan } from './security-options.js';
import { checkPortBindings, parsePortKey } from '../network/ports.js';
import type { Prepared } from '../network/endpoints.js';

/** Capabilities, seccomp and no-new-privileges of a HostConfig (security-options.ts, Docker's rules). */
export function securityOf(hc: Record<string, unknown>): SecurityPlan {
  try {
    return parseSecurityFlags(securityFlagsOfHostConfig(hc));
  } catch (e) {
    throw badParameter((e as Error).message);
  }
}

/** The create body (api/swagger.yaml ContainerCreateRequest), as far as we read it. */
export interface CreateBody {
  Hostname?: string;
  Domainname?: string;
  User?: string;
  AttachStdin?: boolean;
  AttachStdout?: boolean;
  AttachStderr?: boolean;
  Tty?: boolean;
  OpenStdin?: boolean;
  StdinOnce?: boolean;
  Env?: string[] | null;
  Cmd?: string[] | string | null;
  Entrypoint?: string[] | string | null;
  Image?: string;
  Labels?: Record<string, string> | null;
  WorkingDir?: string;
  StopSignal?: string;
  StopTimeout?: number | null;
  /** anonymous volumes (`-v /path`), besides the image's */
  Volumes?: Record<string, unknown> | null;
  ExposedPorts?: Record<string, unknown> | null;
  NetworkingConfig?: { EndpointsConfig?: Record<string, unknown> | null } | null;
  HostConfig?: Partial<HostConfig> & {
    Binds?: string[] | null;
    Mounts?: unknown[] | null;
    Tmpfs?: Record<string, string> | null;
    VolumesFrom?: string[] | null;
    Privileged?: boolean;
    CapAdd?: string[] | null;
    CapDrop?: string[] | null;
    SecurityOpt?: string[] | null;
    Devices?: unknown[] | null;
    PortBindings?: Record<string, unknown> | null;
    CpuPeriod?: number;
    CpuQuota?: number;
  };
}

const HOSTNAME = /^[A-Za-z0-9]([A-Za-z0-9.-]{0,62})$/;
export const CONTAINER_NAME = /^\/?[a-zA-Z0-9][a-zA-Z0-9_.-]+$/;

function strings(what: string, v: unknown): string[] | null {
  if (v === undefined || v === null) return null;
  if (typeof v === 'string') return [v];
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) throw badParameter(`${what} must be an array of strings`);
  return v as string[];
}

export function signalNumber(sig: string | number): number {
  if (typeof sig === 'number' || /^\d+$/.test(sig)) {
    const n = Number(sig);
    if (!Number.isInteger(n) || n <= 0 || n > 64) throw badParameter(`Invalid signal: ${sig}`);
    return n;
  }
  const name = sig.toUpperCase().startsWith('SIG') ? sig.toUpperCase() : `SIG${sig.toUpperCase()}`;
  const n = (osConstants.signals as Record<string, number>)[name];
  if (n === undefined) throw badParameter(`Invalid signal: ${sig}`);
  return n;
}

function restartPolicy(p: Partial<RestartPolicy> | undefined, autoRemove: boolean): RestartPolicy {
  const name = (p?.Name ?? '') as RestartPolicy['Name'];
  const max = p?.MaximumRetryCount ?? 0;
  if (!['', 'no', 'always', 'unless-stopped', 'on-failure'].includes(name)) throw badParameter(`invalid restart policy '${name}'`);
  if (!Number.isInteger(max) || max < 0) throw badParameter('maximum retry count cannot be negative');
  if (max > 0 && name !== 'on-failure') throw badParameter(`maximum retry count can only be used with 'on-failure'`);
  if (autoRemove && name !== '' && name !== 'no') throw badParameter(`can't create 'AutoRemove' container with restart policy`);
  return { Name: name, MaximumRetryCount: max };
}

export interface CreatePlan {
  config: Config;
  hostConfig: HostConfig;
  path: string;
  args: string[];
  warnings: string[];
}

/** Validates the create body against the image; refuses what this node cannot honour. */
export function planCreate(body: CreateBody, image: ImageRecord): CreatePlan {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw badParameter('the create body must be a JSON object');
  const img = image.config;
  const hc = body.HostConfig ?? {};
  const warnings: string[] = [];
  securityOf(hc); // CapAdd, CapDrop, Privileged, SecurityOpt, Devices: refused here when invalid
  if (hc.GroupAdd !== undefined && hc.GroupAdd !== null) {
    const ok = Array.isArray(hc.GroupAdd) && hc.GroupAdd.every((g) => typeof g === 'string' && g !== '' && !/[:\s\0]/.test(g));
    if (!ok) throw badParameter('GroupAdd must be an array of group names or gids');
  }
  let portBindings;
  try {
    portBindings = checkPortBindings(hc.PortBindings);
  } catch (e) {
    throw badParameter((e as Error).message);
  }
  // The network's name is checked against the daemon's networks at create (runtime/network/).
  let network = hc.NetworkMode ?? '';
  if (typeof network !== 'string') throw badParameter('NetworkMode must be a string');
  if (network === '' || network === 'default') network = 'bridge';
  if ((network === 'host' || network.startsWith('container:')) && Object.keys(portBindings).length > 0) {
    throw badParameter('conflicting options: port publishing and the container type network mode');
  }
  const exposed: Record<string, Record<string, never>> = {};
  for (const k of [...Object.keys(img.ExposedPorts ?? {}), ...Object.keys(body.ExposedPorts ?? {}), ...Object.keys(portBindings)]) {
    try {
      const [port, proto] = parsePortKey(k);
      exposed[`${port}/${proto}`] = {};
    } catch (e) {
      throw badParameter((e as Error).message);
    }
  }

  // merge(): the user's Entrypoint drops the image's Cmd; an empty one resets it.
  const userEntrypoint = strings('Entrypoint', body.Entrypoint);
  const userCmd = strings('Cmd', body.Cmd);
  let entrypoint: string[] | null;
  let cmd: string[] | null;
  if (userEntrypoint && userEntrypoint.length > 0) {
    entrypoint = userEntrypoint.length === 1 && userEntrypoint[0] === '' ? null : userEntrypoint;
    cmd = userCmd;
  } else {
    entrypoint = img.Entrypoint ?? null;
    cmd = userCmd && userCmd.length > 0 ? userCmd : (img.Cmd ?? null);
  }
  const argv = [...(entrypoint ?? []), ...(cmd ?? [])];
  if (argv.length === 0 || argv[0] === '') throw badParameter('No command specified');

  const env = strings('Env', body.Env) ?? [];
  for (const e of env) if (e.includes('\0') || e.startsWith('=') || e === '') throw badParameter(`invalid environment variable: ${e}`);
  if (body.Hostname !== undefined && body.Hostname !== '' && !HOSTNAME.test(body.Hostname)) throw badParameter(`invalid hostname format: ${body.Hostname}`);
  if (body.WorkingDir && !body.WorkingDir.startsWith('/')) throw badParameter(`the working directory '${body.WorkingDir}' is invalid, it needs to be an absolute path`);
  const stopSignal = body.StopSignal || img.StopSignal || 'SIGTERM';
  signalNumber(stopSignal);

  const logType = hc.LogConfig?.Type || 'json-file';
  if (logType !== 'json-file' && logType !== 'none') throw badParameter(`logging driver ${logType} is not supported on this node: use json-file or none`);
  const logConfig = hc.LogConfig?.Config ?? {};
  if (logConfig['max-size'] !== undefined) parseSize('max-size', logConfig['max-size']);
  if (logConfig['max-file'] !== undefined && !/^[1-9]\d*$/.test(logConfig['max-file'])) throw badParameter(`invalid value for max-file: ${logConfig['max-file']}`);

  const memory = hc.Memory ?? 0;
  if (memory !== 0 && memory < 6 * 1024 * 1024) throw badParameter('Minimum memory limit allowed is 6MB');
  const memorySwap = hc.MemorySwap ?? 0;
  if (memorySwap > 0 && memory > 0 && memorySwap < memory) throw badParameter('Minimum memoryswap limit should be larger than memory limit, see usage');
  if ((hc.NanoCpus ?? 0) < 0) throw badParameter('Range of CPUs is from 0.01 to the number of CPUs');
  if (hc.CpusetCpus && !/^\d+(-\d+)?(,\d+(-\d+)?)*$/.test(hc.CpusetCpus)) throw badParameter(`Invalid value ${hc.CpusetCpus} for cpuset cpus`);

  const autoRemove = hc.AutoRemove ?? false;
  const hostConfig: HostConfig = {
    ...hc,
    AutoRemove: autoRemove,
    RestartPolicy: restartPolicy(hc.RestartPolicy, autoRemove),
    NetworkMode: network,
    PortBindings: portBindings,
    PublishAllPorts: hc.PublishAllPorts === true,
    ReadonlyRootfs: hc.ReadonlyRootfs ?? false,
    Memory: memory,
    MemorySwap: memorySwap,
    NanoCpus: hc.NanoCpus ?? 0,
    CpuShares: hc.CpuShares ?? 0,
    CpusetCpus: hc.CpusetCpus ?? '',
    PidsLimit: hc.PidsLimit ?? null,
    LogConfig: { Type: logType, Config: logConfig },
  };
  const config: Config = {
    Hostname: body.Hostname ?? '',
    Domainname: body.Domainname ?? '',
    User: body.User || img.User || '',
    AttachStdin: body.AttachStdin ?? false,
    AttachStdout: body.AttachStdout ?? false,
    AttachStderr: body.AttachStderr ?? false,
    Tty: body.Tty ?? false,
    OpenStdin: body.OpenStdin ?? false,
    StdinOnce: body.StdinOnce ?? false,
    Env: [...(img.Env ?? []), ...env],
    Cmd: cmd,
    Entrypoint: entrypoint,
    Image: body.Image ?? image.reference,
    WorkingDir: body.WorkingDir || img.WorkingDir || '',
    Labels: { ...(img.Labels ?? {}), ...(body.Labels ?? {}) },
    StopSignal: stopSignal,
    Volumes: img.Volumes || body.Volumes ? { ...(img.Volumes ?? {}), ...(body.Volumes ?? {}) } : null,
    ...(Object.keys(exposed).length > 0 ? { ExposedPorts: exposed } : {}),
  };
  if (typeof body.StopTimeout === 'number') config.StopTimeout = body.StopTimeout;
  return { config, hostConfig, path: argv[0]!, args: argv.slice(1), warnings };
}

export function limitsOf(hc: HostConfig): CgroupLimits {
  const l: CgroupLimits = {};
  if (hc.Memory > 0) l.memoryBytes = hc.Memory;
  if (hc.MemorySwap !== 0 && hc.Memory > 0) l.memorySwapBytes = hc.MemorySwap;
  if (hc.NanoCpus > 0) l.cpus = hc.NanoCpus / 1e9;
  if (hc.CpuShares > 0) l.cpuShares = Math.min(Math.max(hc.CpuShares, 2), 262144);
  if (hc.CpusetCpus) l.cpusetCpus = hc.CpusetCpus;
  if (hc.PidsLimit !== null && hc.PidsLimit > 0) l.pidsLimit = hc.PidsLimit;
  l.devices = hc.Privileged === true ? ALLOW_ALL_DEVICES : DOCKER_DEFAULT_DEVICE_RULES;
  return l;
}

/** What wharf-init gets for one start, computed against the mounted rootfs. */
export async function planStart(
  rec: { id: string; path: string; args: string[]; config: Config; hostConfig: HostConfig },
  rootfs: string,
  net: Prepared = { binds: [] },
): Promise<Omit<SpawnOptions, 'stdio' | 'beforeStart'>> {
  const c = rec.config;
  const groupAdd = Array.isArray(rec.hostConfig.GroupAdd) ? (rec.hostConfig.GroupAdd as string[]) : [];
  const user = await resolveUser(rootfs, c.User || undefined, groupAdd).catch((e: Error) => {
    throw badParameter(e.message);
  });
  const hostname = c.Hostname || rec.id.slice(0, 12);
  const sec = securityOf(rec.hostConfig);
  // Env already holds the image's entries followed by the user's; mergeEnv adds PATH, HOSTNAME and HOME.
  const env = mergeEnv([], c.Env, hostname, user.home);
  return {
    rootfs,
    args: [rec.path, ...rec.args],
    env,
    cwd: workingDir({ WorkingDir: c.WorkingDir }, undefined),
    user: { uid: user.uid, gid: user.gid, additionalGids: user.additionalGids },
    hostname,
    namespaces: { net: rec.hostConfig.NetworkMode !== 'host' },
    ...(net.netns ? { netns: net.netns } : {}),
    binds: net.binds,
    readOnlyRootfs: rec.hostConfig.ReadonlyRootfs,
    noNewPrivileges: sec.noNewPrivileges,
    capabilities: sec.capabilities,
    seccomp: sec.seccomp,
    init: rec.hostConfig.Init === true,
    // --privileged: nothing masked or read-only, /sys writable (as Docker); its devices
    // (every host device) and --device nodes come from devicePlan, with the cgroup's rules.
    ...(sec.privileged ? { writableSys: true, maskedPaths: [], readonlyPaths: [] } : {}),
  };
}
