import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statfsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mknod } from '../native/fs.js';
import { ALLOW_ALL_DEVICES, DOCKER_DEFAULT_DEVICE_RULES, type DeviceRule } from '../security/devices.js';
import { deviceAllowed, deviceFilterProgram } from './device-filter.js';
import { CgroupV1Driver } from './v1.js';
import { CgroupV2Driver } from './v2.js';
import type { Cgroup } from './driver.js';
import { CGROUP2_SUPER_MAGIC } from './detect.js';

/** Nodes the tests open: forbidden ones (kvm, hwrng, loop0, tty0) and allowed ones. */
const NODES: [string, number, number][] = [
  ['kvm', 10, 232],
  ['hwrng', 10, 183],
  ['loop0', 7, 0],
  ['tty0', 4, 0],
  ['null', 1, 3],
  ['zero', 1, 5],
  ['urandom', 1, 9],
];

/** A process placed in `cg` before it opens each node read-only; returns name -> "ok" | error code. */
async function openAllIn(cg: Cgroup, dir: string): Promise<Record<string, string>> {
  const script = `
    process.stdin.once('data', () => {
      const fs = require('fs'), out = {};
      for (const n of ${JSON.stringify(NODES.map((n) => n[0]))}) {
        try { fs.closeSync(fs.openSync(${JSON.stringify(dir)} + '/' + n, 'r')); out[n] = 'ok'; } catch (e) { out[n] = e.code; }
      }
      process.stdout.write(JSON.stringify(out));
      process.exit(0);
    });`;
  const child = spawn(process.execPath, ['-e', script], { stdio: ['pipe', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString()));
  const done = new Promise<void>((resolve) => child.on('close', () => resolve()));
  await new Promise<void>((resolve) => child.on('spawn', () => resolve()));
  try {
    await cg.addProcess(child.pid!);
  } finally {
    child.stdin.end('go');
  }
  await done;
  return JSON.parse(out) as Record<string, string>;
}

const DOCKER_VERDICTS = { kvm: 'EPERM', hwrng: 'EPERM', loop0: 'EPERM', tty0: 'EPERM', null: 'ok', zero: 'ok', urandom: 'ok' };

describe('devices cgroup', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'wharf-devnodes-'));
    for (const [name, major, minor] of NODES) mknod(join(dir, name), 0o20666, major, minor);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  test("the rules' verdicts (v1 semantics the BPF program follows)", () => {
    const d = DOCKER_DEFAULT_DEVICE_RULES;
    assert.equal(deviceAllowed(d, 'c', 1, 3, 'rw'), true);
    assert.equal(deviceAllowed(d, 'c', 136, 7, 'rw'), true);
    assert.equal(deviceAllowed(d, 'c', 10, 232, 'r'), false);
    assert.equal(deviceAllowed(d, 'c', 10, 232, 'm'), true, 'mknod of any node');
    assert.equal(deviceAllowed(d, 'b', 7, 0, 'm'), true);
    assert.equal(deviceAllowed(d, 'b', 7, 0, 'r'), false);
    const withKvmRead: DeviceRule[] = [...d, { allow: true, type: 'c', major: 10, minor: 232, access: 'r' }];
    assert.equal(deviceAllowed(withKvmRead, 'c', 10, 232, 'r'), true);
    assert.equal(deviceAllowed(withKvmRead, 'c', 10, 232, 'rw'), false);
    assert.equal(deviceAllowed(ALLOW_ALL_DEVICES, 'b', 8, 0, 'rwm'), true);
    const denyOne: DeviceRule[] = [...ALLOW_ALL_DEVICES, { allow: false, type: 'c', major: 1, minor: 3, access: 'w' }];
    assert.equal(deviceAllowed(denyOne, 'c', 1, 3, 'r'), true);
    assert.equal(deviceAllowed(denyOne, 'c', 1, 3, 'rw'), false);
    assert.equal(deviceFilterProgram(d).length % 8, 0);
  });

  test("v1: Docker's rules in devices.list; kvm, hwrng, loop0 and tty0 refused, null/zero/urandom open", async () => {
    const driver = await CgroupV1Driver.open();
    const cg = await driver.create(`devtest-${process.pid}`, { devices: DOCKER_DEFAULT_DEVICE_RULES });
    try {
      const list = (await cg.read('devices.list', 'devices')).split('\n').sort();
      assert.deepEqual(list, ['b *:* m', 'c *:* m', 'c 1:3 rwm', 'c 1:5 rwm', 'c 1:7 rwm', 'c 1:8 rwm', 'c 1:9 rwm', 'c 10:200 rwm', 'c 136:* rwm', 'c 5:0 rwm', 'c 5:1 rwm', 'c 5:2 rwm'].sort());
      assert.deepEqual(await openAllIn(cg, dir), DOCKER_VERDICTS);
    } finally {
      await cg.destroy();
    }
  });

  test('v2: the BPF program attaches to a cgroup2 directory and decides open(2) of device nodes', async () => {
    // This machine is hybrid: /sys/fs/cgroup/unified is a cgroup2 mount (no controllers
    // needed: a device program attaches to any cgroup2 directory).
    const root = '/sys/fs/cgroup/unified';
    assert.equal(statfsSync(root).type, CGROUP2_SUPER_MAGIC, `${root} must be a cgroup2 mount for this test`);
    const driver = new CgroupV2Driver(root);
    const cg = await driver.create(`devtest-${process.pid}`, { devices: DOCKER_DEFAULT_DEVICE_RULES });
    try {
      assert.deepEqual(await openAllIn(cg, dir), DOCKER_VERDICTS);
    } finally {
      await cg.destroy();
    }
    // One allowed exception on top of the defaults: kvm read-only.
    const cg2 = await driver.create(`devtest2-${process.pid}`, {
      devices: [...DOCKER_DEFAULT_DEVICE_RULES, { allow: true, type: 'c', major: 10, minor: 232, access: 'r' }],
    });
    try {
      const v = await openAllIn(cg2, dir);
      assert.notEqual(v.kvm, 'EPERM', 'the rule allows kvm (the kernel may have no such driver: ENXIO/ENODEV)');
      assert.equal(v.hwrng, 'EPERM');
    } finally {
      await cg2.destroy();
    }
    assert.ok(!readFileSync('/proc/self/cgroup', 'utf8').includes('devtest'));
  });
});
