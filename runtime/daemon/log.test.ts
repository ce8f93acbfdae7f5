import { test } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { daemonLog } from './log.js';

async function linesOf(level: string, f: (log: ReturnType<typeof daemonLog>) => void): Promise<Record<string, unknown>[]> {
  const dir = mkdtempSync(join(tmpdir(), 'wharf-log-'));
  const file = join(dir, 'log');
  const fd = openSync(file, 'a');
  try {
    f(daemonLog(level, { pid: 7, name: 'wharf-daemon' }, fd));
    await new Promise((r) => setTimeout(r, 200));
    return readFileSync(file, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  } finally {
    closeSync(fd);
    rmSync(dir, { recursive: true, force: true });
  }
}

test("lines in pino's shape, in order, from the level up", async () => {
  const lines = await linesOf('info', (log) => {
    log.debug({ a: 1 }, 'hidden');
    log.info({ address: { kind: 'unix', path: '/run/x.sock' } }, 'API listen');
    log.warn('plain message');
    for (let i = 0; i < 50; i++) log.error({ i }, 'n');
  });
  assert.equal(lines.length, 52);
  const [first, second] = lines;
  assert.deepEqual(Object.keys(first!), ['level', 'time', 'pid', 'name', 'address', 'msg']);
  assert.equal(first!.level, 30);
  assert.equal(typeof first!.time, 'number');
  assert.deepEqual(first!.address, { kind: 'unix', path: '/run/x.sock' });
  assert.equal(first!.msg, 'API listen');
  assert.deepEqual(second, { level: 40, time: second!.time, pid: 7, name: 'wharf-daemon', msg: 'plain message' });
  assert.deepEqual(
    lines.slice(2).map((l) => l.i),
    Array.from({ length: 50 }, (_, i) => i),
  );
});

test('an Error as pino writes it; cycles and BigInts do not throw', async () => {
  const e = Object.assign(new Error('ENOTEMPTY: directory not empty', { cause: new TypeError('inner') }), { code: 'ENOTEMPTY', errno: -39 });
  const loop: Record<string, unknown> = { n: 1n };
  loop.self = loop;
  const [line, cyc] = await linesOf('debug', (log) => {
    log.error({ err: e, id: 'abc' }, 'auto-remove failed');
    log.debug({ loop }, 'cycle');
  });
  const err = line!.err as Record<string, unknown>;
  assert.equal(err.type, 'Error');
  assert.equal(err.message, 'ENOTEMPTY: directory not empty');
  assert.equal(err.code, 'ENOTEMPTY');
  assert.equal(err.errno, -39);
  assert.match(String(err.stack), /^Error: ENOTEMPTY/);
  assert.equal((err.cause as Record<string, unknown>).type, 'TypeError');
  assert.equal(line!.id, 'abc');
  assert.deepEqual(cyc!.loop, { n: '1', self: '[Circular]' });
});

test('an unknown level is refused', () => {
  assert.throws(() => daemonLog('loud', {}), /unknown level loud/);
});
