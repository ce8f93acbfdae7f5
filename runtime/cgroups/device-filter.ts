/**
 * cgroup v2 has no devices.allow: device access is decided by a BPF_PROG_TYPE_CGROUP_DEVICE
 * program attached to the cgroup (what runc's devicefilter generates). This builds that
 * program from the same DeviceRule list v1 writes to devices.allow/deny.
 *
 * Semantics, as v1's: an "a" rule resets everything before it (deny: default deny,
 * allow: default allow); after it, the last matching rule wins. An allow rule matches
 * when the requested access is a subset of its access, a deny rule when they overlap.
 *
 * Program shape (r1 = struct bpf_cgroup_dev_ctx *):
 *   r2 = ctx->access_type & 0xffff   (type: 1 block, 2 char)
 *   r3 = ctx->access_type >> 16      (access: 1 mknod, 2 read, 4 write)
 *   r4 = ctx->major; r5 = ctx->minor
 *   per rule, newest first: on a mismatch jump to the next rule; else r0 = verdict; exit
 *   r0 = default; exit
 */
import type { DeviceRule } from '../security/devices.js';

const BPF_DEVCG_DEV_BLOCK = 1;
const BPF_DEVCG_DEV_CHAR = 2;
const ACCESS: Record<string, number> = { m: 1, r: 2, w: 4 };

interface Insn {
  code: number;
  dst: number;
  src: number;
  off: number;
  imm: number;
}

const LDX_W = 0x61; // BPF_LDX | BPF_MEM | BPF_W
const AND32_K = 0x54; // BPF_ALU | BPF_AND | BPF_K
const RSH32_K = 0x74; // BPF_ALU | BPF_RSH | BPF_K
const MOV64_X = 0xbf; // BPF_ALU64 | BPF_MOV | BPF_X
const MOV64_K = 0xb7; // BPF_ALU64 | BPF_MOV | BPF_K
const JNE_K = 0x55; // BPF_JMP | BPF_JNE | BPF_K
const JEQ_K = 0x15; // BPF_JMP | BPF_JEQ | BPF_K
const EXIT = 0x95; // BPF_JMP | BPF_EXIT

const insn = (code: number, dst = 0, src = 0, off = 0, imm = 0): Insn => ({ code, dst, src, off, imm });

function accessBits(access: string): number {
  let bits = 0;
  for (const c of access) {
    const b = ACCESS[c];
    if (b === undefined) throw new RangeError(`device access must be a subset of rwm: ${access}`);
    bits |= b;
  }
  return bits;
}

/** The verdict of `rules` for one request: the reference the program implements. */
export function deviceAllowed(rules: readonly DeviceRule[], type: 'c' | 'b', major: number, minor: number, access: string): boolean {
  const { defaultAllow, exceptions } = normalize(rules);
  const want = accessBits(access);
  for (const r of exceptions) if (matches(r, type, major, minor, want)) return r.allow;
  return defaultAllow;
}

function matches(r: DeviceRule, type: 'c' | 'b', major: number, minor: number, want: number): boolean {
  if (r.type !== 'a' && r.type !== type) return false;
  if (r.major !== '*' && r.major !== major) return false;
  if (r.minor !== '*' && r.minor !== minor) return false;
  const acc = accessBits(r.access);
  return r.allow ? (want & ~acc) === 0 : (want & acc) !== 0;
}

/** Default verdict and the rules after the last "a" rule, newest first. */
function normalize(rules: readonly DeviceRule[]): { defaultAllow: boolean; exceptions: DeviceRule[] } {
  let start = 0;
  let defaultAllow = true; // a fresh cgroup allows every device
  rules.forEach((r, i) => {
    if (r.type === 'a' && r.major === '*' && r.minor === '*' && r.access.length === 3) {
      start = i + 1;
      defaultAllow = r.allow;
    }
  });
  return { defaultAllow, exceptions: rules.slice(start).reverse() };
}

/** struct bpf_insn[] of the program, ready for BPF_PROG_LOAD. */
export function deviceFilterProgram(rules: readonly DeviceRule[]): Buffer {
  const { defaultAllow, exceptions } = normalize(rules);
  const prog: Insn[] = [
    insn(LDX_W, 2, 1, 0),
    insn(AND32_K, 2, 0, 0, 0xffff),
    insn(LDX_W, 3, 1, 0),
    insn(RSH32_K, 3, 0, 0, 16),
    insn(LDX_W, 4, 1, 4),
    insn(LDX_W, 5, 1, 8),
  ];
  for (const r of exceptions) {
    const acc = accessBits(r.access);
    // Each test jumps past the rest of this rule's block on a mismatch.
    const tests: ((skip: number) => Insn[])[] = [];
    if (r.type !== 'a') tests.push((skip) => [insn(JNE_K, 2, 0, skip, r.type === 'c' ? BPF_DEVCG_DEV_CHAR : BPF_DEVCG_DEV_BLOCK)]);
    if (r.allow && acc !== 7) tests.push((skip) => [insn(MOV64_X, 1, 3), insn(AND32_K, 1, 0, 0, ~acc & 7), insn(JNE_K, 1, 0, skip, 0)]);
    if (!r.allow && acc !== 7) tests.push((skip) => [insn(MOV64_X, 1, 3), insn(AND32_K, 1, 0, 0, acc), insn(JEQ_K, 1, 0, skip, 0)]);
    if (r.major !== '*') tests.push((skip) => [insn(JNE_K, 4, 0, skip, r.major as number)]);
    if (r.minor !== '*') tests.push((skip) => [insn(JNE_K, 5, 0, skip, r.minor as number)]);
    // Sizes first (every test's length is fixed), then the offsets.
    const sizes = tests.map((t) => t(0).length);
    let remaining = sizes.reduce((a, b) => a + b, 0) + 2; // + verdict + exit
    for (let i = 0; i < tests.length; i++) {
      remaining -= sizes[i]!;
      prog.push(...tests[i]!(remaining));
    }
    prog.push(insn(MOV64_K, 0, 0, 0, r.allow ? 1 : 0), insn(EXIT));
  }
  prog.push(insn(MOV64_K, 0, 0, 0, defaultAllow ? 1 : 0), insn(EXIT));
  const buf = Buffer.alloc(prog.length * 8);
  prog.forEach((p, i) => {
    buf.writeUInt8(p.code, i * 8);
    buf.writeUInt8((p.src << 4) | p.dst, i * 8 + 1);
    buf.writeInt16LE(p.off, i * 8 + 2);
    buf.writeInt32LE(p.imm | 0, i * 8 + 4);
  });
  return buf;
}
