/**
 * What `wharf run` reads from and writes into a container's /etc, against crafted images
 * and side by side with `docker run` of the same images (pulled by dockerd from the test's
 * Wharf registry):
 *
 *   --user NAME     /etc/passwd and /etc/group are read inside the image: a symlink
 *                   resolves in the image (`/etc/passwd -> /etc/passwd` is a loop there,
 *                   as dockerd finds), never the host's file; a device or FIFO is refused
 *                   and never read; the exit code is Docker's (125)
 *   groups          `id` shows Docker's groups (primary gid, memberships, --group-add)
 *   /etc files      hosts, hostname and resolv.conf as Docker writes them (--add-host,
 *                   --dns, --dns-search, --dns-option), bind-mounted per container; names
 *                   resolve (busybox ping of localhost and of the container's hostname)
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir, hostname as osHostname } from 'node:os';
import { join } from 'node:path';
import { buildImage, pushImage, type LayerEntry } from './support/images.js';
import { busyboxLayer, runWharf } from './support/run-node.js';
import { ensureDockerd, execFileP, run } from './support/peers.js';
import { startTestWharf, type TestWharf } from './support/wharf.js';
import { NodeLayout } from '../runtime/layout.js';
import { removeAllSnapshots } from '../runtime/layers/snapshots.js';

let registry: TestWharf;
let root: string;
const img = { base: '', loop: '', zeroLink: '', zeroDev: '', fifo: '', inImage: '', hostsLink: '' };
const pushedToDocker: string[] = [];

const PASSWD = 'root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\n';
const GROUP = 'root:x:0:\napp:x:1000:\nextra:x:2000:app\nother:x:3000:root\nthird:x:4000:app,root\n';
const APPLETS = ['sh', 'id', 'cat', 'ping', 'hostname', 'echo'];

const etc = (passwd: LayerEntry | null, group: LayerEntry | null = { type: 'file', path: 'etc/group', content: GROUP }): LayerEntry[] => [
  { type: 'dir', path: 'etc' },
  ...(passwd ? [passwd] : []),
  ...(group ? [group] : []),
];

async function push(repo: string, entries: LayerEntry[]): Promise<string> {
  const layer = await busyboxLayer(APPLETS, entries);
  await pushImage(registry.url, repo, 'v1', buildImage([layer], { Cmd: ['id'] }));
  return `${registry.hostPort}/${repo}:v1`;
}

const wharf = (...args: string[]) => runWharf(['run', '--rm', '--root', root, ...args]);

async function docker(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await execFileP('docker', args, { timeout: 120_000 });
    return { code: 0, stdout, stderr };
  } catch (e) {
    const err = e as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof err.code === 'number' ? err.code : -1, stdout: err.stdout ?? '', stderr: err.stderr ?? String(e) };
  }
}

async function dockerPull(ref: string): Promise<void> {
  await run('docker', ['pull', '-q', ref], { timeout: 120_000 });
  pushedToDocker.push(ref);
}

before(async () => {
  await ensureDockerd();
  registry = await startTestWharf();
  root = await mkdtemp(join(tmpdir(), 'wharf-etc-node-'));
  img.base = await push('etc/base', [...etc({ type: 'file', path: 'etc/passwd', content: PASSWD }), { type: 'dir', path: 'home/app', uid: 1000, gid: 1000 }]);
  img.loop = await push('etc/loop', etc({ type: 'symlink', path: 'etc/passwd', target: '/etc/passwd' }));
  img.zeroLink = await push('etc/zero-link', etc({ type: 'symlink', path: 'etc/passwd', target: '/dev/zero' }));
  img.zeroDev = await push(
    'etc/zero-dev',
    etc({ type: 'raw', header: { name: 'etc/passwd', type: 'character-device', devmajor: 1, devminor: 5, mode: 0o644 } }),
  );
  img.fifo = await push('etc/fifo', etc({ type: 'file', path: 'etc/passwd', content: PASSWD }, { type: 'raw', header: { name: 'etc/group', type: 'fifo', mode: 0o644 } }));
  // An absolute link that climbs: inside the image it lands on the image's own copy.
  img.inImage = await push('etc/in-image', [
    { type: 'dir', path: 'etc' },
    { type: 'dir', path: 'image' },
    { type: 'file', path: 'image/passwd', content: PASSWD },
    { type: 'symlink', path: 'etc/passwd', target: '/../../../../../image/passwd' },
    { type: 'file', path: 'etc/group', content: GROUP },
  ]);
  // /etc/hosts of the image points at a host path: the bind must land inside the rootfs.
  img.hostsLink = await push('etc/hosts-link', [
    ...etc({ type: 'file', path: 'etc/passwd', content: PASSWD }),
    { type: 'symlink', path: 'etc/hosts', target: '/tmp/wharf-etc-test-evil-hosts' },
  ]);
  for (const ref of [img.base, img.loop, img.zeroLink, img.inImage]) await dockerPull(ref);
});

after(async () => {
  for (const ref of pushedToDocker) await run('docker', ['rmi', '-f', ref]).catch(() => undefined);
  await removeAllSnapshots(new NodeLayout(root)).catch(() => undefined);
  await rm(root, { recursive: true, force: true });
  await registry.destroy();
});

describe('--user against crafted /etc/passwd and /etc/group', () => {
  test('/etc/passwd -> /etc/passwd is a loop inside the image: 125, as dockerd (never the host file)', async () => {
    for (const user of [[], ['-u', 'root'], ['-u', 'app']]) {
      const w = await wharf(...user, img.loop, 'id');
      const d = await docker('run', '--rm', '--network', 'none', ...user, img.loop, 'id');
      assert.equal(w.code, 125, `wharf ${user.join(' ')}: ${w.stderr}`);
      assert.equal(d.code, 125, `docker ${user.join(' ')}: ${d.stderr}`);
      assert.match(w.stderr, /too many levels of symbolic links/);
    }
  });

  test('a symlink that climbs out of the image resolves to the image’s own file', async () => {
    const w = await wharf('-u', 'app', img.inImage, 'id');
    assert.equal(w.code, 0, w.stderr);
    assert.equal(w.stdout.toString(), 'uid=1000(app) gid=1000(app) groups=1000(app),2000(extra),4000(third)\n');
    const d = await docker('run', '--rm', '--network', 'none', '-u', 'app', img.inImage, 'id');
    assert.equal(w.stdout.toString(), d.stdout);
  });

  test('/etc/passwd -> /dev/zero: a clear 125 (dockerd: 125 as well), nothing read', async () => {
    for (const user of [[], ['-u', 'app']]) {
      const w = await wharf(...user, img.zeroLink, 'id');
      const d = await docker('run', '--rm', '--network', 'none', ...user, img.zeroLink, 'id');
      assert.equal(w.code, 125, w.stderr);
      assert.equal(d.code, 125, d.stderr);
      assert.match(w.stderr, /\/etc\/passwd in the container resolves to \/dev\/zero.*refusing to read it/);
    }
  });

  test('a character device or a FIFO in the image is refused, never opened (no hang)', async () => {
    const dev = await wharf('-u', 'app', img.zeroDev, 'id');
    assert.equal(dev.code, 125, dev.stderr);
    assert.match(dev.stderr, /\/etc\/passwd in the container is a character device, not a regular file/);
    const fifo = await wharf('-u', 'app', img.fifo, 'id');
    assert.equal(fifo.code, 125, fifo.stderr);
    assert.match(fifo.stderr, /\/etc\/group in the container is a FIFO, not a regular file/);
  });

  test('a user only the host has is not found', async () => {
    assert.match(readFileSync('/etc/passwd', 'utf8'), /^daemon:/m, 'the host has a daemon user');
    const w = await wharf('-u', 'daemon', img.loop, 'id');
    assert.equal(w.code, 125);
    const base = await wharf('-u', 'daemon', img.base, 'id');
    assert.equal(base.code, 125);
    assert.match(base.stderr, /unable to find user daemon: no matching entries in passwd file/);
  });
});

describe("groups: id inside matches docker run's", () => {
  const cases: string[][] = [
    [],
    ['-u', 'app'],
    ['-u', '1000'],
    ['-u', 'app:other'],
    ['-u', '4242'],
    ['-u', 'app', '--group-add', 'other', '--group-add', '5555', '--group-add', '2000'],
    ['-u', 'app:other', '--group-add', 'extra', '--group-add', 'app'],
    ['--group-add', 'third'],
  ];
  for (const flags of cases) {
    test(`id with ${flags.join(' ') || 'no flags'}`, async () => {
      const w = await wharf(...flags, img.base, 'id');
      const d = await docker('run', '--rm', '--network', 'none', ...flags, img.base, 'id');
      assert.equal(w.code, 0, w.stderr);
      assert.equal(d.code, 0, d.stderr);
      assert.equal(w.stdout.toString(), d.stdout);
    });
  }

  test('an unknown --group-add name is 125, as docker', async () => {
    const w = await wharf('-u', 'app', '--group-add', 'nope', img.base, 'id');
    const d = await docker('run', '--rm', '--network', 'none', '-u', 'app', '--group-add', 'nope', img.base, 'id');
    assert.equal(w.code, 125);
    assert.equal(d.code, 125);
    assert.match(w.stderr, /unable to find group nope/);
  });
});

describe('/etc/hosts, /etc/hostname, /etc/resolv.conf', () => {
  const show = 'cat /etc/hosts; echo ---; cat /etc/hostname; echo ---; cat /etc/resolv.conf';

  test("Docker's files for --network none, plus the container's hostname on loopback", async () => {
    const flags = ['-h', 'box', '--add-host', 'db:10.1.2.3', '--add-host', 'v6:fd00::5'];
    const w = await wharf(...flags, img.base, 'sh', '-c', show);
    const d = await docker('run', '--rm', '--network', 'none', ...flags, img.base, 'sh', '-c', show);
    assert.equal(w.code, 0, w.stderr);
    const [wHosts, wName, wResolv] = w.stdout.toString().split('---\n');
    const [dHosts, dName, dResolv] = d.stdout.split('---\n');
    // Docker has no address for the name without a network; here it resolves to loopback.
    assert.equal(wHosts, `${dHosts}127.0.0.1\tbox\n`);
    assert.equal(wName, dName);
    assert.equal(wName, 'box\n');
    assert.equal(wResolv, dResolv);
  });

  test('--dns, --dns-search and --dns-option give the resolv.conf docker writes', async () => {
    const flags = ['--dns', '192.0.2.53', '--dns', '2001:db8::53', '--dns-search', 'a.example', '--dns-search', 'b.example', '--dns-option', 'ndots:2', '--dns-option', 'rotate'];
    const w = await wharf(...flags, img.base, 'cat', '/etc/resolv.conf');
    const d = await docker('run', '--rm', '--network', 'none', ...flags, img.base, 'cat', '/etc/resolv.conf');
    assert.equal(w.code, 0, w.stderr);
    assert.equal(w.stdout.toString(), d.stdout);
    const only = await wharf('--dns-search', 'c.example', img.base, 'cat', '/etc/resolv.conf');
    const donly = await docker('run', '--rm', '--network', 'none', '--dns-search', 'c.example', img.base, 'cat', '/etc/resolv.conf');
    assert.equal(only.stdout.toString(), donly.stdout);
  });

  test('localhost and the hostname resolve inside (lo is up)', async () => {
    const w = await wharf('-h', 'box', img.base, 'sh', '-c', 'ping -c1 -W2 localhost && ping -c1 -W2 box && ping -c1 -W2 "$(hostname)"');
    assert.equal(w.code, 0, w.stderr + w.stdout.toString());
    assert.match(w.stdout.toString(), /PING localhost \(127\.0\.0\.1\)/);
    assert.match(w.stdout.toString(), /PING box \(127\.0\.0\.1\)/);
    assert.match(w.stdout.toString(), /1 packets transmitted, 1 packets received/);
  });

  test("writes go to the container's copy, never the host's files; --read-only makes them read-only", async () => {
    const before = readFileSync('/etc/hosts', 'utf8');
    const w = await wharf(img.base, 'sh', '-c', 'echo 10.9.9.9 added >> /etc/hosts && cat /etc/hosts');
    assert.equal(w.code, 0, w.stderr);
    assert.match(w.stdout.toString(), /10\.9\.9\.9 added/);
    assert.equal(readFileSync('/etc/hosts', 'utf8'), before);
    const ro = await wharf('--read-only', img.base, 'sh', '-c', 'echo x >> /etc/hosts');
    assert.notEqual(ro.code, 0);
    assert.match(ro.stderr, /Read-only file system/);
  });

  test('--network host: the host’s hosts file (plus --add-host) and the host’s name', async () => {
    const w = await wharf('--network', 'host', '--add-host', 'db:10.1.2.3', img.base, 'sh', '-c', show);
    assert.equal(w.code, 0, w.stderr);
    const [hosts, name] = w.stdout.toString().split('---\n');
    const hostHosts = readFileSync('/etc/hosts', 'utf8');
    assert.equal(hosts, `${hostHosts.endsWith('\n') || hostHosts === '' ? hostHosts : `${hostHosts}\n`}10.1.2.3\tdb\n`);
    assert.equal(name, `${osHostname()}\n`);
  });

  test("an image whose /etc/hosts points at a host path: the bind lands inside the rootfs", async () => {
    const evil = '/tmp/wharf-etc-test-evil-hosts';
    await rm(evil, { force: true });
    const w = await wharf(img.hostsLink, 'cat', '/etc/hosts');
    assert.equal(w.code, 0, w.stderr);
    assert.match(w.stdout.toString(), /^127\.0\.0\.1\tlocalhost$/m);
    assert.equal(existsSync(evil), false, 'nothing was created on the host');
  });

  test('bad --add-host and --dns values are usage errors (125)', async () => {
    for (const flags of [['--add-host', 'nocolon'], ['--add-host', 'h:not-an-ip'], ['--dns', 'example.com']]) {
      const w = await wharf(...flags, img.base, 'true');
      assert.equal(w.code, 125, `${flags.join(' ')}: ${w.stderr}`);
    }
  });
});
