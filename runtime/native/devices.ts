/**
 * The typed face of the addon's cgroup v2 device program (runtime/native/devices_bpf.cc):
 *
 *   attachDeviceProgram(cgroupDir, insns)   load a BPF_PROG_TYPE_CGROUP_DEVICE program
 *                                           (runtime/cgroups/device-filter.ts makes it)
 *                                           and attach it to a cgroup2 directory
 *
 * A failure throws a SyscallError (runtime/native/fs.ts) naming bpf(BPF_PROG_LOAD) with
 * the verifier's log, or bpf(BPF_PROG_ATTACH).
 */
import { isAbsolute } from 'node:path';
import { SyscallError } from './fs.js';
import { native } from './spawn.js';

export function attachDeviceProgram(cgroupDir: string, insns: Buffer): void {
  if (typeof cgroupDir !== 'string' || !isAbsolute(cgroupDir) || cgroupDir.includes('\0')) throw new TypeError(`cgroupDir must be an absolute path: ${String(cgroupDir)}`);
  if (!Buffer.isBuffer(insns) || insns.length === 0 || insns.length % 8 !== 0) throw new RangeError('insns must be whole struct bpf_insn records');
  try {
    native().attachDeviceProgram(cgroupDir, insns);
  } catch (e) {
    const raw = e as { errno?: unknown; syscall?: unknown; message?: string };
    if (typeof raw.errno === 'number' && typeof raw.syscall === 'string') throw new SyscallError(raw.errno, raw.message ?? '', raw.syscall, cgroupDir);
    throw e;
  }
}
