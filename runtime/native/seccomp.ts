/**
 * The BPF program of a compiled seccomp profile (runtime/security/seccomp.ts), built by
 * the init helper's libseccomp (`wharf-init --seccomp-bpf`, see init/seccomp.c) once per
 * compiled profile and process, then handed to every start as bytes: a start loads it
 * with one prctl instead of ~10 ms of filter generation.
 */
import { execFile } from 'node:child_process';
import type { CompiledSeccomp } from '../security/seccomp.js';

export class SeccompBuildError extends Error {
  override name = 'SeccompBuildError';
}

/** The helper's spec pairs for a compiled profile (the rule list; see init/seccomp.c). */
export function seccompSpecPairs(c: CompiledSeccomp): [string, string][] {
  return [['seccomp', c.defaultAction], ...c.arches.map((a): [string, string] => ['seccomp_arch', a]), ...c.rules.map((r): [string, string] => ['seccomp_rule', r])];
}

const programs = new WeakMap<CompiledSeccomp, Promise<string>>();

/** The filter as struct sock_filter[] bytes in hex (the spec's seccomp_bpf), cached per compiled profile object. */
export function seccompProgram(helper: string, c: CompiledSeccomp): Promise<string> {
  let p = programs.get(c);
  if (!p) {
    p = new Promise<string>((resolve, reject) => {
      const child = execFile(helper, ['--seccomp-bpf'], { encoding: 'buffer', maxBuffer: 1 << 22 }, (err, stdout, stderr) => {
        if (err) reject(new SeccompBuildError(`building the seccomp filter: ${stderr.toString().trim() || err.message}`, { cause: err }));
        else if (stdout.length === 0 || stdout.length % 8 !== 0) reject(new SeccompBuildError(`building the seccomp filter: a program of ${stdout.length} bytes`));
        else resolve(stdout.toString('hex'));
      });
      child.stdin!.end(Buffer.concat(seccompSpecPairs(c).map(([k, v]) => Buffer.from(`${k}\0${v}\0`))));
    });
    programs.set(c, p);
    p.catch(() => programs.delete(c));
  }
  return p;
}
