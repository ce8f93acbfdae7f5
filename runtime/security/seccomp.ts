/**
 * Seccomp profiles in Docker's JSON format (seccomp-default.json beside this file is
 * moby's profiles/seccomp/default.json, the same policy as data), evaluated for one
 * container the way moby's setupSeccomp does:
 *
 *   architectures   the archMap entry of this machine's arch (x86_64: + x86, x32), or the
 *                   profile's "architectures" list
 *   syscalls        each rule kept or dropped by its includes/excludes: arches (Go's
 *                   names: amd64, arm64 ...), caps (against the bounding set), minKernel
 *   actions         defaultAction + defaultErrnoRet; a rule's errnoRet (EPERM if unset)
 *
 * The result is a compact list the init helper (runtime/native/init/seccomp.c) turns
 * into a libseccomp filter:
 *   seccomp       "<action> <errno>"                  the default action
 *   seccomp_arch  "<libseccomp arch name>"            repeated
 *   seccomp_rule  "<action> <errno> <nconds> [<index> <op> <value> <valueTwo>]... <name>..."
 * Rules whose action is the default action are left out (libseccomp refuses them).
 * Compiled profiles are cached per (profile, capability set): a start pays nothing.
 */
import { readFileSync } from 'node:fs';
import { release } from 'node:os';
import { capabilityNames } from './capabilities.js';

export interface SeccompArg {
  index: number;
  value: number;
  valueTwo?: number;
  op: string;
}

export interface SeccompFilter {
  caps?: string[];
  arches?: string[];
  minKernel?: string;
}

export interface SeccompSyscall {
  name?: string;
  names?: string[];
  action: string;
  errnoRet?: number;
  args?: SeccompArg[] | null;
  comment?: string;
  includes?: SeccompFilter;
  excludes?: SeccompFilter;
}

/** Docker's profile format (moby profiles/seccomp/seccomp.go). */
export interface SeccompProfile {
  defaultAction: string;
  defaultErrnoRet?: number;
  architectures?: string[];
  archMap?: { architecture: string; subArchitectures: string[] | null }[];
  flags?: string[];
  syscalls?: SeccompSyscall[];
}

/** What the helper's spec carries (see the header). */
export interface CompiledSeccomp {
  defaultAction: string;
  arches: string[];
  rules: string[];
}

export class SeccompProfileError extends Error {
  override name = 'SeccompProfileError';
}

const EPERM = 1;

/** SCMP_ACT_* -> the helper's word; NOTIFY needs a listener we do not have. */
const ACTIONS: Record<string, string> = {
  SCMP_ACT_KILL: 'kill',
  SCMP_ACT_KILL_THREAD: 'kill',
  SCMP_ACT_KILL_PROCESS: 'kill_process',
  SCMP_ACT_TRAP: 'trap',
  SCMP_ACT_ERRNO: 'errno',
  SCMP_ACT_TRACE: 'trace',
  SCMP_ACT_ALLOW: 'allow',
  SCMP_ACT_LOG: 'log',
};

const OPS: Record<string, string> = {
  SCMP_CMP_NE: 'ne',
  SCMP_CMP_LT: 'lt',
  SCMP_CMP_LE: 'le',
  SCMP_CMP_EQ: 'eq',
  SCMP_CMP_GE: 'ge',
  SCMP_CMP_GT: 'gt',
  SCMP_CMP_MASKED_EQ: 'me',
};

/** SCMP_ARCH_* -> libseccomp's arch name (seccomp_arch_resolve_name). */
const ARCHES: Record<string, string> = {
  SCMP_ARCH_X86: 'x86',
  SCMP_ARCH_X86_64: 'x86_64',
  SCMP_ARCH_X32: 'x32',
  SCMP_ARCH_ARM: 'arm',
  SCMP_ARCH_AARCH64: 'aarch64',
  SCMP_ARCH_MIPS: 'mips',
  SCMP_ARCH_MIPS64: 'mips64',
  SCMP_ARCH_MIPS64N32: 'mips64n32',
  SCMP_ARCH_MIPSEL: 'mipsel',
  SCMP_ARCH_MIPSEL64: 'mipsel64',
  SCMP_ARCH_MIPSEL64N32: 'mipsel64n32',
  SCMP_ARCH_PPC: 'ppc',
  SCMP_ARCH_PPC64: 'ppc64',
  SCMP_ARCH_PPC64LE: 'ppc64le',
  SCMP_ARCH_S390: 's390',
  SCMP_ARCH_S390X: 's390x',
  SCMP_ARCH_RISCV64: 'riscv64',
  SCMP_ARCH_LOONGARCH64: 'loongarch64',
};

/** Node's process.arch -> (Go's name used in includes/excludes, the native SCMP_ARCH_*). */
const NODE_ARCH: Record<string, [string, string]> = {
  x64: ['amd64', 'SCMP_ARCH_X86_64'],
  ia32: ['x86', 'SCMP_ARCH_X86'],
  arm64: ['arm64', 'SCMP_ARCH_AARCH64'],
  arm: ['arm', 'SCMP_ARCH_ARM'],
  s390x: ['s390x', 'SCMP_ARCH_S390X'],
  ppc64: ['ppc64le', 'SCMP_ARCH_PPC64LE'],
  riscv64: ['riscv64', 'SCMP_ARCH_RISCV64'],
  loong64: ['loong64', 'SCMP_ARCH_LOONGARCH64'],
};

export interface CompileContext {
  /** Bounding set of the container. */
  capabilities: bigint;
  /** Node's process.arch. Default this machine's. */
  arch?: string;
  /** Kernel release, e.g. "6.1.0-18-amd64". Default this machine's. */
  kernel?: string;
}

function kernelAtLeast(kernel: string, min: string): boolean {
  const want = /^(\d+)\.(\d+)$/.exec(min);
  if (!want) throw new SeccompProfileError(`invalid minKernel "${min}", expected "<kernel>.<major>"`);
  const have = /^(\d+)\.(\d+)/.exec(kernel);
  if (!have) return false;
  const [hk, hm, wk, wm] = [have[1], have[2], want[1], want[2]].map(Number) as [number, number, number, number];
  return hk > wk || (hk === wk && hm >= wm);
}

function uint(what: string, n: unknown, max: number): number {
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 0 || n > max) throw new SeccompProfileError(`${what} must be an integer in 0..${max}`);
  return n;
}

function action(what: string, name: unknown, errnoRet: unknown, fallbackErrno: number): [string, number] {
  if (typeof name !== 'string' || !(name in ACTIONS)) {
    throw new SeccompProfileError(`${what}: unsupported action ${JSON.stringify(name)} (use ${Object.keys(ACTIONS).join(', ')})`);
  }
  const word = ACTIONS[name]!;
  if (word === 'errno' || word === 'trace') return [word, errnoRet === undefined || errnoRet === null ? fallbackErrno : uint(`${what}.errnoRet`, errnoRet, 0xffff)];
  return [word, 0];
}

/** The runtime-spec's linux.seccomp: what moby's setupSeccomp hands runc or crun. */
export interface RuntimeSpecSeccomp {
  defaultAction: string;
  defaultErrnoRet?: number;
  architectures: string[];
  syscalls: { names: string[]; action: string; errnoRet?: number; args?: SeccompArg[] }[];
}

/**
 * moby's setupSeccomp: the architectures of this machine, the rules that this container's
 * arch, capabilities and kernel keep, every action and operator checked. Throws
 * SeccompProfileError on a malformed profile.
 */
export function runtimeSpecSeccomp(profile: SeccompProfile, ctx: CompileContext): RuntimeSpecSeccomp {
  if (typeof profile !== 'object' || profile === null || Array.isArray(profile)) throw new SeccompProfileError('a seccomp profile must be a JSON object');
  const [goArch, nativeArch] = NODE_ARCH[ctx.arch ?? process.arch] ?? [ctx.arch ?? process.arch, ''];
  const kernel = ctx.kernel ?? release();
  const bounding = capabilityNames(ctx.capabilities);
  if (profile.flags !== undefined && profile.flags !== null && (!Array.isArray(profile.flags) || profile.flags.length > 0)) {
    throw new SeccompProfileError('seccomp profile "flags" are not supported');
  }
  if (profile.architectures?.length && profile.archMap?.length) {
    throw new SeccompProfileError("both 'architectures' and 'archMap' are specified in the seccomp profile, use either 'architectures' or 'archMap'");
  }
  const architectures: string[] = [];
  if (Array.isArray(profile.architectures)) architectures.push(...profile.architectures);
  for (const a of profile.archMap ?? []) {
    if (a.architecture === nativeArch) {
      architectures.push(a.architecture, ...(a.subArchitectures ?? []));
      break;
    }
  }
  for (const a of architectures) if (!ARCHES[a]) throw new SeccompProfileError(`unknown architecture ${JSON.stringify(a)}`);
  action('defaultAction', profile.defaultAction, profile.defaultErrnoRet, EPERM);
  const out: RuntimeSpecSeccomp = { defaultAction: profile.defaultAction, architectures, syscalls: [] };
  if (profile.defaultErrnoRet !== undefined) out.defaultErrnoRet = profile.defaultErrnoRet;
  const syscalls = profile.syscalls ?? [];
  if (!Array.isArray(syscalls)) throw new SeccompProfileError('"syscalls" must be an array');
  syscalls.forEach((call, i) => {
    const what = `syscalls[${i}]`;
    if (typeof call !== 'object' || call === null) throw new SeccompProfileError(`${what} must be an object`);
    if (call.name && call.names?.length) throw new SeccompProfileError("both 'name' and 'names' are specified in the seccomp profile, use either 'name' or 'names'");
    const names = call.name ? [call.name] : (call.names ?? []);
    for (const n of names) if (typeof n !== 'string' || !/^[a-z0-9_]+$/.test(n)) throw new SeccompProfileError(`${what}: invalid syscall name ${JSON.stringify(n)}`);
    const ex = call.excludes;
    if (ex) {
      if (ex.arches?.includes(goArch)) return;
      if (ex.caps?.some((c) => bounding.includes(c))) return;
      if (ex.minKernel && kernelAtLeast(kernel, ex.minKernel)) return;
    }
    const inc = call.includes;
    if (inc) {
      if (inc.arches?.length && !inc.arches.includes(goArch)) return;
      if (inc.caps?.length && !inc.caps.every((c) => bounding.includes(c))) return;
      if (inc.minKernel && !kernelAtLeast(kernel, inc.minKernel)) return;
    }
    action(what, call.action, call.errnoRet, EPERM);
    const args = (call.args ?? []).map((a, j) => {
      if (!OPS[a.op]) throw new SeccompProfileError(`${what}.args[${j}]: unknown op ${JSON.stringify(a.op)}`);
      const arg: SeccompArg = {
        index: uint(`${what}.args[${j}].index`, a.index, 5),
        value: uint(`${what}.args[${j}].value`, a.value, Number.MAX_SAFE_INTEGER),
        op: a.op,
      };
      if (a.valueTwo !== undefined) arg.valueTwo = uint(`${what}.args[${j}].valueTwo`, a.valueTwo, Number.MAX_SAFE_INTEGER);
      return arg;
    });
    const rule: RuntimeSpecSeccomp['syscalls'][number] = { names, action: call.action };
    if (call.errnoRet !== undefined && call.errnoRet !== null) rule.errnoRet = call.errnoRet;
    if (args.length > 0) rule.args = args;
    out.syscalls.push(rule);
  });
  return out;
}

/** runtimeSpecSeccomp, then the compact list (see the header). */
export function compileSeccomp(profile: SeccompProfile, ctx: CompileContext): CompiledSeccomp {
  const spec = runtimeSpecSeccomp(profile, ctx);
  const arches = spec.architectures.map((a) => ARCHES[a]!);
  const [defaultAction, defaultErrno] = action('defaultAction', spec.defaultAction, spec.defaultErrnoRet, EPERM);
  const rules: string[] = [];
  for (const call of spec.syscalls) {
    const [act, errno] = action('', call.action, call.errnoRet, EPERM);
    if ((act === defaultAction && errno === defaultErrno) || call.names.length === 0) continue;
    const conds = (call.args ?? []).map((a) => `${a.index} ${OPS[a.op]} ${a.value} ${a.valueTwo ?? 0}`);
    rules.push([act, errno, conds.length, ...conds, ...call.names].join(' '));
  }
  return { defaultAction: `${defaultAction} ${defaultErrno}`, arches, rules };
}

/** Parses a profile file (Docker's format) for --security-opt seccomp=<file>. */
export function readSeccompProfile(path: string): SeccompProfile {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new SeccompProfileError(`opening seccomp profile (${path}) failed: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
  }
  return parseSeccompProfile(text, path);
}

/** A profile's JSON text (the Engine API's SecurityOpt "seccomp=<json>"). */
export function parseSeccompProfile(text: string, source = 'inline'): SeccompProfile {
  try {
    return JSON.parse(text) as SeccompProfile;
  } catch (e) {
    throw new SeccompProfileError(`decoding seccomp profile (${source}) failed: ${(e as Error).message}`);
  }
}

let defaultProfile: SeccompProfile | undefined;
/** Docker's default profile (runtime/security/seccomp-default.json), read once. */
export function dockerDefaultProfile(): SeccompProfile {
  // dist/runtime/security/seccomp.js -> <package root>/runtime/security/seccomp-default.json
  defaultProfile ??= JSON.parse(readFileSync(new URL('../../../runtime/security/seccomp-default.json', import.meta.url), 'utf8')) as SeccompProfile;
  return defaultProfile;
}

const compiled = new WeakMap<SeccompProfile, Map<bigint, CompiledSeccomp>>();
/** compileSeccomp, cached per profile object and capability set (this machine's arch and kernel). */
export function compileSeccompCached(profile: SeccompProfile, capabilities: bigint): CompiledSeccomp {
  let byCaps = compiled.get(profile);
  if (!byCaps) compiled.set(profile, (byCaps = new Map()));
  let c = byCaps.get(capabilities);
  if (!c) byCaps.set(capabilities, (c = compileSeccomp(profile, { capabilities })));
  return c;
}
