import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseBind, parseMount, parseTmpfs, planMountPoints, type MountPoint } from './mount-points.js';

const message = (f: () => unknown): string => {
  try {
    f();
  } catch (e) {
    return (e as Error).message;
  }
  return '';
};

test('parseBind: host paths are binds, names are volumes, a lone path is anonymous (moby linux_parser)', () => {
  assert.deepEqual(parseBind('/h//x/:/c/:ro'), { Type: 'bind', Source: '/h/x/', Destination: '/c', Mode: 'ro', RW: false, Propagation: 'rprivate', CreateSource: true });
  const named = parseBind('db:/var/lib/db');
  assert.equal(named.Type, 'volume');
  assert.equal(named.Name, 'db');
  assert.equal(named.Mode, 'z');
  assert.equal(named.CopyData, true);
  assert.equal(named.Anonymous, undefined);
  const anon = parseBind('/data:ro');
  assert.equal(anon.Type, 'volume');
  assert.match(anon.Name!, /^[0-9a-f]{64}$/);
  assert.equal(anon.Anonymous, true);
  assert.equal(anon.RW, false);
  assert.equal(parseBind('vv:/x:nocopy').CopyData, false);
  assert.match(message(() => parseBind('a:b:c:d')), /invalid volume specification: 'a:b:c:d'/);
  assert.match(message(() => parseBind('/h:rel')), /mount path must be absolute/);
  assert.match(message(() => parseBind('/h:/x:ro,rw')), /invalid mode: ro,rw/);
  assert.match(message(() => parseBind('/h:/x:shared')), /propagation mode shared is not supported/);
  assert.match(message(() => parseBind('-v:/x')), /invalid characters for a local volume name/);
  assert.match(message(() => parseBind('/h:/')), /destination can't be '\/'/);
  assert.match(message(() => parseBind('/h:/x/..')), /destination can't be '\/'/);
});

test('parseMount and parseTmpfs: moby\'s field checks; tmpfs defaults noexec,nosuid,nodev', () => {
  assert.match(message(() => parseMount({ Type: 'nfs', Target: '/x' })), /mount type unknown/);
  assert.match(message(() => parseMount({ Type: 'bind', Target: '/x' })), /field Source must not be empty/);
  assert.match(message(() => parseMount({ Type: 'tmpfs', Source: 'x', Target: '/x' })), /field Source must not be specified/);
  assert.match(message(() => parseMount({ Type: 'volume', Source: 'x' })), /field Target must not be empty/);
  assert.match(message(() => parseMount({ Type: 'volume', Target: '/x', BindOptions: {} })), /field BindOptions must not be specified/);
  assert.equal(parseMount({ Type: 'bind', Source: '/h', Target: '/x' }).CreateSource, false);
  const t = parseMount({ Type: 'tmpfs', Target: '/t', ReadOnly: true, TmpfsOptions: { SizeBytes: 1 << 20, Mode: 0o1777 } });
  assert.deepEqual(t.Tmpfs, { flags: ['nodev', 'noexec', 'nosuid'], data: 'size=1024k,mode=1777' });
  assert.equal(t.RW, false);
  assert.deepEqual(parseTmpfs('/run', 'exec,size=64m').Tmpfs, { flags: ['nodev', 'nosuid'], data: 'size=64m' });
  assert.match(message(() => parseTmpfs('/run', 'size=1m,x-bad')), /invalid tmpfs option \["x-bad"\]/);
  assert.match(message(() => parseTmpfs('/run', 'size=1m;rm')), /invalid tmpfs option/);
});

test('planMountPoints: volumes-from, then user mounts, then image VOLUMEs where free; parents first', () => {
  const db: MountPoint[] = [
    { Type: 'volume', Name: 'a'.repeat(64), Source: '/v/a', Destination: '/data', Mode: '', RW: true, Propagation: '', CopyData: false, Anonymous: true },
    { Type: 'tmpfs', Source: '', Destination: '/t', Mode: '', RW: true, Propagation: '' },
  ];
  const plan = planMountPoints(
    { binds: ['/h:/data/sub', 'logs:/logs'], volumesFrom: ['db:ro'], volumes: [{ '/logs': {}, '/cache': {} }, null] },
    (ref) => {
      assert.equal(ref, 'db');
      return db;
    },
  );
  assert.deepEqual(
    plan.map((m) => [m.Destination, m.Type, m.RW, m.Name === 'logs' || m.Anonymous === true]),
    [
      ['/data', 'volume', false, true],
      ['/logs', 'volume', true, true],
      ['/cache', 'volume', true, true],
      ['/data/sub', 'bind', true, false],
    ],
  );
  assert.match(message(() => planMountPoints({ binds: ['/a:/x'], mounts: [{ Type: 'volume', Target: '/x' }], volumes: [] }, () => [])), /Duplicate mount point: \/x/);
  assert.match(message(() => planMountPoints({ binds: '/a:/x', volumes: [] }, () => [])), /Binds must be an array/);
});
