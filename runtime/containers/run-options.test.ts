/** parseRunFlags' security plan: made by default, left to the daemon by the client verbs. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseRunFlags, RunOptionsError } from './run-options.js';

test('the default security plan is made (Docker default seccomp) unless the caller leaves it to the daemon', async () => {
  const planned = await parseRunFlags({ rm: true }, {}, 2);
  assert.ok(planned.security?.seccomp, 'the default seccomp filter is compiled');
  const left = await parseRunFlags({ rm: true }, {}, 2, { planSecurity: false });
  assert.equal(left.security, undefined);
  assert.equal(left.rm, true);
});

test('security flags are still checked (and planned) when the plan is left to the daemon', async () => {
  const f = await parseRunFlags({ capDrop: ['ALL'], securityOpt: ['seccomp=unconfined'] }, {}, 2, { planSecurity: false });
  assert.equal(f.security?.seccomp, null);
  assert.equal(f.security?.capabilities, 0n);
  await assert.rejects(parseRunFlags({ capAdd: ['NOPE'] }, {}, 2, { planSecurity: false }), RunOptionsError);
  await assert.rejects(parseRunFlags({ securityOpt: ['bogus'] }, {}, 2, { planSecurity: false }), RunOptionsError);
});
