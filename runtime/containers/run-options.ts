/**
 * `wharf run` flags -> a validated plan, with Docker's rules. Pure functions, no I/O except
 * reading --env-file: everything a container start needs is computed here (and the user in
 * user.ts), before clone.
 *
 *   parseRunFlags(flags, env)       flag values -> RunFlags (sizes, cpus, env, network ...)
 *   commandLine(config, flags)      Entrypoint/Cmd with --entrypoint and trailing args
 *   mergeEnv(...)                   HOSTNAME, image Env, --env-file, -e; PATH and HOME defaults
 *   workingDir(config, flags)       -w, else image WorkingDir, else /
 */
import { readFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { posix } from 'node:path';
import type { CgroupLimits } from '../cgroups/driver.js';
import type { ContainerConfig } from '../../oci/image.js';
import { parseAddHost, type DnsFlags, type ExtraHost } from './etc-files.js';
import { parseSecurityFlags, SecurityOptionsError, type RawSecurityFlags, type SecurityPlan } from './security-options.js';

/** A user error in the flags or the image: `wharf run` exits 125 with the message. */
export class RunOptionsError extends Error {
  override name = 'RunOptionsError';
}

export type NetworkMode = 'none' | 'host';

/** What the commander action hands over: raw strings, as typed by the user. */
export interface RawRunFlags extends RawSecurityFlags {
  rm?: boolean;
  name?: string;
  env?: string[];
  envFile?: string[];
  hostname?: string;
  workdir?: string;
  user?: string;
  entrypoint?: string;
  memory?: string;
  memorySwap?: string;
  cpus?: string;
  cpuShares?: string;
  cpusetCpus?: string;
  pidsLimit?: string;
  network?: string;
  readOnly?: boolean;
  interactive?: boolean;
  cidfile?: string;
  groupAdd?: string[];
  dns?: string[];
  dnsSearch?: string[];
  dnsOption?: string[];
  addHost?: string[];
  init?: boolean;
}

export interface RunFlags {
  rm: boolean;
  name?: string;
  /** -e and --env-file entries, in order (--env-file first, like Docker), each KEY=value. */
  env: string[];
  hostname?: string;
  workdir?: string;
  user?: string;
  /** undefined: keep the image's; '' resets it. */
  entrypoint?: string;
  limits: CgroupLimits;
  network: NetworkMode;
  readOnly: boolean;
  interactive: boolean;
  cidfile?: string;
  /** --group-add entries as given (names are looked up in the image's /etc/group) */
  groupAdd: string[];
  dns: DnsFlags;
  addHosts: ExtraHost[];
  /** --init: a tiny init as PID 1 forwards signals to the program and reaps zombies. */
  init: boolean;
  /** --cap-add/--cap-drop, --privileged, --security-opt, --device (security-options.ts). Unset: Docker's defaults. */
  security?: SecurityPlan;
}

const NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}$/;
const HOSTNAME = /^[A-Za-z0-9]([A-Za-z0-9.-]{0,62})$/;
const ENV_KEY = /^[^=\0]+$/;

const UNITS: Record<string, number> = { b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4, p: 1024 ** 5 };

/** Docker's RAMInBytes: "32m", "1g", "512MiB", "1.5GB", "1048576" (bytes). Binary units. */
export function parseSize(what: string, s: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([kmgtp]?)(?:i?b)?\s*$/i.exec(s) ?? /^\s*(\d+(?:\.\d+)?)\s*(b)\s*$/i.exec(s);
  if (!m) throw new RunOptionsError(`invalid size for ${what}: "${s}" (use e.g. 512k, 32m, 1g)`);
  const unit = UNITS[(m[2] || 'b').toLowerCase()]!;
  const n = Math.floor(Number(m[1]) * unit);
  if (!Number.isSafeInteger(n)) throw new RunOptionsError(`${what} is too large: "${s}"`);
  return n;
}

function parseInteger(what: string, s: string): number {
  if (!/^-?\d+$/.test(s.trim())) throw new RunOptionsError(`invalid value for ${what}: "${s}" (an integer)`);
  return Number(s.trim());
}

/** One env entry from -e or --env-file: KEY=value as is; a bare KEY takes the host's value (skipped when unset). */
function envEntry(what: string, s: string, hostEnv: Record<string, string | undefined>): string | undefined {
  const eq = s.indexOf('=');
  const key = eq < 0 ? s : s.slice(0, eq);
  if (!ENV_KEY.test(key) || /\s/.test(key)) throw new RunOptionsError(`invalid ${what} "${s}": expected KEY=value or KEY`);
  if (s.includes('\0')) throw new RunOptionsError(`invalid ${what} "${s}": contains a NUL byte`);
  if (eq >= 0) return s;
  const host = hostEnv[key];
  return host === undefined ? undefined : `${key}=${host}`;
}

/** Docker's env-file format: one KEY=value or KEY per line; blank lines and lines starting with # are skipped. */
export async function readEnvFile(path: string, hostEnv: Record<string, string | undefined>): Promise<string[]> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    throw new RunOptionsError(`cannot read --env-file ${path}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
  }
  const out: string[] = [];
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.replace(/^\s+/, '');
    if (line === '' || line.startsWith('#')) continue;
    const e = envEntry(`line in ${path}`, line, hostEnv);
    if (e !== undefined) out.push(e);
  }
  return out;
}

/**
 * Validates every flag; --env-file is read here. Host values (for bare -e KEY) come from hostEnv.
 * `planSecurity: false` (the client verbs, which send the flags to a daemon that plans the
 * container's security itself): with no security flag given, `security` stays unset instead
 * of reading and compiling Docker's default seccomp profile for nothing.
 */
export async function parseRunFlags(raw: RawRunFlags, hostEnv: Record<string, string | undefined>, hostCpus: number, opts: { planSecurity?: boolean } = {}): Promise<RunFlags> {
  const flags: RunFlags = {
    rm: raw.rm ?? false,
    env: [],
    limits: {},
    network: 'none',
    readOnly: raw.readOnly ?? false,
    interactive: raw.interactive ?? false,
    groupAdd: [],
    dns: { servers: [], search: [], options: [] },
    addHosts: [],
    init: raw.init ?? false,
  };
  if (raw.name !== undefined) {
    if (!NAME.test(raw.name)) throw new RunOptionsError(`invalid container name "${raw.name}": only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`);
    flags.name = raw.name;
  }
  for (const f of raw.envFile ?? []) flags.env.push(...(await readEnvFile(f, hostEnv)));
  for (const e of raw.env ?? []) {
    const entry = envEntry('-e', e, hostEnv);
    if (entry !== undefined) flags.env.push(entry);
  }
  if (raw.hostname !== undefined) {
    if (!HOSTNAME.test(raw.hostname)) throw new RunOptionsError(`invalid hostname "${raw.hostname}"`);
    flags.hostname = raw.hostname;
  }
  if (raw.workdir !== undefined) {
    if (!raw.workdir.startsWith('/')) throw new RunOptionsError(`the working directory "${raw.workdir}" is invalid, it needs to be an absolute path`);
    flags.workdir = posix.normalize(raw.workdir);
  }
  if (raw.user !== undefined) {
    if (raw.user === '' || raw.user.includes('\0')) throw new RunOptionsError('invalid --user ""');
    flags.user = raw.user;
  }
  for (const g of raw.groupAdd ?? []) {
    if (g === '' || g.includes(':') || g.includes('\0') || /\s/.test(g)) throw new RunOptionsError(`invalid --group-add "${g}": a group name or gid`);
    flags.groupAdd.push(g);
  }
  for (const ns of raw.dns ?? []) {
    if (isIP(ns) === 0) throw new RunOptionsError(`${ns} is not an ip address (--dns)`);
    flags.dns.servers.push(ns);
  }
  for (const d of raw.dnsSearch ?? []) {
    if (d !== '.' && !/^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?\.?$/.test(d)) throw new RunOptionsError(`${d} is not a valid domain (--dns-search)`);
    flags.dns.search.push(d);
  }
  for (const o of raw.dnsOption ?? []) {
    if (o === '' || /\s/.test(o)) throw new RunOptionsError(`invalid --dns-option "${o}"`);
    flags.dns.options.push(o);
  }
  for (const h of raw.addHost ?? []) {
    const host = parseAddHost(h);
    if (!host) throw new RunOptionsError(`invalid argument "${h}" for "--add-host" flag: expected host:ip`);
    flags.addHosts.push(host);
  }
  if (raw.entrypoint !== undefined) flags.entrypoint = raw.entrypoint;
  if (raw.cidfile !== undefined) flags.cidfile = raw.cidfile;

  const l = flags.limits;
  if (raw.memory !== undefined) {
    l.memoryBytes = parseSize('--memory', raw.memory);
    if (l.memoryBytes < 6 * 1024 * 1024) throw new RunOptionsError('minimum memory limit allowed is 6MB');
  }
  if (raw.memorySwap !== undefined) {
    l.memorySwapBytes = raw.memorySwap.trim() === '-1' ? -1 : parseSize('--memory-swap', raw.memorySwap);
    if (l.memoryBytes === undefined) throw new RunOptionsError('you should always set the memory limit when using the memory swap limit, see usage');
    if (l.memorySwapBytes !== -1 && l.memorySwapBytes < l.memoryBytes) {
      throw new RunOptionsError('minimum memoryswap limit should be larger than memory limit, see usage');
    }
  }
  if (raw.cpus !== undefined) {
    const n = Number(raw.cpus);
    if (!/^\s*\d*\.?\d+\s*$/.test(raw.cpus) || !Number.isFinite(n)) throw new RunOptionsError(`invalid value for --cpus: "${raw.cpus}"`);
    if (n !== 0) {
      if (n < 0.01 || n > hostCpus) throw new RunOptionsError(`range of CPUs is from 0.01 to ${hostCpus.toFixed(2)}, as there are only ${hostCpus} CPUs available`);
      l.cpus = n;
    }
  }
  if (raw.cpuShares !== undefined) {
    const n = parseInteger('--cpu-shares', raw.cpuShares);
    if (n < 0) throw new RunOptionsError('--cpu-shares must not be negative');
    // Docker: 0 means the default; the kernel's minimum is 2, its maximum 262144.
    if (n !== 0) l.cpuShares = Math.min(Math.max(n, 2), 262144);
  }
  if (raw.cpusetCpus !== undefined) {
    const s = raw.cpusetCpus.trim();
    if (!/^\d+(-\d+)?(,\d+(-\d+)?)*$/.test(s)) throw new RunOptionsError(`invalid value for --cpuset-cpus: "${raw.cpusetCpus}" (e.g. 0-1 or 0,1)`);
    for (const part of s.split(',')) {
      const [a, b] = part.split('-').map(Number) as [number, number | undefined];
      if ((b !== undefined && b < a) || Math.max(a, b ?? a) >= hostCpus) {
        throw new RunOptionsError(`requested CPUs are not available: --cpuset-cpus ${s} (this node has 0-${hostCpus - 1})`);
      }
    }
    l.cpusetCpus = s;
  }
  if (raw.pidsLimit !== undefined) {
    const n = parseInteger('--pids-limit', raw.pidsLimit);
    if (n < -1) throw new RunOptionsError('--pids-limit must be -1 (unlimited), 0 (unlimited) or positive');
    if (n > 0) l.pidsLimit = n;
  }
  switch (raw.network ?? 'none') {
    case 'none':
      flags.network = 'none';
      break;
    case 'host':
      flags.network = 'host';
      break;
    case 'bridge':
    case 'default':
      throw new RunOptionsError('--network bridge is not supported yet on this node: use --network none or --network host');
    default:
      throw new RunOptionsError(`unknown network "${raw.network}": use none or host`);
  }
  const securityFlags = raw.privileged || raw.capAdd?.length || raw.capDrop?.length || raw.securityOpt?.length || raw.device?.length;
  if (!securityFlags && opts.planSecurity === false) return flags;
  try {
    flags.security = parseSecurityFlags(raw);
  } catch (e) {
    if (e instanceof SecurityOptionsError) throw new RunOptionsError(e.message, { cause: e });
    throw e;
  }
  return flags;
}

/**
 * Docker's command line: --entrypoint replaces the image's Entrypoint and drops its Cmd
 * (an empty --entrypoint resets to none); trailing args replace Cmd.
 */
export function commandLine(config: ContainerConfig, entrypoint: string | undefined, args: string[]): string[] {
  let ep: string[];
  let cmd: string[];
  if (entrypoint !== undefined) {
    ep = entrypoint === '' ? [] : [entrypoint];
    cmd = args;
  } else {
    ep = config.Entrypoint ?? [];
    cmd = args.length > 0 ? args : (config.Cmd ?? []);
  }
  const argv = [...ep, ...cmd];
  if (argv.length === 0 || argv[0] === '') throw new RunOptionsError('no command specified: the image has no Entrypoint or Cmd, give one after the image name');
  return argv;
}

export const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

const keyOf = (kv: string): string => kv.slice(0, kv.indexOf('=') < 0 ? kv.length : kv.indexOf('='));

/**
 * The container's environment, as Docker builds it: PATH (default when the image has none),
 * HOSTNAME, the image's Env, then the user's entries (later wins, first position kept),
 * and HOME from the user's passwd entry unless set.
 */
export function mergeEnv(imageEnv: readonly string[] | null | undefined, userEnv: readonly string[], hostname: string, home: string): string[] {
  const env = new Map<string, string>();
  env.set('PATH', `PATH=${DEFAULT_PATH}`);
  env.set('HOSTNAME', `HOSTNAME=${hostname}`);
  for (const kv of [...(imageEnv ?? []), ...userEnv]) {
    if (kv.indexOf('=') <= 0) continue;
    env.set(keyOf(kv), kv);
  }
  if (!env.has('HOME')) env.set('HOME', `HOME=${home}`);
  return [...env.values()];
}

/** -w, else the image's WorkingDir (relative ones are taken from /), else /. */
export function workingDir(config: ContainerConfig, flag: string | undefined): string {
  if (flag !== undefined) return flag;
  const wd = config.WorkingDir;
  if (!wd) return '/';
  return posix.normalize(posix.join('/', wd));
}
