/**
 * The same commands through the real docker CLI and through `wharf`, each pointed with
 * `-H` at the shared dockerd and at a Wharf node daemon started here: exit codes,
 * `ps --format '{{.Names}}'`, `inspect --format '{{.State.ExitCode}}'`, `logs`, `rmi` of a
 * used image (409 and dockerd's words), `docker pull` through our daemon with its
 * progress, and bad requests with Docker's status and message.
 *
 * The test image (static busybox) is built here and pushed to a Wharf registry on an
 * ephemeral port; both daemons pull it from 127.0.0.1:PORT. Every container and image
 * this file creates carries its own prefix and is removed at the end, so other users of
 * the shared dockerd are never touched.
 */
import { ownNetworkArgs } from './support/networks.js';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildImage, buildLayer, pushImage } from './support/images.js';
import { startTestWharf, type TestWharf } from './support/wharf.js';
import { ensureDockerd, requireCommand, run } from './support/peers.js';

const WHARF = join(dirname(fileURLToPath(import.meta.url)), '..', 'bin', 'wharf.js');
const DOCKERD = 'unix:///var/run/docker.sock';
const PREFIX = `wharf-dcli-${process.pid}`;

interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
}

function exec(command: string, args: string[], timeoutMs = 60_000, input?: string): Promise<Ran> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
    if (input !== undefined) child.stdin!.end(input);
    let stdout = '';
    let stderr = '';
    child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

const docker = (host: string, ...args: string[]) => exec('docker', ['-H', host, ...args]);
const wharf = (host: string, ...args: string[]) => exec(process.execPath, [WHARF, '-H', host, ...args]);
type Cli = typeof docker;
const CLIS: Array<[string, Cli]> = [
  ['docker', docker],
  ['wharf', wharf],
];

/** A raw Engine API request over a unix socket (what a tool other than the CLI sends). */
function engine(socketPath: string, method: string, path: string, body?: string): Promise<{ status: number; json: unknown }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath, method, path, headers: { 'Content-Type': 'application/json', Host: 'docker' } }, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (d: string) => (text += d));
      res.on('end', () => {
        let json: unknown = text;
        try {
          json = JSON.parse(text);
        } catch {
          /* not JSON: kept as text, and the assertion says so */
        }
        resolve({ status: res.statusCode ?? 0, json });
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

let registry: TestWharf;
let image: string;
let scratch: string;
let daemon: ChildProcess | undefined;
let wharfSocket: string;
let WHARFD: string;

async function startWharfDaemon(): Promise<void> {
  const root = join(scratch, 'root');
  const run = join(scratch, 'run');
  wharfSocket = join(run, 'api.sock');
  WHARFD = `unix://${wharfSocket}`;
  let log = '';
  daemon = spawn(process.execPath, [WHARF, 'daemon', '--root', root, '--exec-root', run, '-H', WHARFD, '--registry', registry.hostPort, ...ownNetworkArgs()], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  daemon.stdout!.on('data', (d: Buffer) => (log += d.toString()));
  daemon.stderr!.on('data', (d: Buffer) => (log += d.toString()));
  for (let i = 0; i < 100; i++) {
    if (existsSync(wharfSocket) && (await engine(wharfSocket, 'GET', '/_ping').catch(() => ({ status: 0 }))).status === 200) return;
    if (daemon.exitCode !== null) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`wharf daemon did not answer on ${wharfSocket}:\n${log}`);
}

before(async () => {
  await requireCommand('docker', 'docker.io');
  await ensureDockerd();
  if (!existsSync('/bin/busybox')) throw new Error('/bin/busybox is missing: apt-get install -y busybox-static');
  scratch = await mkdtemp(join(tmpdir(), 'wharf-dcli-'));
  registry = await startTestWharf();
  const applets = ['sh', 'echo', 'sleep', 'cat', 'hostname', 'true', 'false'];
  const layer = await buildLayer([
    { type: 'dir', path: 'bin' },
    { type: 'file', path: 'bin/busybox', content: await readFile('/bin/busybox'), mode: 0o755 },
    ...applets.map((a) => ({ type: 'symlink' as const, path: `bin/${a}`, target: 'busybox' })),
  ]);
  const repo = `${PREFIX}/bb`;
  // A label of this run makes the image id its own: dockerd untags instead of refusing an rmi
  // when the same id has another reference (another run's, or one left over), so a shared id
  // would make the 409 test depend on the shared dockerd's state.
  await pushImage(registry.url, repo, '1', buildImage([layer], { Cmd: ['sh'], Labels: { 'wharf.test.run': PREFIX } }, 'docker'));
  image = `${registry.hostPort}/${repo}:1`;
  await startWharfDaemon();
});

after(async () => {
  for (const host of [DOCKERD, WHARFD]) {
    if (!host) continue;
    const ids = (await docker(host, 'ps', '-aq', '-f', `name=${PREFIX}`)).stdout.split('\n').filter(Boolean);
    if (ids.length > 0) await docker(host, 'rm', '-f', ...ids);
    await docker(host, 'rmi', '-f', image, `${registry.hostPort}/${PREFIX}/bb:retagged`);
  }
  if (daemon && daemon.exitCode === null) {
    daemon.kill('SIGTERM');
    await new Promise((r) => daemon!.once('exit', r));
  }
  await registry?.destroy();
  if (scratch) await rm(scratch, { recursive: true, force: true });
});

describe('pull through each daemon', () => {
  test('docker pull through the Wharf daemon shows the progress stream and succeeds; a second pull is up to date', async () => {
    const first = await docker(WHARFD, 'pull', image);
    assert.equal(first.code, 0, first.stderr);
    assert.match(first.stdout, /^1: Pulling from .*\/bb$/m);
    assert.match(first.stdout, /^[0-9a-f]{12}: Pulling fs layer$/m);
    assert.match(first.stdout, /^[0-9a-f]{12}: Pull complete$/m);
    assert.match(first.stdout, /^Digest: sha256:[0-9a-f]{64}$/m);
    assert.match(first.stdout, new RegExp(`^Status: Downloaded newer image for ${image.replace(/[.]/g, '\\.')}$`, 'm'));
    const again = await docker(WHARFD, 'pull', image);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /^Status: Image is up to date for /m);
  });

  test('wharf pull through dockerd and through the Wharf daemon: same digest line, exit 0', async () => {
    const viaDockerd = await wharf(DOCKERD, 'pull', image);
    assert.equal(viaDockerd.code, 0, viaDockerd.stderr);
    const viaWharf = await wharf(WHARFD, 'pull', image);
    assert.equal(viaWharf.code, 0, viaWharf.stderr);
    const digest = (s: string) => /^Digest: (sha256:[0-9a-f]{64})$/m.exec(s)?.[1];
    assert.ok(digest(viaDockerd.stdout), viaDockerd.stdout);
    assert.equal(digest(viaWharf.stdout), digest(viaDockerd.stdout));
    assert.equal(viaWharf.stdout.trim().split('\n').pop(), image);
  });

  test('the image ID is the same everywhere: inspect --format {{.Id}} by both CLIs on both daemons', async () => {
    const ids = new Set<string>();
    for (const host of [DOCKERD, WHARFD]) {
      for (const [name, cli] of CLIS) {
        const r = await cli(host, 'inspect', '--format', '{{.Id}}', image);
        assert.equal(r.code, 0, `${name} on ${host}: ${r.stderr}`);
        ids.add(r.stdout.trim());
      }
    }
    assert.equal(ids.size, 1, [...ids].join(' '));
    assert.match([...ids][0]!, /^sha256:[0-9a-f]{64}$/);
  });

  test('run of an image the daemon lacks: create answers 404, the CLI pulls and runs (docker and wharf, on the Wharf daemon)', async () => {
    for (const [cliName, cli] of CLIS) {
      const removed = await cli(WHARFD, 'rmi', image);
      assert.equal(removed.code, 0, `${cliName}: ${removed.stderr}`);
      assert.match(removed.stdout, new RegExp(`^Untagged: ${image.replace(/[.]/g, '\\.')}\n(Deleted: sha256:[0-9a-f]{64}\n)+$`));
      const ran = await cli(WHARFD, 'run', '--rm', image, 'echo', 'pulled');
      assert.equal(ran.code, 0, `${cliName}: ${ran.stderr}`);
      assert.equal(ran.stdout, 'pulled\n');
      assert.match(ran.stderr, new RegExp(`Unable to find image '${image.replace(/[.]/g, '\\.')}' locally`));
      assert.match(ran.stderr, /Pull complete|Download complete|Already exists/);
    }
  });

  test('pulling a tag that does not exist: exit 1 and "not found" from both daemons, through both CLIs', async () => {
    for (const host of [DOCKERD, WHARFD]) {
      for (const [name, cli] of CLIS) {
        const r = await cli(host, 'pull', `${registry.hostPort}/${PREFIX}/bb:nope`);
        assert.equal(r.code, 1, `${name} on ${host}`);
        assert.match(r.stderr, /Error response from daemon: manifest for .*:nope not found/, `${name} on ${host}: ${r.stderr}`);
      }
    }
  });
});

describe('the same commands against dockerd and against the Wharf daemon', () => {
  for (const [target, hostOf] of [
    ['dockerd', () => DOCKERD],
    ['wharf daemon', () => WHARFD],
  ] as const) {
    test(`${target}: run, ps, inspect, logs, stop, wait, rm give the same results through docker and wharf`, async () => {
      const host = hostOf();
      const results: Record<string, Record<string, string>> = {};
      for (const [cliName, cli] of CLIS) {
        const name = `${PREFIX}-${cliName}-${target.replace(/ /g, '')}`;
        const out: Record<string, string> = {};
        const ran = await cli(host, 'run', '--name', `${name}-exit3`, image, 'sh', '-c', 'echo out; echo err >&2; exit 3');
        out.runCode = String(ran.code);
        out.runStdout = ran.stdout;
        out.runStderr = ran.stderr.replace(/^WARNING: .*\n/gm, '');
        const rm = await cli(host, 'run', '--rm', image, 'echo', 'hi');
        out.rmCode = String(rm.code);
        out.rmStdout = rm.stdout;
        const code = await cli(host, 'inspect', '--format', '{{.State.ExitCode}}', `${name}-exit3`);
        out.inspect = code.stdout;
        const logs = await cli(host, 'logs', `${name}-exit3`);
        out.logsStdout = logs.stdout;
        out.logsStderr = logs.stderr;
        const bg = await cli(host, 'run', '-d', '--name', `${name}-bg`, image, 'sh', '-c', 'echo ready; exec sleep 60');
        out.bgCode = String(bg.code);
        assert.match(bg.stdout, /^[0-9a-f]{64}\n$/, `${cliName} run -d prints the id: ${bg.stderr}`);
        const running = await cli(host, 'ps', '--format', '{{.Names}}', '-f', `name=${name}`);
        out.psRunning = running.stdout;
        const all = await cli(host, 'ps', '-a', '--format', '{{.Names}} {{.State}}', '-f', `name=${name}`);
        out.psAll = all.stdout.split('\n').sort().join('\n');
        const quiet = await cli(host, 'ps', '-q', '-f', `name=${name}-bg`);
        out.psQuiet = String(/^[0-9a-f]{12}\n$/.test(quiet.stdout));
        const stop = await cli(host, 'stop', '-t', '1', `${name}-bg`);
        out.stop = `${stop.code} ${stop.stdout}`;
        const waited = await cli(host, 'wait', `${name}-bg`);
        out.wait = `${waited.code} ${waited.stdout}`;
        const exited = await cli(host, 'ps', '-a', '--format', '{{.Names}}', '-f', 'status=exited', '-f', `name=${name}`);
        out.psExited = exited.stdout.split('\n').sort().join('\n');
        const removed = await cli(host, 'rm', `${name}-exit3`, `${name}-bg`);
        out.rm = `${removed.code} ${removed.stdout}`;
        const gone = await cli(host, 'ps', '-a', '--format', '{{.Names}}', '-f', `name=${name}`);
        out.gone = gone.stdout;
        // The names differ by CLI: compare them as patterns.
        results[cliName] = Object.fromEntries(Object.entries(out).map(([k, v]) => [k, v.split(name).join('NAME')]));
      }
      assert.deepEqual(results.wharf, results.docker);
      // And what that is, so that "the same" cannot be "the same wrong".
      const d = results.docker!;
      assert.equal(d.runCode, '3');
      assert.equal(d.runStdout, 'out\n');
      assert.equal(d.runStderr, 'err\n');
      assert.equal(d.rmStdout, 'hi\n');
      assert.equal(d.inspect, '3\n');
      assert.equal(d.logsStdout, 'out\n');
      assert.equal(d.logsStderr, 'err\n');
      assert.equal(d.psRunning, 'NAME-bg\n');
      assert.equal(d.psAll, '\nNAME-bg running\nNAME-exit3 exited');
      assert.equal(d.psQuiet, 'true');
      assert.equal(d.stop, '0 NAME-bg\n');
      assert.equal(d.wait, '0 137\n');
      assert.equal(d.rm, '0 NAME-exit3\nNAME-bg\n');
      assert.equal(d.gone, '');
    });
  }

  test('the outputs that must match across the daemons match: exit codes, ps names, inspect exit code, logs', async () => {
    const per: Record<string, string[]> = {};
    for (const [label, host] of [
      ['dockerd', DOCKERD],
      ['wharf', WHARFD],
    ] as const) {
      const name = `${PREFIX}-x-${label}`;
      const r = await wharf(host, 'run', '--name', name, image, 'sh', '-c', 'echo one; echo two; exit 42');
      const names = await wharf(host, 'ps', '-a', '--format', '{{.Names}}', '-f', `name=${name}`);
      const code = await wharf(host, 'inspect', '--format', '{{.State.ExitCode}} {{.State.Status}} {{json .Config.Cmd}}', name);
      const logs = await wharf(host, 'logs', '--tail', '1', name);
      await wharf(host, 'rm', name);
      per[label] = [String(r.code), r.stdout, names.stdout.replace(name, 'NAME'), code.stdout, logs.stdout];
    }
    assert.deepEqual(per.wharf, per.dockerd);
    assert.deepEqual(per.dockerd, ['42', 'one\ntwo\n', 'NAME\n', '42 exited ["sh","-c","echo one; echo two; exit 42"]\n', 'two\n']);
  });

  test('wharf ps prints what docker ps prints (the whole table), on dockerd and on the Wharf daemon', async () => {
    for (const host of [DOCKERD, WHARFD]) {
      const name = `${PREFIX}-table`;
      const bg = await docker(host, 'run', '-d', '--name', name, image, 'sleep', '60');
      assert.equal(bg.code, 0, bg.stderr);
      try {
        // CREATED and STATUS count seconds: a pair of calls that straddles a second boundary
        // differs there alone, so the pair is taken again (at most 3 times). On a loaded
        // machine the two calls can stay seconds apart; then everything but those counts must
        // still be equal, and the counts may differ by no more than the clock moved.
        let same = false;
        let last: [string, string] = ['', ''];
        let elapsed = 0;
        for (let i = 0; i < 3 && !same; i++) {
          const t0 = Date.now();
          const [a, b] = await Promise.all([docker(host, 'ps', '-a', '-f', `name=${name}`), wharf(host, 'ps', '-a', '-f', `name=${name}`)]);
          elapsed = Date.now() - t0;
          last = [a.stdout, b.stdout];
          same = a.stdout === b.stdout;
        }
        if (!same) {
          const [docShape, docSecs] = secondsApart(last[0]);
          const [ourShape, ourSecs] = secondsApart(last[1]);
          assert.equal(ourShape, docShape, `tables differ beyond their second counts:\n${last[1]}\nvs\n${last[0]}`);
          assert.equal(ourSecs.length, docSecs.length);
          for (const [k, n] of ourSecs.entries()) assert.ok(Math.abs(n - docSecs[k]) <= Math.ceil(elapsed / 1000) + 1, `${n} vs ${docSecs[k]} seconds, ${elapsed} ms apart`);
        }
        assert.match(last[0], /^CONTAINER ID {3}IMAGE {2,}COMMAND {2,}CREATED {2,}STATUS {2,}PORTS {2,}NAMES\n[0-9a-f]{12} {3}/);
        const [a, b] = await Promise.all([docker(host, 'images', `${registry.hostPort}/${PREFIX}/bb`), wharf(host, 'images', `${registry.hostPort}/${PREFIX}/bb`)]);
        assert.equal(b.stdout, a.stdout);
        assert.match(a.stdout, /^REPOSITORY {2,}TAG {2,}IMAGE ID {2,}CREATED {2,}SIZE\n.*\/bb {3}1 /);
      } finally {
        await docker(host, 'rm', '-f', name);
      }
    }
  });

  test('rmi of an image a container uses: exit 1 and 409 with dockerd\'s words, on both daemons; tag, then rmi of the extra tag only untags', async () => {
    for (const [label, host, socketPath] of [
      ['dockerd', DOCKERD, '/var/run/docker.sock'],
      ['wharf', WHARFD, wharfSocket],
    ] as const) {
      const name = `${PREFIX}-user-${label}`;
      const created = await docker(host, 'create', '--name', name, image, 'true');
      assert.equal(created.code, 0, created.stderr);
      try {
        for (const [cliName, cli] of CLIS) {
          const r = await cli(host, 'rmi', image);
          assert.equal(r.code, 1, `${cliName} on ${label}`);
          assert.match(
            r.stderr,
            new RegExp(`^Error response from daemon: conflict: unable to remove repository reference "${image.replace(/[.]/g, '\\.')}" \\(must force\\) - container [0-9a-f]{12} is using its referenced image [0-9a-f]{12}\\n$`),
            `${cliName} on ${label}`,
          );
        }
        const raw = await engine(socketPath, 'DELETE', `/images/${encodeURIComponent(image)}`);
        assert.equal(raw.status, 409);
        assert.match((raw.json as { message: string }).message, /^conflict: unable to remove repository reference/);
        // A second tag of the same image: removing it only untags, even while it is used.
        const extra = `${registry.hostPort}/${PREFIX}/bb:retagged`;
        const tagged = await wharf(host, 'tag', image, extra);
        assert.equal(tagged.code, 0, tagged.stderr);
        const untag = await wharf(host, 'rmi', extra);
        assert.equal(untag.code, 0, untag.stderr);
        assert.equal(untag.stdout, `Untagged: ${extra}\n`);
        const still = await wharf(host, 'inspect', '--format', '{{json .RepoTags}}', image);
        assert.equal(still.stdout, `["${image}"]\n`);
      } finally {
        await docker(host, 'rm', '-f', name);
      }
    }
  });

  test('bad requests: unknown container, bad JSON, bad signal, a name already taken — Docker\'s status and message, both daemons', async () => {
    for (const [label, host, socketPath] of [
      ['dockerd', DOCKERD, '/var/run/docker.sock'],
      ['wharf', WHARFD, wharfSocket],
    ] as const) {
      const missing = `${PREFIX}-missing`;
      for (const [cliName, cli] of CLIS) {
        for (const verb of [['stop'], ['kill'], ['rm'], ['logs'], ['start'], ['restart'], ['pause']]) {
          const r = await cli(host, ...verb, missing);
          assert.equal(r.code, 1, `${cliName} ${verb} on ${label}`);
          // dockerd words some of these "Cannot kill container: X: No such container: X".
          // (and `start` adds "Error: failed to start containers: X", as the docker CLI does)
          const tail = verb[0] === 'start' ? `Error: failed to start containers: ${missing}\\n` : '';
          assert.match(r.stderr, new RegExp(`^Error response from daemon: (.*: )?No such container: ${missing}\\n${tail}$`), `${cliName} ${verb} on ${label}`);
        }
        const ins = await cli(host, 'inspect', missing);
        assert.equal(ins.code, 1);
        assert.match(ins.stderr, new RegExp(`No such object: ${missing}`), `${cliName} inspect on ${label}`);
      }
      const notFound = await engine(socketPath, 'GET', `/containers/${missing}/json`);
      assert.equal(notFound.status, 404, label);
      assert.equal((notFound.json as { message: string }).message, `No such container: ${missing}`);
      const noImage = await engine(socketPath, 'GET', `/images/${PREFIX}-no-such-image/json`);
      assert.equal(noImage.status, 404, label);
      assert.match((noImage.json as { message: string }).message, new RegExp(`^[Nn]o such image: ${PREFIX}-no-such-image`));
      // dockerd 20.10 (Debian 12's) answers bad JSON with 500; moby 23+ and Wharf with 400 (errdefs.InvalidParameter).
      const badJson = await engine(socketPath, 'POST', '/containers/create', '{"Image": x}');
      assert.equal(badJson.status, label === 'wharf' ? 400 : badJson.status === 400 ? 400 : 500, `${label}: ${JSON.stringify(badJson.json)}`);
      assert.equal(typeof (badJson.json as { message?: unknown }).message, 'string');

      const name = `${PREFIX}-taken-${label}`;
      const bg = await docker(host, 'run', '-d', '--name', name, image, 'sleep', '60');
      assert.equal(bg.code, 0, bg.stderr);
      try {
        for (const [cliName, cli] of CLIS) {
          const sig = await cli(host, 'kill', '-s', 'BOGUS', name);
          assert.equal(sig.code, 1, `${cliName} on ${label}`);
          assert.match(sig.stderr, /^Error response from daemon: Invalid signal: BOGUS\n$/, `${cliName} on ${label}`);
          const dup = await cli(host, 'create', '--name', name, image, 'true');
          assert.equal(dup.code, 1, `${cliName} create on ${label}`);
          assert.match(dup.stderr, new RegExp(`^Error response from daemon: Conflict\\. The container name "/${name}" is already in use by container "[0-9a-f]{64}"`), `${cliName} on ${label}: ${dup.stderr}`);
          const dupRun = await cli(host, 'run', '--name', name, image, 'true');
          assert.equal(dupRun.code, 125, `${cliName} run on ${label}`);
          assert.match(dupRun.stderr, /^(docker|wharf): Error response from daemon: Conflict\. The container name/, `${cliName} on ${label}: ${dupRun.stderr}`);
        }
        const ping = await engine(socketPath, 'GET', '/_ping');
        assert.equal(ping.status, 200, `${label} stays healthy`);
      } finally {
        await docker(host, 'rm', '-f', name);
      }
    }
  });
});

/** A command under a pty (script(1) from util-linux): what a user typing at a terminal sees. */
function underPty(command: string, input: string | Array<[number, string]>, timeoutMs = 60_000): Promise<Ran> {
  return new Promise((resolve, reject) => {
    const child = spawn('script', ['-qfec', command, '/dev/null'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    // Typed once the program had time to start reading (or at the given times).
    for (const [at, text] of typeof input === 'string' ? ([[1500, input]] as Array<[number, string]>) : input) setTimeout(() => child.stdin.write(text), at);
  });
}

describe('credentials for the registry (X-Registry-Auth)', () => {
  test('a registry behind htpasswd: the Wharf daemon pulls with the credentials the client sends, and not without', async () => {
    await requireCommand('htpasswd', 'apache2-utils');
    const root = join(scratch, 'auth-registry');
    const open = await startTestWharf({ root });
    const layer = await buildLayer([{ type: 'file', path: 'hello.txt', content: 'hello\n' }]);
    await pushImage(open.url, `${PREFIX}/private`, '1', buildImage([layer], { Cmd: ['/hello'] }, 'docker'));
    await open.close();
    const htpasswd = join(scratch, 'htpasswd');
    await run('htpasswd', ['-B', '-b', '-c', htpasswd, 'alice', 's3cret']);
    const guarded = await startTestWharf({ root, env: { WHARF_AUTH_HTPASSWD_PATH: htpasswd } });
    try {
      const ref = `${guarded.hostPort}/${PREFIX}/private:1`;
      const anonymous = await wharf(WHARFD, 'pull', ref);
      assert.equal(anonymous.code, 1, anonymous.stdout);
      assert.match(anonymous.stderr, /^Error response from daemon: pull access denied for /);
      const wrong = await exec(process.execPath, [WHARF, '-H', WHARFD, 'pull', '-u', 'alice', '--password-stdin', ref], 60_000, 'nope\n');
      assert.equal(wrong.code, 1, wrong.stdout);
      const right = await exec(process.execPath, [WHARF, '-H', WHARFD, 'pull', '-u', 'alice', '--password-stdin', ref], 60_000, 's3cret\n');
      assert.equal(right.code, 0, right.stderr);
      assert.match(right.stdout, /^Status: Downloaded newer image for /m);
      const garbage = await new Promise<number>((resolve, reject) => {
        const req = http.request(
          { socketPath: wharfSocket, method: 'POST', path: `/images/create?fromImage=${encodeURIComponent(`${guarded.hostPort}/${PREFIX}/private`)}&tag=1`, headers: { 'X-Registry-Auth': '%%%' } },
          (res) => {
            res.resume();
            resolve(res.statusCode ?? 0);
          },
        );
        req.on('error', reject);
        req.end();
      });
      assert.equal(garbage, 400);
      const rmi = await wharf(WHARFD, 'rmi', ref);
      assert.equal(rmi.code, 0, rmi.stderr);
    } finally {
      await guarded.destroy();
    }
  });
});

describe('exec into a running container, through docker and wharf, on both daemons', () => {
  for (const [target, hostOf] of [
    ['dockerd', () => DOCKERD],
    ['wharf daemon', () => WHARFD],
  ] as const) {
    test(`${target}: exec sees the container's hostname, returns its exit code, takes -e and -w; exec -it echoes through a pty`, async () => {
      const host = hostOf();
      const name = `${PREFIX}-exec-${target.replace(/ /g, '')}`;
      const bg = await docker(host, 'run', '-d', '--name', name, '-h', 'dcli-host', image, 'sleep', '60');
      assert.equal(bg.code, 0, bg.stderr);
      try {
        for (const [cliName, cli] of CLIS) {
          const h = await cli(host, 'exec', name, 'hostname');
          assert.equal(h.stdout, 'dcli-host\n', `${cliName}: ${h.stderr}`);
          const code = await cli(host, 'exec', '-e', 'X=42', '-w', '/bin', name, 'sh', '-c', 'echo $X $PWD; echo e >&2; exit 9');
          assert.equal(code.code, 9, `${cliName}: ${code.stderr}`);
          assert.equal(code.stdout, '42 /bin\n');
          assert.equal(code.stderr, 'e\n');
          const cliPath = cliName === 'docker' ? 'docker' : `${process.execPath} ${WHARF}`;
          const tty = await underPty(`${cliPath} -H ${host} exec -it ${name} sh -c 'read line; echo "got:$line"; exit 6'`, 'hello\r');
          assert.equal(tty.code, 6, `${cliName} exec -it: ${JSON.stringify(tty)}`);
          assert.match(tty.stdout, /hello/, `${cliName}: the pty echoes what was typed`);
          // The container's pty turns \n into \r\n; the user's terminal, in raw mode, adds nothing.
          assert.match(tty.stdout, /got:hello\r\n/, `${cliName}: ${JSON.stringify(tty.stdout)}`);
          assert.doesNotMatch(tty.stdout, /\r\r\n/, `${cliName}: raw mode clears the terminal's output processing`);
        }
      } finally {
        await docker(host, 'rm', '-f', name);
      }
    });
  }
});

describe('run -it: the user\'s terminal in raw mode, and the detach keys', () => {
  for (const [target, hostOf] of [
    ['dockerd', () => DOCKERD],
    ['wharf daemon', () => WHARFD],
  ] as const) {
    test(`${target}: run -it echoes typed input through the container's pty; Ctrl-P Ctrl-Q detaches and leaves it running`, async () => {
      const host = hostOf();
      for (const [cliName] of CLIS) {
        const name = `${PREFIX}-it-${cliName}-${target.replace(/ /g, '')}`;
        const cliPath = cliName === 'docker' ? 'docker' : `${process.execPath} ${WHARF}`;
        try {
          const r = await underPty(`${cliPath} -H ${host} run -it --name ${name} ${image} sh -c 'read line; echo "got:$line"; exec sleep 60'`, [
            [1500, 'typed\r'],
            [3000, '\x10\x11'],
          ]);
          assert.equal(r.code, 0, `${cliName} on ${target}: ${JSON.stringify(r)}`);
          assert.match(r.stdout, /got:typed\r\n/, `${cliName} on ${target}: ${JSON.stringify(r.stdout)}`);
          assert.doesNotMatch(r.stdout, /\r\r\n/, `${cliName} on ${target}: raw mode clears the terminal's output processing`);
          const ps = await docker(host, 'ps', '--format', '{{.Names}} {{.State}}', '-f', `name=${name}`);
          assert.equal(ps.stdout, `${name} running\n`, `${cliName} on ${target}: detached, still running`);
        } finally {
          await docker(host, 'rm', '-f', name);
        }
      }
    });
  }
});

describe('wharf verbs the Wharf daemon does not serve yet, against dockerd', () => {
  test('exec, top, cp both ways', async () => {
    const name = `${PREFIX}-exec`;
    const bg = await wharf(DOCKERD, 'run', '-d', '--name', name, '-h', 'dcli-host', image, 'sleep', '60');
    assert.equal(bg.code, 0, bg.stderr);
    try {
      const host = await wharf(DOCKERD, 'exec', name, 'hostname');
      assert.equal(host.stdout, 'dcli-host\n');
      const code = await wharf(DOCKERD, 'exec', '-e', 'X=42', '-w', '/bin', name, 'sh', '-c', 'echo $X $PWD; exit 9');
      assert.equal(code.code, 9);
      assert.equal(code.stdout, '42 /bin\n');
      const [viaDocker, viaWharf] = await Promise.all([docker(DOCKERD, 'exec', name, 'sh', '-c', 'exit 4'), wharf(DOCKERD, 'exec', name, 'sh', '-c', 'exit 4')]);
      assert.equal(viaWharf.code, viaDocker.code);
      const top = await wharf(DOCKERD, 'top', name);
      assert.match(top.stdout, /^UID {2,}PID {2,}PPID/);
      assert.match(top.stdout, /sleep 60/);
      const local = join(scratch, 'to-container.txt');
      await (await import('node:fs/promises')).writeFile(local, 'copied in\n');
      const cpIn = await wharf(DOCKERD, 'cp', local, `${name}:/`);
      assert.equal(cpIn.code, 0, cpIn.stderr);
      const cat = await wharf(DOCKERD, 'exec', name, 'cat', '/to-container.txt');
      assert.equal(cat.stdout, 'copied in\n');
      const back = join(scratch, 'back.txt');
      const cpOut = await wharf(DOCKERD, 'cp', `${name}:/to-container.txt`, back);
      assert.equal(cpOut.code, 0, cpOut.stderr);
      assert.equal(await readFile(back, 'utf8'), 'copied in\n');
    } finally {
      await docker(DOCKERD, 'rm', '-f', name);
    }
  });
});

/** A ps table with each "N seconds" count taken out (and the column padding it moves
 * collapsed), and the counts in order. "Less than a second" counts as 0. */
function secondsApart(table: string): [string, number[]] {
  const counts: number[] = [];
  const shape = table
    .replace(/Less than a second|\b(\d+) seconds?\b/g, (_m, n?: string) => {
      counts.push(n === undefined ? 0 : Number(n));
      return 'N seconds';
    })
    .replace(/ {2,}/g, '  ');
  return [shape, counts];
}
