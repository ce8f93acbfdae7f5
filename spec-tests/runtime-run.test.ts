/**
 * `wharf run` end to end, as root, with real containers: a static probe binary compiled
 * here (gcc -static), built into images, pushed to a Wharf registry on an ephemeral port,
 * and run through the real CLI (dist/bin/wharf.js run --root <tmp>), which pulls,
 * mounts an overlay rootfs, creates cgroups and clones into new namespaces.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildImage, buildLayer, compileStatic, pushImage, type BuiltLayer } from './support/images.js';
import { startTestWharf, type TestWharf } from './support/wharf.js';
import { PROBE_SOURCE } from './support/probe.js';
import { createCgroupDriver } from '../runtime/cgroups/detect.js';
import { NodeLayout } from '../runtime/layout.js';
import { removeAllSnapshots } from '../runtime/layers/snapshots.js';

const WHARF = join(dirname(fileURLToPath(import.meta.url)), '..', 'bin', 'wharf.js');

interface Ran {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

let registry: TestWharf;
let root: string;
let scratch: string;
/** image references, by role */
const img = { probe: '', overlay: '', escape: '', noCmd: '' };

function wharfRun(args: string[], opts: { env?: NodeJS.ProcessEnv; onStdout?: (text: string, child: ReturnType<typeof spawn>) => void } = {}): Promise<Ran> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [WHARF, 'run', '--root', root, ...args], {
      env: opts.env ?? process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => {
      stdout += c.toString();
      opts.onStdout?.(stdout, child);
    });
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

const lines = (s: string): string[] => s.split('\n').filter((l) => l !== '');
const field = (status: string, name: string): string => new RegExp(`^${name}:[ \\t]*(.*)$`, 'm').exec(status)?.[1]?.trim() ?? '';

function mountsUnder(dir: string): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .filter((l) => l.split(' ')[4]?.startsWith(dir));
}

before(async () => {
  registry = await startTestWharf();
  root = await mkdtemp(join(tmpdir(), 'wharf-run-node-'));
  scratch = await mkdtemp(join(tmpdir(), 'wharf-run-scratch-'));
  const probe = await readFile(await compileStatic(PROBE_SOURCE, 'probe'));
  const probeLayer: BuiltLayer = await buildLayer([
    { type: 'dir', path: 'bin' },
    { type: 'file', path: 'bin/probe', content: probe, mode: 0o755 },
  ]);
  const etc = await buildLayer([
    { type: 'dir', path: 'etc' },
    { type: 'file', path: 'etc/passwd', content: 'root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\n' },
    { type: 'file', path: 'etc/group', content: 'root:x:0:\napp:x:1000:\nextra:x:2000:app\nother:x:3000:root\n' },
    { type: 'dir', path: 'home/app', uid: 1000, gid: 1000 },
  ]);
  const push = async (repo: string, layers: BuiltLayer[], config: Parameters<typeof buildImage>[1]) => {
    await pushImage(registry.url, repo, 'v1', buildImage(layers, config));
    return `${registry.hostPort}/${repo}:v1`;
  };
  img.probe = await push('run/probe', [probeLayer, etc], {
    Entrypoint: ['/bin/probe'],
    Cmd: ['argv', 'default'],
    Env: ['FROM_IMAGE=1', 'OVERRIDE=image', 'PATH=/usr/local/bin:/bin'],
    WorkingDir: '/srv/app',
    User: 'app',
  });
  img.noCmd = await push('run/nocmd', [probeLayer], {});
  // Docker's result for: a file deleted by an upper layer, a directory made opaque.
  img.overlay = await push(
    'run/overlay',
    [
      probeLayer,
      await buildLayer([
        { type: 'dir', path: 'etc' },
        { type: 'file', path: 'etc/gone', content: 'x' },
        { type: 'file', path: 'etc/kept', content: 'kept' },
        { type: 'dir', path: 'var/cache' },
        { type: 'file', path: 'var/cache/old', content: 'x' },
        { type: 'dir', path: 'var/cache/sub' },
      ]),
      await buildLayer([
        { type: 'whiteout', path: 'etc/gone' },
        { type: 'dir', path: 'var/cache' },
        { type: 'opaque', path: 'var/cache' },
        { type: 'file', path: 'var/cache/new', content: 'x' },
      ]),
    ],
    { Entrypoint: ['/bin/probe'], Cmd: ['ls', '/etc', '/var/cache'] },
  );
  img.escape = await push(
    'run/escape',
    [probeLayer, await buildLayer([{ type: 'raw', header: { name: '../escaped-by-layer', type: 'file', mode: 0o644 }, content: Buffer.from('pwned') }])],
    { Entrypoint: ['/bin/probe'] },
  );
});

after(async () => {
  await removeAllSnapshots(new NodeLayout(root)).catch(() => undefined);
  await rm(root, { recursive: true, force: true });
  await rm(scratch, { recursive: true, force: true });
  await registry.destroy();
});

describe('wharf run: command line, output and exit codes', () => {
  test('pulls a missing image, runs Entrypoint + Cmd, and exits with the program', async () => {
    const r = await wharfRun(['--rm', img.probe]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, '/bin/probe|argv|default\n');
    assert.match(r.stderr, /Unable to find image .* locally/);
    const again = await wharfRun(['--rm', img.probe]);
    assert.doesNotMatch(again.stderr, /Unable to find image/);
  });

  test('exit codes propagate', async () => {
    const r = await wharfRun(['--rm', img.probe, 'exit', '7']);
    assert.equal(r.code, 7, r.stderr);
  });

  test('args replace Cmd and keep the Entrypoint', async () => {
    const r = await wharfRun(['--rm', img.probe, 'argv', 'x', '--not-a-wharf-flag']);
    assert.equal(r.stdout, '/bin/probe|argv|x|--not-a-wharf-flag\n');
  });

  test('--entrypoint replaces the Entrypoint and drops the image Cmd', async () => {
    const alone = await wharfRun(['--rm', '--entrypoint', '/bin/probe', img.probe]);
    assert.equal(alone.stdout, '/bin/probe\n');
    // resolved through the container's PATH (the image sets PATH=/usr/local/bin:/bin)
    const withArgs = await wharfRun(['--rm', '--entrypoint', 'probe', img.probe, 'argv', 'z']);
    assert.equal(withArgs.stdout, 'probe|argv|z\n', withArgs.stderr);
  });

  test('an image without Entrypoint and Cmd needs a command', async () => {
    const none = await wharfRun(['--rm', img.noCmd]);
    assert.equal(none.code, 125);
    assert.match(none.stderr, /no command specified/);
    const given = await wharfRun(['--rm', img.noCmd, '/bin/probe', 'argv', 'ok']);
    assert.equal(given.stdout, '/bin/probe|argv|ok\n');
  });

  test('a missing program exits 127, a non-executable one 126', async () => {
    const missing = await wharfRun(['--rm', '--entrypoint', 'no-such-program', img.probe]);
    assert.equal(missing.code, 127);
    assert.match(missing.stderr, /^wharf run: .*exec.*ENOENT/m);
    const notExec = await wharfRun(['--rm', '--entrypoint', '/etc/passwd', img.probe]);
    assert.equal(notExec.code, 126);
  });

  test('bad flags exit 125 with a one-line message', async () => {
    for (const [args, msg] of [
      [['--memory', '12x'], /invalid size for --memory/],
      [['--network', 'bridge'], /bridge is not supported/],
      [['--network', 'weird'], /unknown network/],
      [['--cpus', '99'], /range of CPUs/],
      [['-w', 'relative'], /absolute path/],
      [['--memory-swap', '1g'], /memory limit/],
    ] as const) {
      const r = await wharfRun(['--rm', ...args, img.probe]);
      assert.equal(r.code, 125, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, msg);
      assert.equal(lines(r.stderr).length, 1, r.stderr);
    }
    const noImage = await wharfRun(['--rm', `${registry.hostPort}/run/absent:v1`]);
    assert.equal(noImage.code, 125);
    assert.match(noImage.stderr, /^wharf run: pulling .*absent/m);
    const badRef = await wharfRun(['--rm', 'BAD::ref']);
    assert.equal(badRef.code, 125);
    assert.match(badRef.stderr, /^wharf run: invalid image reference/);
    assert.doesNotMatch(badRef.stderr, /Unable to find image/);
  });
});

describe('wharf run: isolation', () => {
  test('the container is PID 1 and sees no host process', async () => {
    const r = await wharfRun(['--rm', img.probe, 'pid']);
    assert.deepEqual(lines(r.stdout), ['pid=1', 'proc=1']);
  });

  test('hostname: the short container ID by default, -h sets it', async () => {
    const cidfile = join(scratch, 'cid-hostname');
    const dflt = await wharfRun(['--rm', '--cidfile', cidfile, img.probe, 'hostname']);
    assert.equal(dflt.stdout.trim(), (await readFile(cidfile, 'utf8')).slice(0, 12));
    const set = await wharfRun(['--rm', '-h', 'box1', img.probe, 'hostname']);
    assert.equal(set.stdout, 'box1\n');
  });

  test('env: image Env, then --env-file, then -e (KEY alone takes the host value); HOSTNAME and HOME set', async () => {
    const envFile = join(scratch, 'env.list');
    await writeFile(envFile, '# comment\n\nFILE_VAR=from file\nOVERRIDE=file\nFROM_HOST_FILE\n');
    const r = await wharfRun(['--rm', '-h', 'envbox', '--env-file', envFile, '-e', 'OVERRIDE=cli', '-e', 'FROM_HOST', '-e', 'UNSET_ON_HOST', img.probe, 'env'], {
      env: { ...process.env, FROM_HOST: 'host value', FROM_HOST_FILE: 'host file value', UNSET_ON_HOST: undefined },
    });
    assert.equal(r.code, 0, r.stderr);
    const env = Object.fromEntries(lines(r.stdout).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
    assert.deepEqual(env, {
      PATH: '/usr/local/bin:/bin',
      HOSTNAME: 'envbox',
      FROM_IMAGE: '1',
      OVERRIDE: 'cli',
      FILE_VAR: 'from file',
      FROM_HOST_FILE: 'host file value',
      FROM_HOST: 'host value',
      HOME: '/home/app',
    });
  });

  test("capabilities match Docker's default set; no_new_privs stays off like Docker", async () => {
    const r = await wharfRun(['--rm', '-u', 'root', img.probe, 'status']);
    assert.equal(field(r.stdout, 'CapEff'), '00000000a80425fb');
    assert.equal(field(r.stdout, 'CapBnd'), '00000000a80425fb');
    assert.equal(field(r.stdout, 'NoNewPrivs'), '0');
  });

  test('--network none leaves only lo; --network host shares the host interfaces', async () => {
    const none = await wharfRun(['--rm', '--network', 'none', img.probe, 'netdev']);
    assert.deepEqual(lines(none.stdout), ['lo']);
    const dflt = await wharfRun(['--rm', img.probe, 'netdev']);
    assert.deepEqual(lines(dflt.stdout), ['lo']);
    const host = await wharfRun(['--rm', '--network', 'host', img.probe, 'netdev']);
    const hostIfaces = lines(readFileSync('/proc/net/dev', 'utf8')).slice(2).map((l) => l.split(':')[0]!.trim());
    assert.deepEqual(lines(host.stdout).sort(), hostIfaces.sort());
  });

  test('--read-only refuses writes; without it writes go to the container layer', async () => {
    const ro = await wharfRun(['--rm', '--read-only', '-u', 'root', img.probe, 'write', '/written']);
    assert.equal(ro.code, 1);
    assert.equal(ro.stdout, 'write /written: Read-only file system\n');
    const rw = await wharfRun(['--rm', '-u', 'root', img.probe, 'write', '/written']);
    assert.equal(rw.code, 0, rw.stdout);
  });
});

describe('wharf run: image config rules', () => {
  test('User and WorkingDir from the image: name resolved in /etc/passwd, groups from /etc/group, workdir created', async () => {
    const r = await wharfRun(['--rm', img.probe, 'status']);
    assert.equal(field(r.stdout, 'Uid'), '1000\t1000\t1000\t1000');
    assert.equal(field(r.stdout, 'Gid'), '1000\t1000\t1000\t1000');
    // Docker's groups: the primary gid first, then the /etc/group memberships.
    assert.equal(field(r.stdout, 'Groups'), '1000 2000');
    assert.equal(field(r.stdout, 'Cwd'), '/srv/app');
  });

  test('-u uid:group and -w override the image', async () => {
    const r = await wharfRun(['--rm', '-u', '1234:extra', '-w', '/tmp/work/dir', img.probe, 'status']);
    assert.equal(field(r.stdout, 'Uid'), '1234\t1234\t1234\t1234');
    assert.equal(field(r.stdout, 'Gid'), '2000\t2000\t2000\t2000');
    // An explicit group: it alone (Docker drops the memberships then).
    assert.equal(field(r.stdout, 'Groups'), '2000');
    assert.equal(field(r.stdout, 'Cwd'), '/tmp/work/dir');
    const root = await wharfRun(['--rm', '-u', '0', img.probe, 'status']);
    assert.equal(field(root.stdout, 'Uid'), '0\t0\t0\t0');
    assert.equal(field(root.stdout, 'Groups'), '0 3000');
    const env = await wharfRun(['--rm', '-u', '0', img.probe, 'env']);
    assert.match(env.stdout, /^HOME=\/root$/m);
  });

  test('an unknown user name is an error (125)', async () => {
    const r = await wharfRun(['--rm', '-u', 'nobody', img.probe]);
    assert.equal(r.code, 125);
    assert.match(r.stderr, /unable to find user nobody/);
  });

  test("a 3-layer image with a whiteout and an opaque directory shows Docker's merged view", async () => {
    const r = await wharfRun(['--rm', img.overlay]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(lines(r.stdout).sort(), ['/etc/hostname', '/etc/hosts', '/etc/kept', '/etc/resolv.conf', '/var/cache/new']);
  });

  test('a layer with a ../ entry is refused (125), and nothing lands outside the layer', async () => {
    const r = await wharfRun(['--rm', img.escape]);
    assert.equal(r.code, 125);
    assert.match(r.stderr, /^wharf run: pulling .*: layer refused: entry "\.\.\/escaped-by-layer"/m);
    assert.equal(existsSync(join(root, 'escaped-by-layer')), false);
    assert.equal(existsSync(join(root, 'layers', 'escaped-by-layer')), false);
    const images = readdirSync(join(root, 'images'));
    assert.ok(!images.some((n) => n.includes('escape')), 'no image record for the refused image');
  });
});

describe('wharf run: cgroups', () => {
  test('--memory 32m: a program allocating 256 MiB is OOM-killed (137)', async () => {
    const r = await wharfRun(['--rm', '--memory', '32m', img.probe, 'alloc', '256']);
    assert.equal(r.code, 137, r.stderr);
    assert.match(r.stderr, /OOM-killed/);
    assert.doesNotMatch(r.stdout, /allocated/);
  });

  test('--pids-limit 16 stops a fork loop', async () => {
    const r = await wharfRun(['--rm', '--pids-limit', '16', img.probe, 'forkbomb']);
    assert.equal(r.code, 0, r.stderr);
    const m = /^forked (\d+): Resource temporarily unavailable$/m.exec(r.stdout);
    assert.ok(m, r.stdout);
    assert.ok(Number(m[1]) < 16, r.stdout);
  });

  test('--cpus, --cpu-shares and --cpuset-cpus land in the cgroup files; SIGTERM is forwarded', async () => {
    const cidfile = join(scratch, 'cid-cpu');
    const driver = await createCgroupDriver();
    let seen: Record<string, string> | undefined;
    let inside = '';
    const r = await wharfRun(['--rm', '--cidfile', cidfile, '--cpus', '1.5', '--cpu-shares', '512', '--cpuset-cpus', '1', img.probe, 'wait'], {
      onStdout(out, child) {
        if (seen || !out.includes('ready')) return;
        seen = {};
        void (async () => {
          const id = await readFile(cidfile, 'utf8');
          const cg = await driver.open(id);
          if (driver.version === 1) {
            seen = {
              quota: await cg.read('cpu.cfs_quota_us', 'cpu'),
              period: await cg.read('cpu.cfs_period_us', 'cpu'),
              shares: await cg.read('cpu.shares', 'cpu'),
              cpuset: await cg.read('cpuset.cpus', 'cpuset'),
              procs: String((await cg.procs()).length),
            };
          } else {
            seen = { max: await cg.read('cpu.max'), cpuset: await cg.read('cpuset.cpus'), procs: String((await cg.procs()).length) };
          }
          child.kill('SIGTERM');
        })().catch((e: Error) => {
          inside = e.message;
          child.kill('SIGKILL');
        });
      },
    });
    assert.equal(inside, '');
    if (driver.version === 1) assert.deepEqual(seen, { quota: '150000', period: '100000', shares: '512', cpuset: '1', procs: '1' });
    else assert.deepEqual(seen, { max: '150000 100000', cpuset: '1', procs: '1' });
    assert.equal(r.stdout, 'ready\nsignal 15\n');
    assert.equal(r.code, 42, r.stderr);
  });

  test('the container sees its cgroup as its root (cgroup namespace)', async () => {
    const r = await wharfRun(['--rm', img.probe, 'cgroup']);
    for (const line of lines(r.stdout)) assert.match(line, /:\/$/, r.stdout);
  });
});

describe('wharf run: records and cleanup', () => {
  test('--rm leaves nothing behind: no mount, cgroup, process, record or name claim', async () => {
    const cidfile = join(scratch, 'cid-rm');
    const marker = `marker-${process.pid}-${Date.now()}`;
    const r = await wharfRun(['--rm', '--name', 'cleanup', '--cidfile', cidfile, img.probe, 'daemon', marker]);
    assert.equal(r.code, 0, r.stderr);
    const id = await readFile(cidfile, 'utf8');
    assert.deepEqual(mountsUnder(root), []);
    assert.deepEqual(readdirSync(join(root, 'containers')), []);
    assert.deepEqual(readdirSync(join(root, 'names')), []);
    const driver = await createCgroupDriver();
    assert.ok(!(await driver.list()).includes(id), 'cgroup left behind');
    for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
      let cmdline = '';
      try {
        cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      } catch {
        continue;
      }
      assert.ok(!cmdline.includes(marker), `process ${pid} of the container survived: ${cmdline}`);
    }
  });

  test('without --rm the stopped container keeps its record (exit code) and its rootfs is unmounted', async () => {
    const cidfile = join(scratch, 'cid-keep');
    const r = await wharfRun(['--name', 'kept', '--cidfile', cidfile, img.probe, 'exit', '3']);
    assert.equal(r.code, 3);
    const id = await readFile(cidfile, 'utf8');
    const rec = JSON.parse(readFileSync(join(root, 'containers', id, 'container.json'), 'utf8')) as Record<string, unknown>;
    assert.equal(rec.state, 'exited');
    assert.equal(rec.exitCode, 3);
    assert.equal(rec.name, 'kept');
    assert.deepEqual(mountsUnder(root), []);
    assert.ok(!(await (await createCgroupDriver()).list()).includes(id));
    // the name is free again once the container stopped
    const again = await wharfRun(['--rm', '--name', 'kept', img.probe, 'exit', '0']);
    assert.equal(again.code, 0, again.stderr);
    await removeAllSnapshots(new NodeLayout(root));
  });

  test('--name is unique among running containers', async () => {
    let second: Promise<Ran> | undefined;
    const first = await wharfRun(['--rm', '--name', 'web', img.probe, 'wait'], {
      onStdout(out, child) {
        if (second || !out.includes('ready')) return;
        second = wharfRun(['--rm', '--name', 'web', img.probe, 'true']);
        void second.finally(() => child.kill('SIGTERM'));
      },
    });
    assert.equal(first.code, 42, first.stderr);
    const r = await second!;
    assert.equal(r.code, 125);
    assert.match(r.stderr, /name "web" is already in use/);
  });
});
