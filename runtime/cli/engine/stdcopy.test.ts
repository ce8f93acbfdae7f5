import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Demuxer, frame, STREAM_STDERR, STREAM_STDOUT } from './stdcopy.js';

test('frames split at every byte boundary and joined arrive whole and in order', () => {
  const wire = Buffer.concat([frame(STREAM_STDOUT, 'hello '), frame(STREAM_STDERR, 'oops\n'), frame(STREAM_STDOUT, ''), frame(STREAM_STDOUT, 'world\n')]);
  for (let cut = 1; cut < wire.length; cut++) {
    const got: Array<[number, string]> = [];
    const d = new Demuxer((s, p) => got.push([s, p.toString()]));
    d.push(wire.subarray(0, cut));
    d.push(wire.subarray(cut));
    assert.deepEqual(got, [
      [1, 'hello '],
      [2, 'oops\n'],
      [1, ''],
      [1, 'world\n'],
    ]);
    assert.equal(d.leftover, 0);
  }
});

test('a half frame waits for the rest; a non-multiplexed stream is refused', () => {
  const got: string[] = [];
  const d = new Demuxer((_s, p) => got.push(p.toString()));
  const f = frame(STREAM_STDOUT, 'abcdef');
  d.push(f.subarray(0, 10));
  assert.deepEqual(got, []);
  assert.equal(d.leftover, 10);
  d.push(f.subarray(10));
  assert.deepEqual(got, ['abcdef']);
  assert.throws(() => new Demuxer(() => undefined).push(Buffer.from('plain text from a TTY\n')), /not a multiplexed stream/);
});

test('a frame of 1 MiB keeps its bytes', () => {
  const big = Buffer.alloc(1 << 20, 7);
  let size = 0;
  const d = new Demuxer((_s, p) => (size += p.length));
  const f = frame(STREAM_STDOUT, big);
  for (let i = 0; i < f.length; i += 65536) d.push(f.subarray(i, i + 65536));
  assert.equal(size, big.length);
});
