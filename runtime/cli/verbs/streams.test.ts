import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EscapeProxy, detachKeyBytes } from './streams.js';

test('detach keys: ctrl-p,ctrl-q is 0x10 0x11; letters as themselves; nonsense refused', () => {
  assert.deepEqual([...detachKeyBytes('ctrl-p,ctrl-q')], [0x10, 0x11]);
  assert.deepEqual([...detachKeyBytes('ctrl-a,x')], [0x01, 0x78]);
  assert.throws(() => detachKeyBytes('ctrl-pp'), /invalid detach keys/);
});

test('the escape sequence detaches, split across reads; a lone first key passes through once the next key shows it was not one', () => {
  const p = new EscapeProxy(detachKeyBytes('ctrl-p,ctrl-q'));
  assert.deepEqual(p.feed(Buffer.from('ab')), { forward: Buffer.from('ab'), detached: false });
  assert.deepEqual(p.feed(Buffer.from([0x10])), { forward: Buffer.alloc(0), detached: false });
  assert.deepEqual(p.feed(Buffer.from('c')), { forward: Buffer.from([0x10, 0x63]), detached: false });
  assert.deepEqual(p.feed(Buffer.from([0x10, 0x10])), { forward: Buffer.from([0x10]), detached: false });
  assert.deepEqual(p.feed(Buffer.from([0x11, 0x41])), { forward: Buffer.alloc(0), detached: true });
  const q = new EscapeProxy(detachKeyBytes('ctrl-p,ctrl-q'));
  assert.deepEqual(q.feed(Buffer.from([0x78, 0x10, 0x11])), { forward: Buffer.from([0x78]), detached: true });
});
