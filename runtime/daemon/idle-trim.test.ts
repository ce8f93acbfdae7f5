import { test } from 'node:test';
import assert from 'node:assert/strict';
import { IdleHeapTrim } from './idle-trim.js';
import { trimHeap } from '../native/spawn.js';

test('trims once per quiet spell, never in a tick that saw a request', () => {
  let trims = 0;
  const t = new IdleHeapTrim(() => trims++, undefined);
  t.tick(); // the tick the daemon started in counts as busy
  assert.equal(trims, 0);
  t.tick();
  assert.equal(trims, 1, 'a whole tick without a request: trimmed');
  t.tick();
  t.tick();
  assert.equal(trims, 1, 'still quiet: not again');
  t.touch();
  t.tick();
  assert.equal(trims, 1, 'a request in this tick: no trim');
  t.touch();
  t.tick();
  assert.equal(trims, 1);
  t.tick();
  assert.equal(trims, 2, 'quiet again after the requests: trimmed again');
  t.stop();
});

test("the native trim (V8's low-memory GCs, then malloc_trim) runs and leaves the process's heap working", () => {
  const live = new Map(Array.from({ length: 1000 }, (_, i) => [i, { i, s: String(i).repeat(20) }]));
  const keep = Array.from({ length: 1000 }, (_, i) => Buffer.alloc(4096, i));
  keep.length = 10;
  trimHeap();
  assert.equal(Buffer.concat(keep).length, 10 * 4096);
  assert.equal(keep[9]![0], 9);
  assert.equal(live.get(999)?.s, '999'.repeat(20));
});
