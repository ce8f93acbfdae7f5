/**
 * `docker build` (the classic builder, DOCKER_BUILDKIT=0) against our node daemon, `wharf
 * build` against the same daemon, and the shared dockerd building the same context: each
 * Dockerfile of issue 17, then the images run on their daemon and print the same thing.
 * Also: a rebuild is all cache hits and starts no container (the daemon's start events),
 * --no-cache rebuilds, a failing RUN names its line and exit code and moves no tag,
 * .dockerignore excludes what Docker excludes, ONBUILD fires in the child only.
 *
 * The base image (static busybox, built here, nothing downloaded) is pushed to a Wharf
 * registry on an ephemeral port; both daemons pull it from 127.0.0.1. Every image this file
 * makes on the shared dockerd has a name of this run and is removed at the end.
 */
import { after, before, describe, test } from 'node:test';
import { createServer, type Server } from 'node:http';
import { execFileSync } from 'node:child_process';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { buildImage, buildLayer, compileStatic, pushImage } from './support/images.js';
import { startTestWharf, type TestWharf } from './support/wharf.js';
import { ensureDockerd, requireCommand } from './support/peers.js';
import { runCommand, startTestDaemon, WHARF_BIN, type Ran, type TestDaemon } from './support/daemon.js';

const PREFIX = `wharf-build-${process.pid}`;
const CLASSIC = { ...process.env, DOCKER_BUILDKIT: '0', DOCKER_CLI_HINTS: 'false' };

let registry: TestWharf;
let daemon: TestDaemon;
let scratch: string;
let base: string;
const dockerdTags = new Set<string>();
/** images dockerd committed for the steps of a build that then failed: untagged, removed at the end */
const dockerdLeftovers = new Set<string>();

function leftoversOf(r: Ran): void {
  if (r.code !== 0) for (const m of r.stdout.matchAll(/ ---> ([0-9a-f]{12})\n/g)) dockerdLeftovers.add(m[1]!);
}

const dockerd = (args: string[], input?: string): Promise<Ran> => runCommand('docker', args, { env: CLASSIC, timeoutMs: 120_000, ...(input !== undefined ? { input } : {}) });
const ours = (args: string[]): Promise<Ran> => runCommand('docker', ['-H', daemon.host, ...args], { env: CLASSIC, timeoutMs: 120_000 });
const wharf = (args: string[]): Promise<Ran> => runCommand(process.execPath, [WHARF_BIN, '-H', daemon.host, ...args], { timeoutMs: 120_000 });

async function context(name: string, files: Record<string, string | Buffer>): Promise<string> {
  const dir = join(scratch, name);
  for (const [path, content] of Object.entries(files)) {
    await mkdir(dirname(join(dir, path)), { recursive: true });
    // text with the base image's name filled in; bytes are a program (executable)
    if (typeof content === 'string') await writeFile(join(dir, path), content.replaceAll('$BASE', base));
    else await writeFile(join(dir, path), content, { mode: 0o755 });
  }
  return dir;
}

function ok(r: Ran, what: string): Ran {
  assert.equal(r.code, 0, `${what} failed (${r.code}):\n${r.stdout}\n${r.stderr}`);
  return r;
}

interface Built {
  /** docker build against our daemon, tagged `tag` */
  ours: Ran;
  /** wharf build against our daemon (with --no-cache, so it builds too), tagged `tag`-w */
  wharf: Ran;
  dockerd: Ran;
}

/** The context built three ways; tags are `<PREFIX>-<name>:1` (and `-w` for wharf's). */
async function buildThreeWays(name: string, files: Record<string, string | Buffer>, extra: string[] = []): Promise<Built> {
  const dir = await context(name, files);
  const tag = `${PREFIX}-${name}:1`;
  dockerdTags.add(tag);
  const [o, d] = await Promise.all([ours(['build', ...extra, '-t', tag, dir]), dockerd(['build', '--force-rm', ...extra, '-t', tag, dir])]);
  leftoversOf(d);
  const w = await wharf(['build', '--no-cache', ...extra, '-t', `${PREFIX}-${name}-w:1`, dir]);
  return { ours: o, wharf: w, dockerd: d };
}

/** `docker run --rm` of the image on both daemons (and wharf's build on ours): their outputs. */
async function runEverywhere(name: string, args: string[] = []): Promise<{ ours: string; wharf: string; dockerd: string }> {
  const tag = `${PREFIX}-${name}:1`;
  const [o, w, d] = await Promise.all([
    ours(['run', '--rm', tag, ...args]),
    ours(['run', '--rm', `${PREFIX}-${name}-w:1`, ...args]),
    dockerd(['run', '--rm', '--network', 'none', tag, ...args]),
  ]);
  return { ours: ok(o, 'run on ours').stdout, wharf: ok(w, 'run of the wharf build').stdout, dockerd: ok(d, 'run on dockerd').stdout };
}

async function sameOutput(name: string, args: string[] = [], expected?: string): Promise<void> {
  const out = await runEverywhere(name, args);
  assert.equal(out.ours, out.dockerd, `${name}: our image runs as dockerd's`);
  assert.equal(out.wharf, out.dockerd, `${name}: wharf build's image runs as dockerd's`);
  if (expected !== undefined) assert.equal(out.ours, expected);
}

function allOk(b: Built): void {
  ok(b.ours, 'docker build on our daemon');
  ok(b.wharf, 'wharf build');
  ok(b.dockerd, 'docker build on dockerd');
}

/** Container start events of our daemon between two instants (ms). */
async function startsBetween(fromMs: number, toMs: number): Promise<number> {
  const filters = encodeURIComponent(JSON.stringify({ type: ['container'], event: ['start'] }));
  const r = await daemon.api('GET', `/events?since=${(fromMs / 1000).toFixed(3)}&until=${(toMs / 1000).toFixed(3)}&filters=${filters}`);
  assert.equal(r.status, 200);
  return r.body.split('\n').filter((l) => l.trim() !== '').length;
}

const APPLETS = ['sh', 'echo', 'cat', 'ls', 'find', 'sort', 'rm', 'mkdir', 'touch', 'true', 'false', 'cut', 'pwd'];

before(async () => {
  await requireCommand('docker', 'docker.io');
  await requireCommand('gcc', 'gcc');
  await ensureDockerd();
  if (!existsSync('/bin/busybox')) throw new Error('/bin/busybox is missing: apt-get install -y busybox-static');
  scratch = await mkdtemp(join(tmpdir(), 'wharf-build-test-'));
  registry = await startTestWharf();
  const layer = await buildLayer([
    { type: 'dir', path: 'bin' },
    { type: 'file', path: 'bin/busybox', content: await readFile('/bin/busybox'), mode: 0o755 },
    ...APPLETS.map((a) => ({ type: 'symlink' as const, path: `bin/${a}`, target: 'busybox' })),
    { type: 'dir', path: 'etc' },
    { type: 'file', path: 'etc/passwd', content: 'root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\n' },
    { type: 'file', path: 'etc/group', content: 'root:x:0:\napp:x:1000:\n' },
    { type: 'file', path: 'etc/motd', content: 'base motd\n' },
  ]);
  const repo = `${PREFIX}/bb`;
  await pushImage(registry.url, repo, '1', buildImage([layer], { Cmd: ['sh'], Labels: { 'wharf.test.run': PREFIX } }, 'docker'));
  base = `${registry.hostPort}/${repo}:1`;
  daemon = await startTestDaemon({ registry: registry.hostPort });
});

after(async () => {
  const tags = [...dockerdTags];
  if (tags.length) await dockerd(['rmi', '-f', ...tags]);
  // newest first: a failed build's last committed step before the one it was built on
  for (const id of [...dockerdLeftovers].reverse()) await dockerd(['rmi', id]);
  // what is left untagged: the classic builder keeps a multi-stage build's earlier stages (they carry the base's label)
  await dockerd(['image', 'prune', '-f', '--filter', `label=wharf.test.run=${PREFIX}`]);
  await dockerd(['rmi', '-f', base]);
  await daemon?.stop();
  await registry?.destroy();
  await rm(scratch, { recursive: true, force: true });
});

describe('the Dockerfiles of issue 17, built by our daemon as dockerd builds them', () => {
  test('FROM scratch + ADD a gcc -static binary + CMD', async () => {
    const bin = await compileStatic('#include <stdio.h>\nint main(void){puts("hello from scratch");return 0;}\n', 'hello');
    const program = await readFile(bin);
    await rm(dirname(bin), { recursive: true, force: true });
    const b = await buildThreeWays('scratch', { Dockerfile: 'FROM scratch\nADD hello /\nCMD ["/hello"]\n', hello: program });
    allOk(b);
    assert.match(b.ours.stdout, /Step 1\/3 : FROM scratch\nStep 2\/3 : ADD hello \/\n ---> [0-9a-f]{12}\nStep 3\/3 : CMD \["\/hello"\]\n ---> [0-9a-f]{12}\nSuccessfully built [0-9a-f]{12}\nSuccessfully tagged /);
    await sameOutput('scratch', [], 'hello from scratch\n');
    const history = JSON.parse((await daemon.api('GET', `/images/${PREFIX}-scratch:1/json`)).body) as { Config: { Cmd: string[] } };
    assert.deepEqual(history.Config.Cmd, ['/hello']);
  });

  test('RUN on a busybox base: files added and deleted, env and workdir of the step', async () => {
    const b = await buildThreeWays('run', {
      Dockerfile: [
        'FROM $BASE',
        'ARG greeting=hi',
        'ENV where=/data',
        'WORKDIR $where',
        'RUN echo "$greeting from $(pwd)" > msg && rm /etc/motd && mkdir -p sub && touch sub/f',
        'CMD ["sh", "-c", "cat msg; cat /etc/motd 2>/dev/null || echo motd gone; ls sub"]',
      ].join('\n'),
    });
    allOk(b);
    assert.match(b.ours.stdout, / ---> Running in [0-9a-f]{12}\nRemoving intermediate container [0-9a-f]{12}\n/);
    await sameOutput('run', [], 'hi from /data\nmotd gone\nf\n');
  });

  test('ENTRYPOINT shell form expands, exec form stays literal; run arguments replace CMD only', async () => {
    allOk(await buildThreeWays('ep-shell', { Dockerfile: 'FROM $BASE\nENV name=world\nENTRYPOINT echo "hello $name"\n' }));
    allOk(await buildThreeWays('ep-exec', { Dockerfile: 'FROM $BASE\nENV name=world\nENTRYPOINT ["echo", "hello $name"]\n' }));
    allOk(await buildThreeWays('ep-cmd', { Dockerfile: 'FROM $BASE\nENTRYPOINT ["echo", "ep"]\nCMD ["default"]\n' }));
    await sameOutput('ep-shell', [], 'hello world\n');
    await sameOutput('ep-exec', [], 'hello $name\n');
    await sameOutput('ep-cmd', [], 'ep default\n');
    await sameOutput('ep-cmd', ['given'], 'ep given\n');
  });

  test('COPY app.py /app makes a file, /app/ a directory; then /app/ on the file fails', async () => {
    const app = 'print("hi")\n';
    allOk(await buildThreeWays('copy-file', { Dockerfile: 'FROM $BASE\nCOPY app.py /app\nCMD ["sh", "-c", "ls -l /app | cut -c1; cat /app"]\n', 'app.py': app }));
    allOk(await buildThreeWays('copy-dir', { Dockerfile: 'FROM $BASE\nCOPY --chown=app:app app.py /app/\nCMD ["ls", "-ln", "/app"]\n', 'app.py': app }));
    await sameOutput('copy-file');
    await sameOutput('copy-dir');
    const out = await runEverywhere('copy-dir');
    assert.match(out.ours, /1000\s+1000/, 'the --chown names are looked up in the image');
    const bad = await buildThreeWays('copy-bad', { Dockerfile: 'FROM $BASE\nCOPY app.py /app\nCOPY app.py /app/\n', 'app.py': app });
    for (const r of [bad.ours, bad.wharf, bad.dockerd]) {
      assert.notEqual(r.code, 0);
      assert.match(r.stdout + r.stderr, /not a directory/);
    }
    assert.match(bad.ours.stdout + bad.ours.stderr, /Dockerfile:3: Cannot mkdir: \/app is not a directory/);
    assert.equal((await ours(['image', 'inspect', `${PREFIX}-copy-bad:1`])).code, 1, 'a failed build tags nothing');
  });

  test('ONBUILD fires in a child image only', async () => {
    allOk(await buildThreeWays('onbuild-parent', { Dockerfile: 'FROM $BASE\nONBUILD RUN echo triggered > /trig\nCMD ["sh", "-c", "cat /trig 2>/dev/null || echo none"]\n' }));
    const child = `FROM ${PREFIX}-onbuild-parent:1\n`;
    const dir = await context('onbuild-child', { Dockerfile: child });
    const tag = `${PREFIX}-onbuild-child:1`;
    dockerdTags.add(tag);
    ok(await ours(['build', '-t', tag, dir]), 'child build on ours');
    ok(await dockerd(['build', '--force-rm', '-t', tag, dir]), 'child build on dockerd');
    const w = await context('onbuild-child-w', { Dockerfile: `FROM ${PREFIX}-onbuild-parent-w:1\n` });
    ok(await wharf(['build', '-t', `${PREFIX}-onbuild-child-w:1`, w]), 'child build by wharf');
    await sameOutput('onbuild-parent', [], 'none\n');
    await sameOutput('onbuild-child', [], 'triggered\n');
    const inspect = JSON.parse((await daemon.api('GET', `/images/${tag}/json`)).body) as { Config: { OnBuild?: string[] | null } };
    assert.ok(!inspect.Config.OnBuild?.length, 'the child does not pass the trigger on');
  });
});

describe('the build cache, failures and .dockerignore', () => {
  const cached = ['FROM $BASE', 'ENV x=1', 'RUN echo one > /one', 'COPY f.txt /f.txt', 'CMD ["cat", "/one", "/f.txt"]'].join('\n');

  test('an unchanged rebuild is all cache hits, starts no container and gives the same image; --no-cache rebuilds', async () => {
    const dir = await context('cache', { Dockerfile: cached, 'f.txt': 'f\n' });
    const tag = `${PREFIX}-cache:1`;
    const first = ok(await ours(['build', '-t', tag, dir]), 'first build');
    const id = /Successfully built ([0-9a-f]{12})/.exec(first.stdout)![1];
    const t0 = Date.now();
    const second = ok(await ours(['build', '-t', tag, dir]), 'rebuild');
    const viaWharf = ok(await wharf(['build', '-t', tag, dir]), 'rebuild by wharf');
    const t1 = Date.now();
    assert.equal((second.stdout.match(/ ---> Using cache/g) ?? []).length, 4, second.stdout);
    assert.doesNotMatch(second.stdout + viaWharf.stdout, /Running in/);
    assert.equal(/Successfully built ([0-9a-f]{12})/.exec(second.stdout)![1], id);
    assert.equal(/Successfully built ([0-9a-f]{12})/.exec(viaWharf.stdout)![1], id);
    assert.equal(await startsBetween(t0, t1), 0, 'no container started');

    await writeFile(join(dir, 'f.txt'), 'changed\n');
    const changed = ok(await ours(['build', '-t', tag, dir]), 'build after a change');
    assert.equal((changed.stdout.match(/ ---> Using cache/g) ?? []).length, 2, 'ENV and RUN hit, COPY and what follows miss');
    assert.equal(ok(await ours(['run', '--rm', tag]), 'run').stdout, 'one\nchanged\n');

    const t2 = Date.now();
    const fresh = ok(await ours(['build', '--no-cache', '-t', tag, dir]), 'no-cache build');
    const t3 = Date.now();
    assert.doesNotMatch(fresh.stdout, /Using cache/);
    assert.equal(await startsBetween(t2, t3), 1, 'the RUN step ran again');
  });

  test('a failing RUN reports its line and exit code and moves no tag', async () => {
    // no step before the failing one: dockerd would keep its image, untagged
    const dir = await context('fail', { Dockerfile: 'FROM $BASE\n# the step that fails\nRUN echo failing; exit 3\nCMD ["true"]\n' });
    const tag = `${PREFIX}-fail:1`;
    dockerdTags.add(tag);
    const [o, d] = await Promise.all([ours(['build', '-t', tag, dir]), dockerd(['build', '--force-rm', '-t', tag, dir])]);
    leftoversOf(d);
    const w = await wharf(['build', '-t', tag, dir]);
    for (const r of [o, w, d]) {
      assert.equal(r.code, 3, `exit code of the failed RUN: ${r.stdout}${r.stderr}`);
      assert.match(r.stdout + r.stderr, /The command '\/bin\/sh -c echo failing; exit 3' returned a non-zero code: 3/);
      assert.match(r.stdout, /failing\n/);
    }
    assert.match(o.stderr, /Dockerfile:3: The command/);
    assert.match(w.stderr, /Dockerfile:3: The command/);
    assert.equal((await ours(['image', 'inspect', tag])).code, 1, 'no image under the tag');
    const ps = ok(await ours(['ps', '-aq']), 'ps');
    assert.equal(ps.stdout.trim(), '', 'no container left behind');
  });

  test('.dockerignore excludes what Docker excludes', async () => {
    const b = await buildThreeWays('ignore', {
      Dockerfile: 'FROM $BASE\nCOPY . /ctx\nCMD ["sh", "-c", "cd /ctx && find . | sort"]\n',
      '.dockerignore': '# comment\nsecret\n*/temp*\n*.md\n!README.md\n/build/**/*.o\n',
      'README.md': 'r',
      'notes.md': 'n',
      'app.py': 'a',
      'secret/key': 'k',
      'src/temp.txt': 't',
      'src/main.c': 'm',
      'build/x/y.o': 'o',
      'build/x/y.c': 'c',
    });
    allOk(b);
    const out = await runEverywhere('ignore');
    assert.equal(out.ours, out.dockerd);
    assert.equal(out.wharf, out.dockerd);
    assert.doesNotMatch(out.ours, /secret|temp|notes|y\.o/);
    assert.match(out.ours, /README\.md/);
    assert.match(out.ours, /src\/main\.c/);
  });

  test('a syntax error names its line; a bad request gets a JSON error, not a 500', async () => {
    const dir = await context('syntax', { Dockerfile: 'FROM $BASE\nRUN true\nBOGUS x\n' });
    const r = await ours(['build', dir]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /Dockerfile:3: unknown instruction: BOGUS/);
    const bad = await daemon.api('POST', '/build?buildargs=notjson', '');
    assert.equal(bad.status, 400);
    assert.match(JSON.parse(bad.body).message, /buildargs/);
  });
});

describe('multi-stage, ADD, and paths that try to leave the rootfs or the context', () => {
  test('COPY --from a named stage, --target stops at a stage', async () => {
    const files = {
      Dockerfile: ['FROM $BASE AS builder', 'RUN echo built-in-stage > /artifact', 'FROM $BASE AS final', 'COPY --from=builder /artifact /got', 'CMD ["cat", "/got"]', 'FROM final AS never', 'RUN exit 9', ''].join('\n'),
    };
    allOk(await buildThreeWays('stages', files, ['--target', 'final']));
    await sameOutput('stages', [], 'built-in-stage\n');
  });

  test('ADD extracts a local tar.gz, fetches a URL on 127.0.0.1', async () => {
    const src = join(scratch, 'tarsrc');
    await mkdir(join(src, 'pkg/sub'), { recursive: true });
    await writeFile(join(src, 'pkg/a.txt'), 'a\n');
    await writeFile(join(src, 'pkg/sub/b.txt'), 'b\n');
    const tgz = execFileSync('tar', ['-C', src, '--owner=0', '--group=0', '-czf', '-', 'pkg']);
    const server: Server = createServer((req, res) => {
      res.writeHead(200, { 'Content-Type': 'text/plain', 'Last-Modified': 'Wed, 01 Jan 2025 00:00:00 GMT' });
      res.end(`fetched ${req.url}\n`);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    try {
      allOk(
        await buildThreeWays('add', {
          Dockerfile: `FROM $BASE\nADD pkg.tar.gz /opt/\nADD http://127.0.0.1:${port}/remote.txt /dl/\nCMD ["sh", "-c", "cd /opt && find . | sort; cat pkg/a.txt pkg/sub/b.txt /dl/remote.txt; ls -l /dl | cut -c1-10"]\n`,
          'pkg.tar.gz': tgz,
        }),
      );
      await sameOutput('add');
      const out = (await runEverywhere('add')).ours;
      assert.match(out, /\.\/pkg\/sub\/b\.txt\na\nb\nfetched \/remote\.txt\n/, 'the archive was extracted, the URL fetched');
      assert.match(out, /-rw-------/, 'a fetched file is 0600');
    } finally {
      server.close();
    }
  });

  test('ADD extracts tar.bz2 and tar.xz, and copies a gzip\'d file that is no tar as it is, as dockerd does', async () => {
    const src = join(scratch, 'compsrc');
    await mkdir(join(src, 'pkg'), { recursive: true });
    await writeFile(join(src, 'pkg/a.txt'), 'from the archive\n');
    const tarBytes = execFileSync('tar', ['-C', src, '--owner=0', '--group=0', '-cf', '-', 'pkg']);
    // (zstd too, as current Docker does, in add-archive.test.ts: dockerd 20.10 here copies a .tar.zst as a file)
    allOk(
      await buildThreeWays('add-compressed', {
        Dockerfile: 'FROM $BASE\nADD p.tar.bz2 /b/\nADD p.tar.xz /x/\nADD notes.gz /g/\nCMD ["sh", "-c", "find /b /x /g | sort; cat /b/pkg/a.txt /x/pkg/a.txt"]\n',
        'p.tar.bz2': execFileSync('bzip2', ['-c'], { input: tarBytes }),
        'p.tar.xz': execFileSync('xz', ['-c'], { input: tarBytes }),
        'notes.gz': execFileSync('gzip', ['-c'], { input: 'plain notes\n' }),
      }),
    );
    await sameOutput('add-compressed', [], '/b\n/b/pkg\n/b/pkg/a.txt\n/g\n/g/notes.gz\n/x\n/x/pkg\n/x/pkg/a.txt\nfrom the archive\nfrom the archive\n');
  });

  test('a symlink in the context or in the image never leads a COPY out of its root', async () => {
    const hostMarker = `/tmp/${PREFIX}-escape`;
    await rm(hostMarker, { recursive: true, force: true });
    await mkdir(hostMarker);
    await writeFile(join(hostMarker, 'secret'), 'host secret\n');
    const dir = await context('escape', {
      Dockerfile: ['FROM $BASE', 'RUN ln -s / /up && ln -s /etc /danger', 'COPY f.txt /danger/', 'COPY f.txt /up/tmp/' + PREFIX + '-escape/', 'CMD ["cat", "/etc/f.txt"]', ''].join('\n'),
      'f.txt': 'inside\n',
    });
    const tag = `${PREFIX}-escape:1`;
    ok(await ours(['build', '-t', tag, dir]), 'build through symlinks of the image');
    assert.equal(ok(await ours(['run', '--rm', tag]), 'run').stdout, 'inside\n', 'the copy landed in the image');
    assert.ok(!existsSync('/etc/f.txt'), "the host's /etc was not written");
    assert.ok(!existsSync(join(hostMarker, 'f.txt')), 'the host directory the image symlink named was not written');

    // a context symlink to an absolute host path resolves inside the context
    const ctx = await context('escape-ctx', { Dockerfile: 'FROM $BASE\nCOPY link/secret /got\n' });
    await symlink(hostMarker, join(ctx, 'link'));
    const r = await ours(['build', '-t', `${PREFIX}-escape-ctx:1`, ctx]);
    assert.notEqual(r.code, 0, 'the host file behind the link is not in the context');
    assert.match(r.stderr, /file not found in build context/);
    await rm(hostMarker, { recursive: true, force: true });
  });

  test('wharf build - reads the context as a tar on stdin', async () => {
    const dir = await context('stdin', { Dockerfile: 'FROM $BASE\nCOPY msg /msg\nCMD ["cat", "/msg"]\n', msg: 'from stdin\n' });
    const tag = `${PREFIX}-stdin:1`;
    const r = await runCommand('sh', ['-c', `tar -C '${dir}' -cf - . | '${process.execPath}' '${WHARF_BIN}' -H '${daemon.host}' build -t ${tag} -`], { timeoutMs: 120_000 });
    ok(r, 'wharf build -');
    assert.equal(ok(await ours(['run', '--rm', tag]), 'run').stdout, 'from stdin\n');
  });
});
