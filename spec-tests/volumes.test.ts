/**
 * Volumes end to end, with the real docker CLI against `wharf daemon` (its own root and
 * socket) and with `wharf`'s own verbs: bind mounts (`-v /host:/ctr[:ro]`, the host
 * directory created when missing), named volumes that outlive their containers, anonymous
 * volumes that go with `--rm` and `rm -v`, the image's VOLUMEs, an empty named volume
 * filled from the image, `--volumes-from` and the backup recipe, `--tmpfs` and `--mount`,
 * the /volumes API with Docker's answers (409 for a volume in use), and destinations that
 * an image's symlinks point out of the rootfs: the mount lands inside it, as with dockerd.
 * At the end nothing of it is left mounted on the host.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { buildImage, pushImage } from './support/images.js';
import { busyboxLayer } from './support/run-node.js';
import { startTestWharf, type TestWharf } from './support/wharf.js';
import { requireCommand, ensureDockerd, run } from './support/peers.js';
import { runCommand, startTestDaemon, WHARF_BIN, type TestDaemon } from './support/daemon.js';

const APPLETS = ['sh', 'echo', 'cat', 'ls', 'touch', 'tar', 'grep', 'mkdir', 'true', 'sleep', 'stat', 'id'];
const RUN = randomBytes(4).toString('hex');

let registry: TestWharf;
let daemon: TestDaemon;
let work: string;
const img = { base: '', seeded: '', declared: '', escape: '', etcLink: '', procLink: '' };

async function ok(args: string[]): Promise<string> {
  const r = await daemon.docker(args);
  assert.equal(r.code, 0, `docker ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
  return r.stdout;
}

const wharf = (args: string[]) => runCommand(process.execPath, [WHARF_BIN, '-H', daemon.host, ...args]);

async function wharfOk(args: string[]): Promise<string> {
  const r = await wharf(args);
  assert.equal(r.code, 0, `wharf ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
  return r.stdout;
}

const volumeNames = async (): Promise<string[]> => (await ok(['volume', 'ls', '-q'])).split('\n').filter(Boolean).sort();

/** Mounts in this (the host's) mount namespace that lie under `dir`. */
const hostMountsUnder = (dir: string): string[] =>
  readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .filter((l) => l.split(' ')[4]?.startsWith(dir));

before(async () => {
  await requireCommand('docker', 'docker.io');
  await requireCommand('busybox', 'busybox-static');
  registry = await startTestWharf();
  work = await mkdtemp(join(tmpdir(), 'wharf-volumes-'));
  const push = async (repo: string, extra: Parameters<typeof busyboxLayer>[1], cfg: Parameters<typeof buildImage>[1] = {}) => {
    const layer = await busyboxLayer(APPLETS, [{ type: 'dir', path: 'tmp', mode: 0o1777 }, { type: 'dir', path: 'etc' }, ...(extra ?? [])]);
    await pushImage(registry.url, repo, RUN, buildImage([layer], { Cmd: ['sh'], Env: ['PATH=/bin'], ...cfg }));
    return `${registry.hostPort}/${repo}:${RUN}`;
  };
  img.base = await push('vol/base', []);
  img.seeded = await push('vol/seeded', [
    { type: 'dir', path: 'seed', mode: 0o750, uid: 1234, gid: 4321 },
    { type: 'file', path: 'seed/hello', content: 'from the image\n', mode: 0o640, uid: 1234, gid: 4321 },
    { type: 'dir', path: 'seed/sub' },
    { type: 'symlink', path: 'seed/sub/link', target: '/etc/shadow' },
  ]);
  img.declared = await push('vol/declared', [{ type: 'dir', path: 'var/lib/db' }, { type: 'file', path: 'var/lib/db/init', content: 'initial\n' }], { Volumes: { '/var/lib/db': {} } });
  // Destinations an image points out of its rootfs: a climbing relative link and an absolute one.
  img.escape = await push('vol/escape', [{ type: 'symlink', path: 'data', target: '../../../../../../tmp' }]);
  img.etcLink = await push('vol/etc-link', [{ type: 'symlink', path: 'data', target: '/etc' }, { type: 'file', path: 'etc/image-file', content: 'x\n' }]);
  img.procLink = await push('vol/proc-link', [{ type: 'symlink', path: 'p', target: '/proc' }]);
  daemon = await startTestDaemon({ registry: registry.hostPort });
  for (const ref of Object.values(img)) {
    const r = await runCommand(process.execPath, [WHARF_BIN, 'pull', '--root', daemon.root, ref]);
    assert.equal(r.code, 0, r.stderr);
  }
});

after(async () => {
  if (daemon) {
    await daemon.destroy({ volumes: true });
  }
  await rm(work, { recursive: true, force: true }).catch(() => undefined);
  await registry?.destroy();
});

describe('bind mounts', () => {
  test('-v /host:/ctr: the container writes the host directory; a missing host directory is created', async () => {
    const host = join(work, 'bind', 'made-by-v');
    assert.equal(existsSync(host), false);
    await ok(['run', '--rm', '-v', `${host}:/data`, img.base, 'sh', '-c', 'echo written > /data/f && cat /data/f']);
    assert.equal(await readFile(join(host, 'f'), 'utf8'), 'written\n');
    // A file onto a file.
    const file = join(work, 'bind', 'one-file');
    await writeFile(file, 'a file\n');
    assert.equal(await ok(['run', '--rm', '-v', `${file}:/etc/one:ro`, img.base, 'cat', '/etc/one']), 'a file\n');
  });

  test(':ro refuses writes (EROFS) and :rw allows them; inspect shows the Mounts as Docker does', async () => {
    const host = join(work, 'bind', 'ro');
    const r = await daemon.docker(['run', '--rm', '-v', `${host}:/data:ro`, img.base, 'sh', '-c', 'echo x > /data/f']);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /Read-only file system/);
    assert.equal(existsSync(join(host, 'f')), false);
    await ok(['create', '--name', `b-${RUN}`, '-v', `${host}:/data:rw`, '-v', `${join(work, 'bind', 'ro2')}:/ro2:ro`, img.base, 'true']);
    // The docker CLI sends -v in no set order: compare by destination.
    const mounts = (JSON.parse(await ok(['inspect', '--format', '{{json .Mounts}}', `b-${RUN}`])) as Array<{ Destination: string }>).sort((a, b) => a.Destination.localeCompare(b.Destination));
    assert.deepEqual(mounts, [
      { Type: 'bind', Source: host, Destination: '/data', Mode: 'rw', RW: true, Propagation: 'rprivate' },
      { Type: 'bind', Source: join(work, 'bind', 'ro2'), Destination: '/ro2', Mode: 'ro', RW: false, Propagation: 'rprivate' },
    ]);
    assert.deepEqual((JSON.parse(await ok(['inspect', '--format', '{{json .HostConfig.Binds}}', `b-${RUN}`])) as string[]).sort(), [`${host}:/data:rw`, `${join(work, 'bind', 'ro2')}:/ro2:ro`].sort());
    await ok(['rm', `b-${RUN}`]);
  });

  test('--mount type=bind needs the source to exist, in Docker words; bad specs are 400s', async () => {
    const missing = join(work, 'bind', 'not-there');
    const r = await daemon.docker(['run', '--rm', '--mount', `type=bind,source=${missing},target=/x`, img.base, 'true']);
    assert.equal(r.code, 125);
    assert.match(r.stderr, new RegExp(`bind source path does not exist: ${missing}`));
    assert.equal(existsSync(missing), false);
    assert.equal(await ok(['ps', '-aq']), '', 'refused at create: no container left behind');
    const rel = await daemon.api('POST', '/containers/create', { Image: img.base, HostConfig: { Binds: ['/tmp:relative'] } });
    assert.equal(rel.status, 400);
    assert.match(JSON.parse(rel.body).message, /mount path must be absolute/);
    const root = await daemon.api('POST', '/containers/create', { Image: img.base, HostConfig: { Binds: ['/tmp:/'] } });
    assert.equal(root.status, 400);
    assert.match(JSON.parse(root.body).message, /destination can't be '\/'/);
    const dup = await daemon.api('POST', '/containers/create', { Image: img.base, HostConfig: { Binds: ['/tmp:/x', 'v1:/x'] } });
    assert.equal(dup.status, 400);
    assert.match(JSON.parse(dup.body).message, /Duplicate mount point: \/x/);
    const mode = await daemon.api('POST', '/containers/create', { Image: img.base, HostConfig: { Binds: ['/tmp:/x:bogus'] } });
    assert.equal(mode.status, 400);
    assert.match(JSON.parse(mode.body).message, /invalid mode: bogus/);
    const name = await daemon.api('POST', '/containers/create', { Image: img.base, HostConfig: { Binds: ['bad/name:/x'] } });
    assert.equal(name.status, 400);
    assert.match(JSON.parse(name.body).message, /includes invalid characters for a local volume name/);
  });

  test('bind mounts are private: a mount made on the host under the source later does not show inside', async () => {
    const host = join(work, 'bind', 'propagation');
    const name = `prop-${RUN}`;
    await ok(['run', '-d', '--name', name, '-v', `${host}:/data`, img.base, 'sleep', '300']);
    const sub = join(host, 'sub');
    await run('mkdir', ['-p', sub]);
    await run('mount', ['-t', 'tmpfs', '-o', 'size=1m', `wharf-prop-${RUN}`, sub]);
    try {
      await writeFile(join(sub, 'on-host-mount'), 'x');
      const inside = await ok(['exec', name, 'sh', '-c', 'ls /data/sub; grep -c " /data/sub " /proc/mounts || true']);
      assert.equal(inside, '0\n', 'the host mount did not propagate into the container');
    } finally {
      await run('umount', [sub]);
      await ok(['rm', '-f', name]);
    }
  });

  test('no host fd reaches the program: only 0, 1, 2 are open in the container', async () => {
    const host = join(work, 'bind', 'fds');
    const out = await ok(['run', '--rm', '-v', `${host}:/a`, '-v', `${host}:/b:ro`, '-v', `fdvol-${RUN}:/c`, img.base, 'ls', '/proc/self/fd']);
    // ls itself opens the directory it lists (fd 3).
    assert.deepEqual(out.split('\n').filter(Boolean).sort(), ['0', '1', '2', '3']);
    await ok(['volume', 'rm', `fdvol-${RUN}`]);
  });
});

describe('volumes', () => {
  test("a named volume's data survives rm and is seen by the next container", async () => {
    const vol = `data-${RUN}`;
    await ok(['run', '--name', `writer-${RUN}`, '-v', `${vol}:/data`, img.base, 'sh', '-c', 'echo kept > /data/row']);
    assert.equal((await ok(['ps', '-a', '--filter', `volume=${vol}`, '--format', '{{.Names}}'])).trim(), `writer-${RUN}`);
    assert.equal(await ok(['ps', '-a', '--filter', 'volume=nosuch-volume', '--format', '{{.Names}}']), '');
    await ok(['rm', '-v', `writer-${RUN}`]);
    assert.ok((await volumeNames()).includes(vol), 'rm -v keeps named volumes');
    assert.equal(await ok(['run', '--rm', '-v', `${vol}:/data:ro`, img.base, 'cat', '/data/row']), 'kept\n');
    const info = JSON.parse(await ok(['volume', 'inspect', vol])) as Array<Record<string, unknown>>;
    assert.equal(info.length, 1);
    assert.deepEqual(Object.keys(info[0]!).sort(), ['CreatedAt', 'Driver', 'Labels', 'Mountpoint', 'Name', 'Options', 'Scope']);
    assert.equal(info[0]!.Driver, 'local');
    assert.equal(info[0]!.Mountpoint, join(daemon.root, 'volumes', vol, '_data'));
    assert.equal(await readFile(join(daemon.root, 'volumes', vol, '_data', 'row'), 'utf8'), 'kept\n');
    await ok(['volume', 'rm', vol]);
    assert.ok(!(await volumeNames()).includes(vol));
    // docker events saw the volume's life.
    const events = await ok(['events', '--since', '0', '--until', String(Math.ceil(Date.now() / 1000) + 1), '--filter', 'type=volume', '--format', '{{.Actor.ID}} {{.Action}}']);
    const mine = events.split('\n').filter((l) => l.startsWith(`${vol} `)).map((l) => l.slice(vol.length + 1));
    assert.deepEqual(mine, ['create', 'mount', 'unmount', 'mount', 'unmount', 'destroy']);
  });

  test('volume rm of a volume in use: 409 with Docker\'s message; force does not override it', async () => {
    const vol = `busy-${RUN}`;
    const id = (await ok(['create', '-v', `${vol}:/data`, img.base, 'true'])).trim();
    const r = await daemon.docker(['volume', 'rm', vol]);
    assert.equal(r.code, 1);
    assert.equal(r.stderr.trim(), `Error response from daemon: remove ${vol}: volume is in use - [${id}]`);
    const api = await daemon.api('DELETE', `/volumes/${vol}?force=1`);
    assert.equal(api.status, 409);
    const dangling = (await ok(['volume', 'ls', '-q', '-f', 'dangling=true'])).split('\n');
    assert.ok(!dangling.includes(vol));
    await ok(['rm', id]);
    assert.ok((await ok(['volume', 'ls', '-q', '-f', 'dangling=true'])).split('\n').includes(vol));
    await ok(['volume', 'rm', vol]);
    const gone = await daemon.api('DELETE', `/volumes/${vol}`);
    assert.equal(gone.status, 404);
    assert.equal(JSON.parse(gone.body).message, `get ${vol}: no such volume`);
    assert.equal((await daemon.api('DELETE', `/volumes/${vol}?force=1`)).status, 204);
  });

  test('anonymous volumes go with --rm and with rm -v; the image VOLUME is one', async () => {
    const before = await volumeNames();
    await ok(['run', '--rm', '-v', '/scratch', img.base, 'sh', '-c', 'echo x > /scratch/f']);
    assert.deepEqual(await volumeNames(), before, '--rm removed the anonymous volume');
    await ok(['run', '--name', `anon-${RUN}`, '-v', '/scratch', img.declared, 'cat', '/var/lib/db/init']);
    const mounts = JSON.parse(await ok(['inspect', '--format', '{{json .Mounts}}', `anon-${RUN}`])) as Array<Record<string, unknown>>;
    assert.deepEqual(
      mounts.map((m) => [m.Type, m.Destination, m.Driver, m.RW]),
      [
        ['volume', '/scratch', 'local', true],
        ['volume', '/var/lib/db', 'local', true],
      ],
    );
    for (const m of mounts) assert.match(m.Name as string, /^[0-9a-f]{64}$/);
    // The image's content at its VOLUME was copied in.
    assert.equal(await readFile(join(mounts[1]!.Source as string, 'init'), 'utf8'), 'initial\n');
    const created = (await volumeNames()).filter((n) => !before.includes(n)).sort();
    assert.deepEqual(created, mounts.map((m) => m.Name as string).sort());
    await ok(['rm', '-v', `anon-${RUN}`]);
    assert.deepEqual(await volumeNames(), before);
  });

  test('an empty named volume is filled from the image (owners, modes, links kept); a volume with data is not', async () => {
    const vol = `seed-${RUN}`;
    const out = await ok(['run', '--rm', '-v', `${vol}:/seed`, img.seeded, 'sh', '-c', 'cat /seed/hello; stat -c "%u:%g %a" /seed /seed/hello; ls -l /seed/sub']);
    assert.match(out, /^from the image\n1234:4321 750\n1234:4321 640\n/);
    assert.match(out, /link -> \/etc\/shadow/);
    const data = join(daemon.root, 'volumes', vol, '_data');
    assert.equal(await readFile(join(data, 'hello'), 'utf8'), 'from the image\n');
    await ok(['run', '--rm', '-v', `${vol}:/seed`, img.seeded, 'sh', '-c', 'echo changed > /seed/hello; rm /seed/sub/link']);
    assert.equal(await ok(['run', '--rm', '-v', `${vol}:/seed`, img.seeded, 'cat', '/seed/hello']), 'changed\n');
    const nocopy = `nocopy-${RUN}`;
    assert.equal(await ok(['run', '--rm', '-v', `${nocopy}:/seed:nocopy`, img.seeded, 'ls', '-A', '/seed']), '');
    await ok(['volume', 'rm', vol, nocopy]);
  });

  test('--volumes-from shares; the backup recipe writes a tar with the data', async () => {
    await ok(['run', '--name', `db-${RUN}`, '-v', '/data', img.base, 'sh', '-c', 'mkdir -p /data/db && echo row1 > /data/db/table']);
    assert.equal(await ok(['run', '--rm', '--volumes-from', `db-${RUN}`, img.base, 'cat', '/data/db/table']), 'row1\n');
    const ro = await daemon.docker(['run', '--rm', '--volumes-from', `db-${RUN}:ro`, img.base, 'sh', '-c', 'echo x > /data/db/table']);
    assert.notEqual(ro.code, 0);
    assert.match(ro.stderr, /Read-only file system/);
    const backup = await mkdtemp(join(work, 'backup-'));
    await ok(['run', '--rm', '--volumes-from', `db-${RUN}`, '-v', `${backup}:/backup`, img.base, 'tar', 'cvf', '/backup/backup.tar', '/data']);
    const entries = (await run('tar', ['tf', join(backup, 'backup.tar')])).split('\n').filter(Boolean);
    assert.deepEqual(entries.sort(), ['data/', 'data/db/', 'data/db/table']);
    const extracted = await mkdtemp(join(work, 'restore-'));
    await run('tar', ['xf', join(backup, 'backup.tar'), '-C', extracted]);
    assert.equal(await readFile(join(extracted, 'data', 'db', 'table'), 'utf8'), 'row1\n');
    // The volume stays while another container refers to it; rm -v of the last one removes it.
    const vol = (JSON.parse(await ok(['inspect', '--format', '{{json .Mounts}}', `db-${RUN}`])) as Array<{ Name: string }>)[0]!.Name;
    await ok(['create', '--name', `db2-${RUN}`, '--volumes-from', `db-${RUN}`, img.base, 'true']);
    await ok(['rm', '-v', `db-${RUN}`]);
    assert.ok((await volumeNames()).includes(vol));
    await ok(['rm', '-v', `db2-${RUN}`]);
    assert.ok(!(await volumeNames()).includes(vol));
    const missing = await daemon.docker(['run', '--rm', '--volumes-from', `nosuch-${RUN}`, img.base, 'true']);
    assert.equal(missing.code, 125);
    assert.match(missing.stderr, /No such container: nosuch-/);
  });
});

describe('tmpfs and --mount', () => {
  test('--tmpfs and --mount type=tmpfs: fresh tmpfs with Docker\'s default flags and the given size', async () => {
    const out = await ok(['run', '--rm', '--tmpfs', '/run:size=1m,mode=1770', '--mount', 'type=tmpfs,target=/scratch,tmpfs-size=2m', img.base, 'sh', '-c', 'grep -E " /(run|scratch) " /proc/mounts; stat -c %a /run']);
    const lines = out.trim().split('\n');
    assert.equal(lines.pop(), '1770');
    lines.sort();
    assert.match(lines[0]!, /^tmpfs \/run tmpfs rw,nosuid,nodev,noexec,relatime,size=1024k,mode=1770/);
    assert.match(lines[1]!, /^tmpfs \/scratch tmpfs rw,nosuid,nodev,noexec,relatime,size=2048k/);
    const bad = await daemon.docker(['run', '--rm', '--tmpfs', '/run:bogus=1', img.base, 'true']);
    assert.equal(bad.code, 125);
    assert.match(bad.stderr, /invalid tmpfs option/);
  });

  test('--mount type=volume and type=bind,readonly', async () => {
    const host = join(work, 'mount-bind');
    await ok(['run', '--rm', '-v', `${host}:/h`, img.base, 'touch', '/h/present']);
    const out = await ok([
      'run',
      '--rm',
      '--mount',
      `type=volume,source=mnt-${RUN},target=/v`,
      '--mount',
      `type=bind,source=${host},target=/h,readonly`,
      img.base,
      'sh',
      '-c',
      'echo v > /v/f && cat /v/f && ls /h && (touch /h/new 2>&1 || true)',
    ]);
    assert.match(out, /^v\npresent\n.*Read-only file system/s);
    await ok(['volume', 'rm', `mnt-${RUN}`]);
  });
});

describe('destinations resolved inside the rootfs', () => {
  test('/data -> ../../../tmp in the image: the mount lands on the container\'s /tmp, nothing on the host', async () => {
    const marker = `wharf-vol-escape-${RUN}`;
    const out = await ok(['run', '--rm', '-v', `esc-${RUN}:/data`, img.escape, 'sh', '-c', `echo inside > /data/${marker}; cat /tmp/${marker}; grep -c " /tmp " /proc/mounts`]);
    assert.equal(out, 'inside\n1\n');
    assert.equal(existsSync(join('/tmp', marker)), false, 'nothing appeared in the host /tmp');
    assert.equal(await readFile(join(daemon.root, 'volumes', `esc-${RUN}`, '_data', marker), 'utf8'), 'inside\n');
    const host = join(work, 'escape-bind');
    await ok(['run', '--rm', '-v', `${host}:/data/sub`, img.escape, 'sh', '-c', 'echo b > /tmp/sub/f']);
    assert.equal(await readFile(join(host, 'f'), 'utf8'), 'b\n');
    assert.equal(existsSync('/tmp/sub/f'), false);
    await ok(['volume', 'rm', `esc-${RUN}`]);
  });

  test('nothing is mounted over the container\'s /proc, not even through a link in the image', async () => {
    const host = join(work, 'proc-bind');
    const direct = await daemon.docker(['run', '--rm', '-v', `${host}:/proc/sys`, img.base, 'true']);
    assert.equal(direct.code, 125);
    assert.match(direct.stderr, /\/proc\/sys cannot be mounted because it is inside \/proc/);
    const viaLink = await daemon.docker(['run', '--rm', '--tmpfs', '/p/sys', img.procLink, 'true']);
    assert.equal(viaLink.code, 125);
    assert.match(viaLink.stderr, /\/p\/sys cannot be mounted because it is inside \/proc/);
  });

  test('/data -> /etc in the image: the mount covers the image\'s /etc, as with dockerd', async () => {
    const host = join(work, 'etc-bind');
    const out = await ok(['run', '--rm', '-v', `${host}:/data`, img.etcLink, 'sh', '-c', 'touch /etc/written-here; ls /etc']);
    assert.ok(!out.includes('image-file'), out);
    assert.ok(existsSync(join(host, 'written-here')));
    await ensureDockerd();
    await run('docker', ['pull', '-q', img.etcLink], { timeout: 120_000 });
    try {
      const dockerHost = await mkdtemp(join(work, 'dockerd-etc-'));
      const viaDocker = await run('docker', ['run', '--rm', '--network', 'none', '-v', `${dockerHost}:/data`, img.etcLink, 'sh', '-c', 'touch /etc/written-here; ls /etc']);
      assert.ok(!viaDocker.includes('image-file'), viaDocker);
      assert.ok(readdirSync(dockerHost).includes('written-here'), 'dockerd mounts over the image /etc as well');
      // The same -v flags on both: inspect's Mounts have one shape.
      const flags = (n: string) => ['--name', n, '--network', 'none', '-v', `${n}-named:/n`, '-v', '/anon', '-v', `${dockerHost}:/b:ro`, img.etcLink, 'true'];
      const shape = (json: string) =>
        (JSON.parse(json) as Array<Record<string, unknown>>)
          .map((m): Record<string, unknown> => ({ ...m, Name: m.Type === 'volume' ? (/^[0-9a-f]{64}$/.test(m.Name as string) ? 'anonymous' : 'named') : undefined, Source: typeof m.Source }))
          .sort((a, b) => String(a.Destination).localeCompare(String(b.Destination)));
      const name = `wharf-vol-cmp-${RUN}`;
      await run('docker', ['create', ...flags(name)]);
      try {
        const theirs = shape(await run('docker', ['inspect', '--format', '{{json .Mounts}}', name]));
        await ok(['create', ...flags(name)]);
        const ours = shape(await ok(['inspect', '--format', '{{json .Mounts}}', name]));
        assert.deepEqual(ours, theirs);
        // volume ls and the in-use refusal read the same on both.
        const lsTheirs = await runCommand('docker', ['volume', 'ls', '-f', `name=${name}-named`]);
        assert.equal(await ok(['volume', 'ls', '-f', `name=${name}-named`]), lsTheirs.stdout);
        const idOf = async (r: Promise<string>) => (await r).trim();
        const rmTheirs = await runCommand('docker', ['volume', 'rm', `${name}-named`]);
        const rmOurs = await daemon.docker(['volume', 'rm', `${name}-named`]);
        assert.equal(rmTheirs.code, 1);
        assert.equal(rmOurs.code, rmTheirs.code);
        const theirId = await idOf(run('docker', ['inspect', '--format', '{{.Id}}', name]));
        const ourId = await idOf(ok(['inspect', '--format', '{{.Id}}', name]));
        assert.equal(rmOurs.stderr.replace(ourId, 'ID'), rmTheirs.stderr.replace(theirId, 'ID'));
        await ok(['rm', '-v', name]);
        await ok(['volume', 'rm', `${name}-named`]);
      } finally {
        await run('docker', ['rm', '-v', name]).catch(() => undefined);
        await run('docker', ['volume', 'rm', `${name}-named`]).catch(() => undefined);
      }
    } finally {
      await run('docker', ['rmi', '-f', img.etcLink]).catch(() => undefined);
    }
  });
});

describe('the volume verbs and the API', () => {
  test('wharf volume create|ls|inspect|rm|prune and wharf run -v', async () => {
    const vol = `w-${RUN}`;
    assert.equal(await wharfOk(['volume', 'create', '--label', 'team=a', vol]), `${vol}\n`);
    assert.match(await wharfOk(['volume', 'ls']), new RegExp(`^DRIVER {4}VOLUME NAME\\n(.*\\n)*local {5}${vol}\\n`));
    assert.equal(await wharfOk(['volume', 'ls', '-q', '-f', `name=w-${RUN}`]), `${vol}\n`);
    assert.equal(await wharfOk(['volume', 'inspect', '--format', '{{.Name}} {{.Driver}} {{.Labels.team}} {{.Scope}}', vol]), `${vol} local a local\n`);
    assert.equal((await wharf(['run', '--rm', '-v', `${vol}:/v`, img.base, 'sh', '-c', 'echo w > /v/f; cat /v/f'])).stdout, 'w\n');
    const busy = await wharf(['create', '--name', `wc-${RUN}`, '-v', `${vol}:/v`, img.base]);
    assert.equal(busy.code, 0, busy.stderr);
    const refused = await wharf(['volume', 'rm', vol]);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, new RegExp(`remove ${vol}: volume is in use - \\[${busy.stdout.trim()}\\]`));
    await wharfOk(['rm', `wc-${RUN}`]);
    const unused = `unused-${RUN}`;
    await wharfOk(['volume', 'create', unused]);
    const pruned = await wharfOk(['volume', 'prune', '-f', '--filter', 'label=team=a']);
    assert.match(pruned, new RegExp(`^Deleted Volumes:\\n${vol}\\n\\nTotal reclaimed space: 2B\\n$`));
    assert.equal(await wharfOk(['volume', 'rm', unused]), `${unused}\n`);
    const help = await wharf(['volume', 'ls', '--help']);
    assert.match(help.stdout, /--filter/);
  });

  test('API: create with a random name, list filters, bad names and drivers', async () => {
    const made = await daemon.api('POST', '/volumes/create', {});
    assert.equal(made.status, 201);
    const v = JSON.parse(made.body) as { Name: string; Mountpoint: string; Scope: string };
    assert.match(v.Name, /^[0-9a-f]{64}$/);
    const again = await daemon.api('POST', '/volumes/create', { Name: v.Name });
    assert.equal(again.status, 201, 'creating an existing volume answers it');
    const listed = JSON.parse((await daemon.api('GET', `/volumes?filters=${encodeURIComponent(JSON.stringify({ name: [v.Name] }))}`)).body) as { Volumes: Array<{ Name: string }> };
    assert.deepEqual(listed.Volumes.map((x) => x.Name), [v.Name]);
    const bad = await daemon.api('POST', '/volumes/create', { Name: '../x' });
    assert.equal(bad.status, 400);
    const driver = await daemon.api('POST', '/volumes/create', { Name: 'x1', Driver: 'nfs' });
    assert.equal(driver.status, 404);
    assert.equal(JSON.parse(driver.body).message, 'plugin "nfs" not found');
    const filter = await daemon.api('GET', `/volumes?filters=${encodeURIComponent('{"bogus":["1"]}')}`);
    assert.equal(filter.status, 400);
    assert.equal((await daemon.api('DELETE', `/volumes/${v.Name}`)).status, 204);
  });

  test('after rm -f of everything: no mount of the node is left on the host, only the volumes asked to stay', async () => {
    const vol = `stay-${RUN}`;
    await ok(['run', '-d', '--name', `long-${RUN}`, '-v', `${vol}:/data`, '-v', '/anon', '--tmpfs', '/t', '-v', `${join(work, 'bind', 'long')}:/b`, img.base, 'sleep', '300']);
    assert.ok(hostMountsUnder(daemon.root).length > 0, 'the running container has its rootfs mounted');
    const ids = (await ok(['ps', '-aq'])).split('\n').filter(Boolean);
    await ok(['rm', '-f', '-v', ...ids]);
    assert.deepEqual(hostMountsUnder(daemon.dir), []);
    assert.deepEqual(hostMountsUnder(work), []);
    assert.deepEqual(await volumeNames(), [vol]);
    // A named volume outlives a crash of the daemon too.
    await daemon.stop('SIGKILL');
    await daemon.start();
    assert.deepEqual(await volumeNames(), [vol]);
    await ok(['volume', 'rm', vol]);
    assert.deepEqual(await volumeNames(), []);
  });
});
