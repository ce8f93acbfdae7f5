import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { DOCKER_DEFAULT_CAPABILITIES } from '../native/spawn.js';
import {
  allCapabilities,
  CapabilityError,
  capabilityMask,
  capabilityNames,
  DOCKER_DEFAULT_CAPABILITY_NAMES,
  normalizeCapability,
  tweakCapabilities,
} from './capabilities.js';

describe('capabilities (Docker rules)', () => {
  test("Docker's default set is the helper's default mask", () => {
    assert.equal(capabilityMask(DOCKER_DEFAULT_CAPABILITY_NAMES), DOCKER_DEFAULT_CAPABILITIES);
    assert.deepEqual(capabilityNames(DOCKER_DEFAULT_CAPABILITIES).sort(), [...DOCKER_DEFAULT_CAPABILITY_NAMES].sort());
  });

  test('names with or without CAP_, any case; ALL; unknown names refused', () => {
    assert.equal(normalizeCapability('net_admin'), 'CAP_NET_ADMIN');
    assert.equal(normalizeCapability('CAP_SYS_ADMIN'), 'CAP_SYS_ADMIN');
    assert.equal(normalizeCapability('all'), 'ALL');
    assert.throws(() => normalizeCapability('FLY'), (e: Error) => e instanceof CapabilityError && e.message === 'unknown capability: "CAP_FLY"');
    const held = capabilityNames(BigInt(`0x${/^CapEff:\s*(\S+)/m.exec(readFileSync('/proc/self/status', 'utf8'))![1]}`));
    for (const c of allCapabilities()) assert.ok(held.includes(c));
    const absent = ['CAP_SYS_RESOURCE', 'CAP_CHECKPOINT_RESTORE'].filter((c) => !held.includes(c));
    for (const c of absent) assert.throws(() => normalizeCapability(c), /not available in the current environment/);
  });

  test('add, drop, ALL, privileged', () => {
    assert.deepEqual(tweakCapabilities({}), DOCKER_DEFAULT_CAPABILITY_NAMES);
    const t = tweakCapabilities({ add: ['NET_ADMIN'], drop: ['chown', 'CAP_KILL'] });
    assert.ok(t.includes('CAP_NET_ADMIN') && !t.includes('CAP_CHOWN') && !t.includes('CAP_KILL') && t.includes('CAP_SETUID'));
    assert.deepEqual(tweakCapabilities({ drop: ['ALL'], add: ['NET_BIND_SERVICE'] }), ['CAP_NET_BIND_SERVICE']);
    assert.deepEqual(tweakCapabilities({ drop: ['ALL'] }), []);
    const last = Number(readFileSync('/proc/sys/kernel/cap_last_cap', 'utf8'));
    const bnd = BigInt(`0x${/^CapEff:\s*(\S+)/m.exec(readFileSync('/proc/self/status', 'utf8'))![1]}`);
    // Every capability the kernel knows and this node holds (this machine lacks CAP_SYS_RESOURCE).
    assert.equal(capabilityMask(allCapabilities()), bnd & ((1n << BigInt(Math.min(last, 40) + 1)) - 1n));
    assert.deepEqual(tweakCapabilities({ add: ['ALL'], drop: ['SYS_ADMIN'] }), allCapabilities().filter((c) => c !== 'CAP_SYS_ADMIN'));
    assert.deepEqual(tweakCapabilities({ privileged: true, drop: ['ALL'] }), allCapabilities());
  });
});
