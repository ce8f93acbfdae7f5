/**
 * `wharf run`'s security flags -> the container's security plan, with Docker's rules:
 *
 *   --cap-add/--cap-drop   names with or without CAP_, any case, ALL (TweakCapabilities)
 *   --privileged           every capability, no seccomp, no masked or read-only paths,
 *                          /sys read-write, every device allowed and present in /dev
 *   --security-opt         seccomp=unconfined|builtin|<profile.json>, no-new-privileges[=bool]
 *                          (also the old "key:value" spelling)
 *   --device               HOST[:CONTAINER][:rwm]: the node in the container and its rule
 *
 * The seccomp profile is compiled here, for the final capability set (the bounding set
 * decides which of the profile's rules apply), and cached per process.
 */
import { capabilityMask, CapabilityError, tweakCapabilities } from '../security/capabilities.js';
import {
  compileSeccomp,
  compileSeccompCached,
  dockerDefaultProfile,
  parseSeccompProfile,
  readSeccompProfile,
  SeccompProfileError,
  type CompiledSeccomp,
} from '../security/seccomp.js';
import {
  ALLOW_ALL_DEVICES,
  deviceFromHost,
  DeviceError,
  DOCKER_DEFAULT_DEVICE_RULES,
  hostDevices,
  parseDeviceFlag,
  type DeviceMapping,
  type DeviceNode,
  type DeviceRule,
} from '../security/devices.js';

export interface RawSecurityFlags {
  capAdd?: string[];
  capDrop?: string[];
  securityOpt?: string[];
  privileged?: boolean;
  device?: string[];
}

export interface SecurityPlan {
  privileged: boolean;
  /** bounding = permitted = effective for root (bigint mask). */
  capabilities: bigint;
  noNewPrivileges: boolean;
  /** null: unconfined */
  seccomp: CompiledSeccomp | null;
  devices: DeviceMapping[];
}

export class SecurityOptionsError extends Error {
  override name = 'SecurityOptionsError';
}

function bool(opt: string, v: string): boolean {
  if (v === 'true' || v === '1') return true;
  if (v === 'false' || v === '0') return false;
  throw new SecurityOptionsError(`invalid --security-opt ${opt}: expected true or false`);
}

export function parseSecurityFlags(raw: RawSecurityFlags): SecurityPlan {
  const privileged = raw.privileged ?? false;
  let caps: bigint;
  try {
    caps = capabilityMask(tweakCapabilities({ add: raw.capAdd ?? [], drop: raw.capDrop ?? [], privileged }));
  } catch (e) {
    if (e instanceof CapabilityError) throw new SecurityOptionsError(e.message, { cause: e });
    throw e;
  }
  let noNewPrivileges = false;
  let seccompOpt: string | undefined;
  for (const opt of raw.securityOpt ?? []) {
    let eq = opt.indexOf('=');
    if (eq < 0) eq = opt.indexOf(':'); // Docker's deprecated "key:value"
    const key = eq < 0 ? opt : opt.slice(0, eq);
    const value = eq < 0 ? undefined : opt.slice(eq + 1);
    if (key === 'no-new-privileges') noNewPrivileges = value === undefined ? true : bool(opt, value);
    else if (key === 'seccomp' && value) seccompOpt = value;
    else throw new SecurityOptionsError(`invalid --security-opt: "${opt}" (supported: seccomp=unconfined|builtin|<profile.json>, no-new-privileges)`);
  }
  let seccomp: CompiledSeccomp | null;
  if (privileged || seccompOpt === 'unconfined') seccomp = null;
  else if (seccompOpt === undefined || seccompOpt === 'builtin') seccomp = compileSeccompCached(dockerDefaultProfile(), caps);
  else {
    try {
      // The Engine API carries the profile itself (the docker CLI reads the file); the CLI a path.
      const profile = seccompOpt.trimStart().startsWith('{') ? parseSeccompProfile(seccompOpt) : readSeccompProfile(seccompOpt);
      seccomp = compileSeccomp(profile, { capabilities: caps });
    } catch (e) {
      if (e instanceof SeccompProfileError) throw new SecurityOptionsError(e.message, { cause: e });
      throw e;
    }
  }
  let devices: DeviceMapping[];
  try {
    devices = (raw.device ?? []).map(parseDeviceFlag);
  } catch (e) {
    if (e instanceof DeviceError) throw new SecurityOptionsError(e.message, { cause: e });
    throw e;
  }
  return { privileged, capabilities: caps, noNewPrivileges, seccomp, devices };
}

/** The same flags from an Engine API HostConfig (CapAdd, CapDrop, Privileged, SecurityOpt). */
export function securityFlagsOfHostConfig(hc: { CapAdd?: unknown; CapDrop?: unknown; Privileged?: unknown; SecurityOpt?: unknown; Devices?: unknown }): RawSecurityFlags {
  const list = (what: string, v: unknown): string[] => {
    if (v === undefined || v === null) return [];
    if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) throw new SecurityOptionsError(`${what} must be an array of strings`);
    return v as string[];
  };
  if (hc.Privileged !== undefined && typeof hc.Privileged !== 'boolean') throw new SecurityOptionsError('Privileged must be a boolean');
  return {
    capAdd: list('CapAdd', hc.CapAdd),
    capDrop: list('CapDrop', hc.CapDrop),
    securityOpt: list('SecurityOpt', hc.SecurityOpt),
    privileged: hc.Privileged === true,
    device: devicesOfHostConfig(hc.Devices),
  };
}

/** HostConfig.Devices ([{PathOnHost, PathInContainer, CgroupPermissions}]) as --device values. */
function devicesOfHostConfig(v: unknown): string[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw new SecurityOptionsError('Devices must be an array');
  return v.map((d: unknown) => {
    const m = d as { PathOnHost?: unknown; PathInContainer?: unknown; CgroupPermissions?: unknown } | null;
    const str = (x: unknown) => (x === undefined || x === null ? '' : typeof x === 'string' ? x : undefined);
    const host = str(m?.PathOnHost);
    const inside = str(m?.PathInContainer);
    const perms = str(m?.CgroupPermissions);
    if (typeof m !== 'object' || m === null || host === undefined || inside === undefined || perms === undefined) throw new SecurityOptionsError('Devices entries must be {PathOnHost, PathInContainer, CgroupPermissions} strings');
    if ([host, inside].some((p) => p.includes(':'))) throw new SecurityOptionsError(`invalid device specification: ${host}:${inside}`);
    return `${host}:${inside || host}:${perms || 'rwm'}`;
  });
}

/** Docker's defaults: what a container gets without security flags. */
export function defaultSecurityPlan(): SecurityPlan {
  return parseSecurityFlags({});
}

/** The device nodes to create and the devices cgroup rules (reads the host's nodes). */
export async function devicePlan(plan: SecurityPlan): Promise<{ nodes: DeviceNode[]; rules: readonly DeviceRule[] }> {
  const nodes: DeviceNode[] = plan.privileged ? await hostDevices() : [];
  if (plan.devices.length === 0) return { nodes, rules: plan.privileged ? ALLOW_ALL_DEVICES : DOCKER_DEFAULT_DEVICE_RULES };
  const rules: DeviceRule[] = [...(plan.privileged ? ALLOW_ALL_DEVICES : DOCKER_DEFAULT_DEVICE_RULES)];
  for (const m of plan.devices) {
    let d;
    try {
      d = await deviceFromHost(m);
    } catch (e) {
      if (e instanceof DeviceError) throw new SecurityOptionsError(e.message, { cause: e });
      throw e;
    }
    nodes.push(d.node);
    rules.push(d.rule);
  }
  return { nodes, rules };
}
