import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { DOCKER_DEFAULT_CAPABILITIES, nativeBuildDir } from './spawn.js';
import { seccompProgram, SeccompBuildError } from './seccomp.js';
import { compileSeccomp, compileSeccompCached, dockerDefaultProfile } from '../security/seccomp.js';
import { makeBusyboxRootfs, runCaptured } from './testing.js';

const status = (out: string, key: string): string | undefined => new RegExp(`^${key}:\\s*(\\S+)`, 'm').exec(out)?.[1];

describe('seccomp filter in the init helper (libseccomp)', () => {
  let rootfs: string;
  const helper = () => join(nativeBuildDir(), 'wharf-init');

  before(() => {
    rootfs = makeBusyboxRootfs();
  });
  after(() => rmSync(rootfs, { recursive: true, force: true }));

  test('the program is built once per compiled profile: whole sock_filter records', async () => {
    const c = compileSeccompCached(dockerDefaultProfile(), DOCKER_DEFAULT_CAPABILITIES);
    const p = seccompProgram(helper(), c);
    assert.equal(seccompProgram(helper(), c), p);
    const hex = await p;
    assert.match(hex, /^[0-9a-f]+$/);
    assert.equal(hex.length % 16, 0);
  });

  test('a rule the helper cannot parse fails the build with its message', async () => {
    await assert.rejects(seccompProgram(helper(), { defaultAction: 'errno 1', arches: [], rules: ['fly 0 0 read'] }), (e: Error) => e instanceof SeccompBuildError && /bad seccomp rule/.test(e.message));
    await assert.rejects(seccompProgram(helper(), { defaultAction: 'errno 1', arches: ['vax'], rules: [] }), /unknown architecture vax/);
  });

  test('by default a container runs under the filter (Seccomp: 2) and mount is refused; unconfined has none', async () => {
    const script = 'grep -E "^(Seccomp|NoNewPrivs):" /proc/self/status; mkdir -p /mnt/t; mount -t tmpfs t /mnt/t && echo MOUNTED';
    for (const noNewPrivileges of [false, true]) {
      const r = await runCaptured({ rootfs, args: ['sh', '-c', script], noNewPrivileges });
      assert.equal(status(r.output, 'Seccomp'), '2', r.output);
      assert.equal(status(r.output, 'NoNewPrivs'), noNewPrivileges ? '1' : '0');
      assert.ok(!r.output.includes('MOUNTED'), r.output);
    }
    // With CAP_SYS_ADMIN but no filter, the same mount works: the filter is what refused it above.
    const free = await runCaptured({ rootfs, args: ['sh', '-c', script], seccomp: null, capabilities: DOCKER_DEFAULT_CAPABILITIES | (1n << 21n) });
    assert.equal(status(free.output, 'Seccomp'), '0');
    assert.ok(free.output.includes('MOUNTED'), free.output);
  });

  test('a custom profile: its errno comes back to the program', async () => {
    const c = compileSeccomp(
      { defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['mkdir', 'mkdirat'], action: 'SCMP_ACT_ERRNO', errnoRet: 13 }] },
      { capabilities: DOCKER_DEFAULT_CAPABILITIES },
    );
    const r = await runCaptured({ rootfs, args: ['sh', '-c', 'mkdir /x; echo rc=$?'], seccomp: c });
    assert.match(r.output, /Permission denied/);
    assert.match(r.output, /rc=1/);
  });
});
