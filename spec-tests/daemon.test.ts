/**
 * `wharf daemon` end to end with the real docker CLI (docker.io) pointed at its socket:
 * images built here from the static busybox, pushed to a Wharf registry on an ephemeral
 * port, pulled onto the node; then the container lifecycle as `docker` drives it
 * (create, attach, wait, start, logs, ps, inspect, exec, stop, kill, rm), the daemon
 * killed and restarted under running containers, bad requests, and the same commands
 * against dockerd compared with what Wharf answers.
 */
import { ownNetworkArgs } from './support/networks.js';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, readlinkSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { buildImage, pushImage } from './support/images.js';
import { busyboxLayer } from './support/run-node.js';
import { startTestWharf, type TestWharf } from './support/wharf.js';
import { requireCommand, ensureDockerd } from './support/peers.js';
import { runCommand, startTestDaemon, WHARF_BIN, type TestDaemon } from './support/daemon.js';

const APPLETS = ['sh', 'echo', 'sleep', 'cat', 'hostname', 'true', 'false', 'tr', 'id', 'ls', 'env', 'ln', 'mkdir'];

let registry: TestWharf;
let daemon: TestDaemon;
let IMG = '';
/** the same busybox, with StopSignal SIGUSR1 in its config */
let USR1_IMG = '';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until<T>(what: string, f: () => Promise<T | undefined | false>, ms = 15_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

/**
 * Until the shell of `name` has set its trap (it echoes "ready" after the trap command). A
 * signal sent before would meet PID 1 of a pid namespace without a handler, which the kernel
 * drops; that the container runs (an exec works) does not tell the trap is there.
 */
async function trapSet(name: string): Promise<void> {
  await until(`${name}'s trap to be set`, async () => /^ready$/m.test((await daemon.docker(['logs', name])).stdout));
}

async function ok(args: string[], opts: { input?: string } = {}): Promise<string> {
  const r = await daemon.docker(args, opts);
  assert.equal(r.code, 0, `docker ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
  return r.stdout;
}

const inspect = async (name: string, format: string): Promise<string> => (await ok(['inspect', '--format', format, name])).trim();

function ticks(logs: string): number[] {
  return [...logs.matchAll(/^tick (\d+)$/gm)].map((m) => Number(m[1]));
}

const TICKER = ['sh', '-c', 'i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.1; done'];

before(async () => {
  await requireCommand('docker', 'docker.io');
  await requireCommand('busybox', 'busybox-static');
  await requireCommand('script', 'bsdutils');
  registry = await startTestWharf();
  const layer = await busyboxLayer(APPLETS, [
    { type: 'dir', path: 'etc' },
    { type: 'file', path: 'etc/passwd', content: 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/sh\n' },
    { type: 'file', path: 'etc/group', content: 'root:x:0:\nnogroup:x:65534:\n' },
    { type: 'dir', path: 'tmp', mode: 0o1777 },
    { type: 'dir', path: 'root', mode: 0o700 },
  ]);
  await pushImage(registry.url, 'daemon/busybox', '1', buildImage([layer], { Cmd: ['sh'], Env: ['PATH=/bin'] }));
  await pushImage(registry.url, 'daemon/busybox', 'usr1', buildImage([layer], { Cmd: ['sh'], Env: ['PATH=/bin'], StopSignal: 'SIGUSR1' }));
  IMG = `${registry.hostPort}/daemon/busybox:1`;
  USR1_IMG = `${registry.hostPort}/daemon/busybox:usr1`;
  daemon = await startTestDaemon({ registry: registry.hostPort });
  // The image routes (docker pull through the daemon) are the daemon-cli work; the node's
  // own pull puts the images on the node meanwhile.
  for (const ref of [IMG, USR1_IMG]) {
    const r = await runCommand(process.execPath, [WHARF_BIN, 'pull', '--root', daemon.root, ref]);
    assert.equal(r.code, 0, r.stderr);
  }
});

after(async () => {
  if (daemon) {
    await daemon.destroy();
  }
  await registry?.destroy();
});

describe('wharf daemon: the docker CLI runs containers', () => {
  test('_ping negotiates the API version; version and info name Wharf', async () => {
    const ping = await daemon.api('GET', '/_ping');
    assert.equal(ping.status, 200);
    assert.equal(ping.body, 'OK');
    assert.equal(ping.headers['api-version'], '1.41');
    assert.equal(ping.headers['ostype'], 'linux');
    const head = await daemon.api('HEAD', '/v1.24/_ping');
    assert.equal(head.status, 200);
    assert.equal((await ok(['version', '--format', '{{.Server.APIVersion}} {{.Server.Platform.Name}}'])).trim(), '1.41 Wharf');
    assert.equal((await ok(['info', '--format', '{{.OSType}} {{.LoggingDriver}}'])).trim(), 'linux json-file');
  });

  test('docker run --rm IMG echo hi: the output, exit 0, and the container is gone', async () => {
    const r = await daemon.docker(['run', '--rm', '--network', 'none', IMG, 'echo', 'hi']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'hi\n');
    const code = await daemon.docker(['run', '--rm', '--network', 'none', IMG, 'sh', '-c', 'echo out; echo err >&2; exit 3']);
    assert.equal(code.code, 3);
    assert.equal(code.stdout, 'out\n');
    assert.match(code.stderr, /^err$/m);
    assert.equal(await ok(['ps', '-aq']), '');
  });

  test('run -d, then ps shows it and logs -f streams new lines', async () => {
    const id = (await ok(['run', '-d', '--name', 'ticker', '--network', 'none', IMG, ...TICKER])).trim();
    assert.match(id, /^[0-9a-f]{64}$/);
    assert.match(await ok(['ps', '--format', '{{.Names}} {{.Status}}']), /^ticker Up /m);
    assert.equal(await inspect('ticker', '{{.State.Status}} {{.State.Running}}'), 'running true');
    // Started before the lines it waits for were written.
    const follower = spawn('docker', ['-H', daemon.host, 'logs', '-f', '--tail', '1', 'ticker']);
    let seen = '';
    follower.stdout.on('data', (c: Buffer) => (seen += c.toString()));
    const first = (await until('a first line', async () => ticks(seen).length > 0 && ticks(seen)))[0]!;
    await until('five more lines', async () => ticks(seen).length >= 6);
    follower.kill();
    const got = ticks(seen);
    assert.deepEqual(got, got.map((_, i) => first + i), 'consecutive lines, none lost or repeated');
    // logs --tail, -t
    const tail = await ok(['logs', '--tail', '2', '-t', 'ticker']);
    const lines = tail.trim().split('\n');
    assert.equal(lines.length, 2);
    for (const l of lines) assert.match(l, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z tick \d+$/);
  });

  test('exec sees the same hostname and PID 1; its exit code comes back; -i passes stdin', async () => {
    const hostname = await inspect('ticker', '{{.Config.Hostname}}');
    assert.equal((await ok(['exec', 'ticker', 'hostname'])).trim(), hostname);
    const pid1 = await ok(['exec', 'ticker', 'cat', '/proc/1/cmdline']);
    assert.equal(pid1.split('\0')[0], 'sh');
    assert.match(pid1, /while true/);
    assert.equal((await daemon.docker(['exec', 'ticker', 'sh', '-c', 'exit 42'])).code, 42);
    assert.equal(await ok(['exec', '-i', 'ticker', 'cat'], { input: 'through stdin\n' }), 'through stdin\n');
    const missing = await daemon.docker(['exec', 'ticker', 'no-such-program']);
    assert.equal(missing.code, 127);
    assert.match(missing.stdout + missing.stderr, /executable file not found/);
  });

  test('exec -it through a pty echoes the input and returns the exit code', async () => {
    // `read` on the container's pty: no line editor (whose cursor queries a real terminal answers).
    const child = spawn('script', ['-qec', `docker -H ${daemon.host} exec -it ticker sh -c 'read x; echo got-$x; exit 7'`, '/dev/null'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    const closed = new Promise<number | null>((r) => child.on('close', (code) => r(code)));
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.stdin.write('hello-pty\r');
    const code = await closed;
    clearTimeout(timer);
    assert.equal(code, 7, out);
    assert.match(out, /hello-pty\r\n/, 'the pty echoed the input');
    assert.match(out, /got-hello-pty\r\n/, 'the program read it');
  });

  test('run -t gives the container a terminal of its own devpts', async () => {
    const r = await daemon.docker(['run', '--rm', '-t', '--network', 'none', IMG, 'sh', '-c', 'ls -l /proc/self/fd/0; echo done']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /\/dev\/pts\/0\r\n/);
    assert.match(r.stdout, /done\r\n/);
  });

  test('stop -t 2 sends the image StopSignal, then SIGKILL', async () => {
    await ok(['run', '-d', '--name', 'stubborn', '--network', 'none', USR1_IMG, 'sh', '-c', 'trap "echo got USR1" USR1; echo ready; while true; do sleep 0.1; done']);
    assert.equal(await inspect('stubborn', '{{.Config.StopSignal}}'), 'SIGUSR1');
    await trapSet('stubborn');
    await ok(['stop', '-t', '2', 'stubborn']);
    assert.equal(await inspect('stubborn', '{{.State.Status}} {{.State.ExitCode}}'), 'exited 137');
    assert.match(await ok(['logs', 'stubborn']), /^got USR1$/m);
    // One that obeys its StopSignal exits by itself.
    await ok(['run', '-d', '--name', 'obedient', '--network', 'none', USR1_IMG, 'sh', '-c', 'trap "echo bye; exit 0" USR1; echo ready; while true; do sleep 0.1; done']);
    await trapSet('obedient');
    await ok(['stop', '-t', '30', 'obedient']);
    assert.equal(await inspect('obedient', '{{.State.ExitCode}}'), '0');
    assert.match(await ok(['logs', 'obedient']), /^bye$/m);
    await ok(['rm', 'stubborn', 'obedient']);
  });

  test('kill -s and restart; pause and unpause freeze the container', async () => {
    // PID 1 of a pid namespace gets only the signals it has a handler for: a trap.
    await ok(['run', '-d', '--name', 'victim', '--network', 'none', IMG, 'sh', '-c', 'trap "exit 143" TERM; echo ready; while true; do sleep 0.1; done']);
    await trapSet('victim');
    await ok(['kill', '-s', 'TERM', 'victim']);
    await until('the exit', async () => (await inspect('victim', '{{.State.Status}}')) === 'exited');
    assert.equal(await inspect('victim', '{{.State.ExitCode}}'), String(128 + 15));
    await ok(['restart', '-t', '1', 'victim']);
    assert.equal(await inspect('victim', '{{.State.Status}}'), 'running');
    await ok(['pause', 'victim']);
    assert.equal(await inspect('victim', '{{.State.Status}}'), 'paused');
    const pid = Number(await inspect('victim', '{{.State.Pid}}'));
    assert.match(readFileSync(`/proc/${pid}/status`, 'utf8'), /^State:\s+D|^State:\s+S/m);
    await ok(['unpause', 'victim']);
    assert.equal(await inspect('victim', '{{.State.Status}}'), 'running');
    await ok(['rename', 'victim', 'renamed']);
    assert.equal(await inspect('renamed', '{{.Name}}'), '/renamed');
    await ok(['rm', '-f', 'renamed']);
  });

  test('events: create, start, die, destroy of a container, with since/until and filters', async () => {
    const since = (Date.now() / 1000).toFixed(3);
    await ok(['run', '--rm', '--name', 'evented', '--network', 'none', IMG, 'true']);
    const until = (Date.now() / 1000 + 0.5).toFixed(3);
    const out = await ok(['events', '--since', since, '--until', until, '--filter', 'container=evented', '--format', '{{.Type}} {{.Action}} {{.Actor.Attributes.name}}']);
    assert.deepEqual(out.trim().split('\n'), ['container create evented', 'container start evented', 'container die evented', 'container destroy evented']);
    const die = await ok(['events', '--since', since, '--until', until, '--filter', 'event=die', '--format', '{{.Actor.Attributes.exitCode}}']);
    assert.equal(die.trim(), '0');
    const none = await ok(['logs', '--since', String(Math.floor(Date.now() / 1000) + 3600), 'ticker']);
    assert.equal(none, '', 'logs --since the future is empty');
  });

  test('wait and --rm behave as with dockerd', async () => {
    await ok(['run', '-d', '--name', 'waited', '--network', 'none', IMG, 'sh', '-c', 'sleep 0.5; exit 3']);
    assert.equal((await ok(['wait', 'waited'])).trim(), '3');
    assert.equal((await ok(['wait', 'waited'])).trim(), '3', 'wait on an exited container answers at once');
    const r = await daemon.docker(['run', '--rm', '--network', 'none', '--name', 'gone', IMG, 'sh', '-c', 'exit 4']);
    assert.equal(r.code, 4);
    const after = await daemon.docker(['inspect', 'gone']);
    assert.equal(after.code, 1);
    assert.match(after.stderr, /No such object: gone/);
    await ok(['rm', 'waited']);
  });

  test('restart=always brings a killed container back and survives a daemon restart', async () => {
    await ok(['run', '-d', '--name', 'phoenix', '--restart', 'always', '--network', 'none', IMG, 'sleep', '1000']);
    const pid = Number(await inspect('phoenix', '{{.State.Pid}}'));
    process.kill(pid, 'SIGKILL'); // from the host, as a crash
    const next = await until('the restart', async () => {
      const [count, status, p] = (await inspect('phoenix', '{{.RestartCount}} {{.State.Status}} {{.State.Pid}}')).split(' ');
      return count === '1' && status === 'running' && Number(p) !== pid ? Number(p) : undefined;
    });
    await daemon.stop('SIGTERM');
    assert.ok(existsSync(`/proc/${next}`), 'SIGTERM of the daemon leaves the container running');
    await daemon.start();
    assert.equal(await inspect('phoenix', '{{.State.Status}} {{.State.Pid}}'), `running ${next}`);
    // docker stop is a manual stop: no restart
    await ok(['stop', '-t', '1', 'phoenix']);
    await sleep(500);
    assert.equal(await inspect('phoenix', '{{.State.Status}}'), 'exited');
    await ok(['rm', 'phoenix']);
  });

  test('restart=on-failure:2 restarts a failing container twice, then leaves it exited; a clean exit is not restarted', async () => {
    await ok(['run', '-d', '--name', 'flaky', '--restart', 'on-failure:2', '--network', 'none', IMG, 'sh', '-c', 'exit 3']);
    await until('two restarts and the final exit', async () => (await inspect('flaky', '{{.RestartCount}} {{.State.Status}} {{.State.ExitCode}}')) === '2 exited 3');
    await sleep(1000);
    assert.equal(await inspect('flaky', '{{.RestartCount}} {{.State.Status}}'), '2 exited', 'no third restart');
    await ok(['run', '-d', '--name', 'clean', '--restart', 'on-failure', '--network', 'none', IMG, 'true']);
    await until('the exit', async () => (await inspect('clean', '{{.State.Status}}')) === 'exited');
    await sleep(500);
    assert.equal(await inspect('clean', '{{.RestartCount}} {{.State.ExitCode}}'), '0 0');
    await ok(['rm', 'flaky', 'clean']);
  });

  test('kill -9 of the daemon with 3 containers running: they keep running, logs continue, an exit meanwhile is reported', async () => {
    for (const n of ['k1', 'k2', 'k3']) await ok(['run', '-d', '--name', n, '--network', 'none', IMG, ...TICKER]);
    await ok(['run', '-d', '--name', 'quitter', '--network', 'none', IMG, 'sh', '-c', 'sleep 1; exit 7']);
    const pids = await Promise.all(['k1', 'k2', 'k3', 'quitter'].map(async (n) => Number(await inspect(n, '{{.State.Pid}}'))));
    await daemon.stop('SIGKILL');
    await until('quitter to end while the daemon is away', async () => !existsSync(`/proc/${pids[3]}`));
    await sleep(500);
    await daemon.start();
    for (const [i, n] of ['k1', 'k2', 'k3'].entries()) {
      assert.equal(await inspect(n, '{{.State.Status}} {{.State.Pid}}'), `running ${pids[i]}`, n);
    }
    assert.equal(await inspect('quitter', '{{.State.Status}} {{.State.ExitCode}}'), 'exited 7');
    assert.equal((await ok(['wait', 'quitter'])).trim(), '7');
    const before = ticks(await ok(['logs', 'k1'])).length;
    await until('new lines after the restart', async () => ticks(await ok(['logs', 'k1'])).length > before + 3);
    const all = ticks(await ok(['logs', 'k1']));
    assert.deepEqual(all, all.map((_, i) => i), 'the log is continuous across the daemon crash');
    await ok(['rm', '-f', 'k1', 'k2', 'k3', 'quitter']);
  });
});

describe('wharf daemon: its sockets', () => {
  test('the unix socket is 0660; a plain tcp:// listener is refused with a message', async () => {
    const st = statSync(daemon.socket);
    assert.equal(st.mode & 0o777, 0o660);
    assert.ok(st.isSocket());
    const r = await runCommand(process.execPath, [WHARF_BIN, 'daemon', '--root', `${daemon.dir}/tcp-root`, '--exec-root', `${daemon.dir}/tcp-run`, '-H', 'tcp://127.0.0.1:0']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /refusing to listen on TCP without TLS client verification/);
    assert.match(r.stderr, /--tlsverify/);
    const again = await runCommand(process.execPath, [WHARF_BIN, 'daemon', '--root', `${daemon.dir}/root2`, '--exec-root', daemon.execRoot, '-H', `unix://${daemon.socket}`, ...ownNetworkArgs()]);
    assert.equal(again.code, 2, 'a second daemon on the same socket stops');
    assert.match(again.stderr, /another daemon is listening on this socket/);
    assert.equal((await daemon.api('GET', '/_ping')).body, 'OK');
  });

  test('top and stats --no-stream', async () => {
    await ok(['run', '-d', '--name', 'watched', '--network', 'none', IMG, 'sleep', '1000']);
    const top = await ok(['top', 'watched']);
    assert.match(top, /^UID\s+PID\s+PPID/);
    assert.match(top, /sleep 1000$/m);
    const pid = await inspect('watched', '{{.State.Pid}}');
    assert.match(top, new RegExp(`^\\S+\\s+${pid}\\s`, 'm'));
    const stats = await ok(['stats', '--no-stream', '--format', '{{.Name}} {{.PIDs}}', 'watched']);
    assert.equal(stats.trim(), 'watched 1');
    await ok(['rm', '-f', 'watched']);
  });
});

describe('wharf daemon: docker cp', () => {
  test('both ways, running and stopped; a symlink in the container never leads outside it', async () => {
    const work = await mkdtemp(join(tmpdir(), 'wharf-cp-'));
    try {
      await ok(['run', '-d', '--name', 'cp1', '--network', 'none', IMG, 'sh', '-c', 'echo inside > /tmp/made-here; sleep 1000']);
      await until('the file', async () => (await daemon.docker(['exec', 'cp1', 'cat', '/tmp/made-here'])).code === 0);
      await ok(['cp', 'cp1:/tmp/made-here', join(work, 'out.txt')]);
      assert.equal(readFileSync(join(work, 'out.txt'), 'utf8'), 'inside\n');
      await writeFile(join(work, 'in.txt'), 'from the host\n');
      await ok(['cp', join(work, 'in.txt'), 'cp1:/tmp/']);
      assert.equal(await ok(['exec', 'cp1', 'cat', '/tmp/in.txt']), 'from the host\n');
      await ok(['cp', 'cp1:/etc', join(work, 'etc')]);
      assert.match(readFileSync(join(work, 'etc', 'passwd'), 'utf8'), /^root:/);
      const missing = await daemon.docker(['cp', 'cp1:/no/such/file', work]);
      assert.equal(missing.code, 1);
      assert.match(missing.stderr, /Could not find the file \/no\/such\/file in container cp1/);

      // A host directory, and a link in the container that names it through `..`.
      const hostDir = join(work, 'host-target');
      await mkdir(hostDir);
      await ok(['exec', 'cp1', 'sh', '-c', `mkdir -p ${hostDir} && ln -s /../../../../../..${hostDir} /tmp/esc`]);
      await ok(['cp', join(work, 'in.txt'), 'cp1:/tmp/esc/']);
      assert.deepEqual(readdirSync(hostDir), [], 'nothing was written on the host');
      assert.equal(await ok(['exec', 'cp1', 'cat', `${hostDir}/in.txt`]), 'from the host\n', 'it landed inside the container');
      await ok(['exec', 'cp1', 'sh', '-c', 'ln -s /etc/passwd /tmp/pw-link']);
      await ok(['cp', 'cp1:/tmp/pw-link', join(work, 'link')]);
      assert.equal(readlinkSync(join(work, 'link')), '/etc/passwd', 'a symlink is copied as a symlink');

      const cp1 = await inspect('cp1', '{{.Id}}');
      await ok(['stop', '-t', '0', 'cp1']);
      await ok(['cp', join(work, 'in.txt'), 'cp1:/root/']);
      await ok(['cp', 'cp1:/root/in.txt', join(work, 'back.txt')]);
      assert.equal(readFileSync(join(work, 'back.txt'), 'utf8'), 'from the host\n');
      assert.deepEqual(readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((l) => l.includes(`${cp1}/rootfs`)), [], 'the stopped rootfs was unmounted again');
      await ok(['rm', 'cp1']);
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  });
});

describe('wharf daemon: bad requests get Docker\'s status and message', () => {
  test('unknown container, bad JSON, bad signal, a name already taken, an unknown image', async () => {
    const missing = await daemon.api('GET', '/v1.41/containers/no-such-thing/json');
    assert.equal(missing.status, 404);
    assert.deepEqual(JSON.parse(missing.body), { message: 'No such container: no-such-thing' });
    const cli = await daemon.docker(['inspect', '--type', 'container', 'no-such-thing']);
    assert.equal(cli.code, 1);
    assert.match(cli.stderr, /No such container: no-such-thing/);

    const badJson = await daemon.api('POST', '/v1.41/containers/create', '{"Image": ');
    assert.equal(badJson.status, 400);
    assert.match(JSON.parse(badJson.body).message, /invalid JSON/);

    await ok(['run', '-d', '--name', 'taken', '--network', 'none', IMG, 'sleep', '1000']);
    const sig = await daemon.docker(['kill', '-s', 'NOPE', 'taken']);
    assert.notEqual(sig.code, 0);
    assert.match(sig.stderr, /Invalid signal: NOPE/);
    const sigApi = await daemon.api('POST', '/v1.41/containers/taken/kill?signal=NOPE');
    assert.equal(sigApi.status, 400);

    const dup = await daemon.docker(['run', '-d', '--name', 'taken', '--network', 'none', IMG, 'true']);
    assert.equal(dup.code, 125);
    assert.match(dup.stderr, /Conflict\. The container name "\/taken" is already in use by container "[0-9a-f]{64}"/);
    const dupApi = await daemon.api('POST', '/v1.41/containers/create?name=taken', { Image: IMG, Cmd: ['true'] });
    assert.equal(dupApi.status, 409);

    const rmRunning = await daemon.api('DELETE', '/v1.41/containers/taken');
    assert.equal(rmRunning.status, 409);
    assert.match(JSON.parse(rmRunning.body).message, /You cannot remove a running container/);

    const noImage = await daemon.api('POST', '/v1.41/containers/create', { Image: `${registry.hostPort}/no/such:image`, Cmd: ['true'] });
    assert.equal(noImage.status, 404);
    assert.match(JSON.parse(noImage.body).message, /^No such image: /);

    const badName = await daemon.api('POST', '/v1.41/containers/create?name=-bad', { Image: IMG, Cmd: ['true'] });
    assert.equal(badName.status, 400);
    const tooNew = await daemon.api('GET', '/v9.99/containers/json');
    assert.equal(tooNew.status, 400);
    assert.match(JSON.parse(tooNew.body).message, /too new/);
    const route = await daemon.api('GET', '/v1.41/no/such/route');
    assert.equal(route.status, 404);
    assert.equal(JSON.parse(route.body).message, 'page not found');

    // Still healthy.
    assert.equal((await daemon.api('GET', '/_ping')).body, 'OK');
    assert.equal(await inspect('taken', '{{.State.Status}}'), 'running');
    await ok(['rm', '-f', 'taken']);
  });

  test('a program that is not there: 127, as dockerd', async () => {
    const r = await daemon.docker(['run', '--rm', '--network', 'none', IMG, 'no-such-program']);
    assert.equal(r.code, 127);
    assert.match(r.stderr, /executable file not found in \$PATH/);
  });
});

describe('wharf daemon: nothing is left behind', () => {
  test('after rm -f of everything: no shim, no mount, no cgroup, no socket', async () => {
    const ids = [];
    for (const n of ['left1', 'left2']) ids.push((await ok(['run', '-d', '--name', n, '--network', 'none', IMG, 'sleep', '1000'])).trim());
    ids.push((await ok(['create', '--name', 'left3', '--network', 'none', IMG, 'true'])).trim());
    const all = (await ok(['ps', '-aq', '--no-trunc'])).split('\n').filter(Boolean);
    assert.ok(all.length >= 3);
    await ok(['rm', '-f', ...all]);
    assert.equal(await ok(['ps', '-aq']), '');
    const shims = readdirSync('/proc')
      .filter((p) => /^\d+$/.test(p) && Number(p) !== daemon.process().pid)
      .filter((p) => {
        try {
          return readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(daemon.root);
        } catch {
          return false;
        }
      });
    assert.deepEqual(shims, [], 'no process of this node is left but the daemon');
    const mounts = readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((l) => l.includes(daemon.root));
    assert.deepEqual(mounts, []);
    for (const id of ids) {
      for (const hierarchy of readdirSync('/sys/fs/cgroup')) {
        assert.equal(existsSync(`/sys/fs/cgroup/${hierarchy}/wharf/${id}`), false, `${hierarchy}/wharf/${id}`);
      }
      assert.equal(existsSync(`${daemon.root}/containers/${id}`), false);
    }
    assert.deepEqual(readdirSync(`${daemon.execRoot}/s`), []);
  });
});

describe('wharf daemon: the same CLI commands against dockerd and against Wharf', () => {
  test('exit codes, ps names, inspect exit code and logs match', async () => {
    await ensureDockerd();
    const dockerd = (args: string[]) => runCommand('docker', args, { env: { ...process.env, DOCKER_HOST: '' } });
    const pulled = await dockerd(['pull', '-q', IMG]);
    assert.equal(pulled.code, 0, pulled.stderr);
    const suffix = `${process.pid}-${Date.now()}`;
    const run = async (cli: (a: string[]) => Promise<{ code: number | null; stdout: string; stderr: string }>) => {
      const name = `cmp-${suffix}`;
      const out: Record<string, unknown> = {};
      const echo = await cli(['run', '--rm', '--network', 'none', IMG, 'echo', 'hi']);
      out.echo = [echo.code, echo.stdout];
      const exit3 = await cli(['run', '--rm', '--network', 'none', IMG, 'sh', '-c', 'echo out; exit 3']);
      out.exit3 = [exit3.code, exit3.stdout];
      const missing = await cli(['run', '--rm', '--network', 'none', IMG, 'no-such-program']);
      out.missing = missing.code;
      const d = await cli(['run', '-d', '--name', name, '--network', 'none', IMG, 'sh', '-c', 'echo a; echo b >&2; echo c; exit 5']);
      out.detached = d.code;
      out.wait = (await cli(['wait', name])).stdout;
      out.ps = (await cli(['ps', '-a', '--filter', `name=${name}`, '--format', '{{.Names}}'])).stdout;
      out.exitCode = (await cli(['inspect', '--format', '{{.State.ExitCode}} {{.State.Status}}', name])).stdout;
      const logs = await cli(['logs', name]);
      out.logs = [logs.stdout, logs.stderr];
      out.stopExited = (await cli(['stop', name])).code;
      out.rm = (await cli(['rm', name])).code;
      out.gone = (await cli(['inspect', name])).code;
      return out;
    };
    const theirs = await run(dockerd);
    const ours = await run((a) => daemon.docker(a));
    assert.deepEqual(ours, theirs);
    assert.deepEqual(theirs.echo, [0, 'hi\n'], 'dockerd ran the image: the comparison is meaningful');
    await dockerd(['rmi', IMG]);
  });
});
