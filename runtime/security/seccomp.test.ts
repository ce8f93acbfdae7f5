import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { capabilityMask, DOCKER_DEFAULT_CAPABILITY_NAMES, tweakCapabilities } from './capabilities.js';
import { compileSeccomp, compileSeccompCached, dockerDefaultProfile, runtimeSpecSeccomp, SeccompProfileError, type SeccompProfile } from './seccomp.js';

const DEFAULT_CAPS = capabilityMask(DOCKER_DEFAULT_CAPABILITY_NAMES);
const x64 = { arch: 'x64', kernel: '6.1.0-18-amd64' };

/** rule strings -> syscall name -> the rule words before the names */
function byName(rules: string[]): Map<string, string[]> {
  const m = new Map<string, string[]>();
  for (const r of rules) {
    const words = r.split(' ');
    const n = Number(words[2]);
    const head = words.slice(0, 3 + 4 * n).join(' ');
    for (const name of words.slice(3 + 4 * n)) m.set(name, [...(m.get(name) ?? []), head]);
  }
  return m;
}

describe('seccomp profile compiler (Docker format)', () => {
  test('the data is moby\'s default profile: errno EPERM by default, x86_64 archMap, hundreds of syscalls', () => {
    const raw = JSON.parse(readFileSync(new URL('../../../runtime/security/seccomp-default.json', import.meta.url), 'utf8')) as SeccompProfile;
    assert.equal(raw.defaultAction, 'SCMP_ACT_ERRNO');
    assert.equal(raw.defaultErrnoRet, 1);
    assert.deepEqual(raw.archMap?.find((a) => a.architecture === 'SCMP_ARCH_X86_64')?.subArchitectures, ['SCMP_ARCH_X86', 'SCMP_ARCH_X32']);
    assert.ok((raw.syscalls?.[0]?.names?.length ?? 0) > 300);
    assert.deepEqual(dockerDefaultProfile(), raw);
  });

  test('default caps on x86_64: archs, default action, the plain allow list', () => {
    const c = compileSeccomp(dockerDefaultProfile(), { capabilities: DEFAULT_CAPS, ...x64 });
    assert.equal(c.defaultAction, 'errno 1');
    assert.deepEqual(c.arches, ['x86_64', 'x86', 'x32']);
    const m = byName(c.rules);
    for (const name of ['read', 'write', 'execve', 'openat', 'epoll_wait', 'futex', 'capset', 'setresuid', 'prctl', 'arch_prctl', 'modify_ldt']) {
      assert.deepEqual(m.get(name), ['allow 0 0'], name);
    }
    // Kept off without the capability that unlocks them (and not in the plain list).
    for (const name of ['mount', 'umount2', 'unshare', 'setns', 'bpf', 'reboot', 'kexec_load', 'open_by_handle_at', 'keyctl', 'add_key', 'init_module', 'clock_settime', 'syslog', 'perf_event_open']) {
      assert.equal(m.get(name), undefined, name);
    }
    // Other architectures' rules are excluded.
    for (const name of ['s390_runtime_instr', 'riscv_flush_icache', 'arm_fadvise64_64']) assert.equal(m.get(name), undefined, name);
  });

  test("the runtime-spec's linux.seccomp (what moby hands runc or crun): this machine's arches, the rules the caps keep, no includes/excludes", () => {
    const spec = runtimeSpecSeccomp(dockerDefaultProfile(), { capabilities: DEFAULT_CAPS, ...x64 });
    assert.equal(spec.defaultAction, 'SCMP_ACT_ERRNO');
    assert.equal(spec.defaultErrnoRet, 1);
    assert.deepEqual(spec.architectures, ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32']);
    const names = new Set(spec.syscalls.flatMap((r) => r.names));
    for (const name of ['read', 'execve', 'clone']) assert.ok(names.has(name), name);
    for (const name of ['mount', 'unshare', 'bpf']) assert.ok(!names.has(name), name);
    for (const r of spec.syscalls) assert.deepEqual(Object.keys(r).filter((k) => !['names', 'action', 'errnoRet', 'args'].includes(k)), []);
    const admin = runtimeSpecSeccomp(dockerDefaultProfile(), { capabilities: capabilityMask(tweakCapabilities({ add: ['SYS_ADMIN'] })), ...x64 });
    assert.ok(admin.syscalls.some((r) => r.names.includes('mount') && r.action === 'SCMP_ACT_ALLOW'));
  });

  test('argument filters: clone without namespace flags, clone3 ENOSYS, personality values, socket families', () => {
    const m = byName(compileSeccomp(dockerDefaultProfile(), { capabilities: DEFAULT_CAPS, ...x64 }).rules);
    assert.deepEqual(m.get('clone'), ['allow 0 1 0 me 2114060288 0']);
    assert.deepEqual(m.get('clone3'), ['errno 38 0']);
    assert.deepEqual(m.get('personality')?.sort(), ['allow 0 1 0 eq 0 0', 'allow 0 1 0 eq 131072 0', 'allow 0 1 0 eq 131080 0', 'allow 0 1 0 eq 4294967295 0', 'allow 0 1 0 eq 8 0']);
    assert.deepEqual(m.get('socket'), ['allow 0 1 0 lt 38 0', 'allow 0 1 0 eq 39 0', 'allow 0 1 0 gt 40 0']);
  });

  test('capabilities decide the includes/excludes, on the bounding set', () => {
    const admin = capabilityMask(tweakCapabilities({ add: ['SYS_ADMIN'] }));
    const m = byName(compileSeccomp(dockerDefaultProfile(), { capabilities: admin, ...x64 }).rules);
    for (const name of ['mount', 'umount2', 'unshare', 'setns', 'bpf', 'clone', 'clone3']) assert.deepEqual(m.get(name), ['allow 0 0'], name);
    const all = capabilityMask(tweakCapabilities({ add: ['ALL'] }));
    const a = byName(compileSeccomp(dockerDefaultProfile(), { capabilities: all, ...x64 }).rules);
    for (const name of ['reboot', 'open_by_handle_at', 'init_module', 'clock_settime', 'iopl']) assert.deepEqual(a.get(name), ['allow 0 0'], name);
    // keyctl, add_key, kexec_load are in no list: refused even with every capability.
    for (const name of ['keyctl', 'add_key', 'kexec_load']) assert.equal(a.get(name), undefined, name);
  });

  test('minKernel: ptrace is allowed from 4.8 only (and with CAP_SYS_PTRACE before)', () => {
    assert.deepEqual(byName(compileSeccomp(dockerDefaultProfile(), { capabilities: DEFAULT_CAPS, arch: 'x64', kernel: '4.8.0' }).rules).get('ptrace'), ['allow 0 0']);
    assert.equal(byName(compileSeccomp(dockerDefaultProfile(), { capabilities: DEFAULT_CAPS, arch: 'x64', kernel: '4.4.0-1-amd64' }).rules).get('ptrace'), undefined);
  });

  test('arm64 takes its own archMap entry and arch-only rules', () => {
    const c = compileSeccomp(dockerDefaultProfile(), { capabilities: DEFAULT_CAPS, arch: 'arm64', kernel: '6.1' });
    assert.deepEqual(c.arches, ['aarch64', 'arm']);
    const m = byName(c.rules);
    assert.deepEqual(m.get('arm_fadvise64_64'), ['allow 0 0']);
    assert.equal(m.get('arch_prctl'), undefined);
  });

  test('a custom profile: architectures list, name, errnoRet, valueTwo, default-action rules dropped', () => {
    const c = compileSeccomp(
      {
        defaultAction: 'SCMP_ACT_ALLOW',
        architectures: ['SCMP_ARCH_X86_64'],
        syscalls: [
          { name: 'mkdir', action: 'SCMP_ACT_ERRNO' },
          { names: ['chmod', 'fchmod'], action: 'SCMP_ACT_ERRNO', errnoRet: 13 },
          { names: ['read'], action: 'SCMP_ACT_ALLOW' },
          { names: ['ioctl'], action: 'SCMP_ACT_KILL_PROCESS', args: [{ index: 1, op: 'SCMP_CMP_MASKED_EQ', value: 255, valueTwo: 84 }] },
        ],
      },
      { capabilities: DEFAULT_CAPS, ...x64 },
    );
    assert.deepEqual(c, { defaultAction: 'allow 0', arches: ['x86_64'], rules: ['errno 1 0 mkdir', 'errno 13 0 chmod fchmod', 'kill_process 0 1 1 me 255 84 ioctl'] });
  });

  test('malformed profiles are refused with a message', () => {
    const ctx = { capabilities: DEFAULT_CAPS, ...x64 };
    assert.throws(() => compileSeccomp({ defaultAction: 'SCMP_ACT_NOPE' }, ctx), SeccompProfileError);
    assert.throws(() => compileSeccomp({ defaultAction: 'SCMP_ACT_NOTIFY' }, ctx), /unsupported action/);
    assert.throws(() => compileSeccomp({ defaultAction: 'SCMP_ACT_ERRNO', syscalls: [{ names: ['read'], action: 'SCMP_ACT_ALLOW', args: [{ index: 9, value: 1, op: 'SCMP_CMP_EQ' }] }] }, ctx), /index/);
    assert.throws(() => compileSeccomp({ defaultAction: 'SCMP_ACT_ERRNO', syscalls: [{ names: ['read'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: 1, op: 'SCMP_CMP_WHAT' }] }] }, ctx), /op/);
    assert.throws(() => compileSeccomp({ defaultAction: 'SCMP_ACT_ERRNO', syscalls: [{ names: ['read; rm'], action: 'SCMP_ACT_ALLOW' }] }, ctx), /invalid syscall name/);
    assert.throws(() => compileSeccomp({ defaultAction: 'SCMP_ACT_ERRNO', architectures: ['SCMP_ARCH_X86_64'], archMap: [{ architecture: 'SCMP_ARCH_X86_64', subArchitectures: null }] }, ctx), /both/);
    assert.throws(() => compileSeccomp({ defaultAction: 'SCMP_ACT_ERRNO', architectures: ['SCMP_ARCH_VAX'] }, ctx), /architecture/);
    assert.throws(() => compileSeccomp({ defaultAction: 'SCMP_ACT_ERRNO', flags: ['SECCOMP_FILTER_FLAG_LOG'] }, ctx), /flags/);
    assert.throws(() => compileSeccomp(null as unknown as SeccompProfile, ctx), /object/);
  });

  test('compiled once per profile and capability set', () => {
    const a = compileSeccompCached(dockerDefaultProfile(), DEFAULT_CAPS);
    assert.equal(compileSeccompCached(dockerDefaultProfile(), DEFAULT_CAPS), a);
    assert.notEqual(compileSeccompCached(dockerDefaultProfile(), DEFAULT_CAPS | 1n << 21n), a);
  });
});
