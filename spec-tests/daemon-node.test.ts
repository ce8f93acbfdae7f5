/**
 * `wharf daemon`, the parts a node operator and a terminal user meet, tried for real with
 * the docker CLI: TCP only with TLS client verification (a client without a certificate,
 * or with one of another CA, is refused), the socket's --group, window-size changes of
 * `run -it` / `exec -it` seen by `stty size` through a pty this test opens, the detach
 * keys of `attach`, json-file log rotation, and what the container gets from HostConfig as
 * `wharf run` gives it and as dockerd does: GroupAdd, Devices, Init, its own read-only
 * cgroup view; `docker stats` streaming.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { buildImage, pushImage } from './support/images.js';
import { busyboxLayer } from './support/run-node.js';
import { startTestWharf, type TestWharf } from './support/wharf.js';
import { ensureDockerd, requireCommand, run } from './support/peers.js';
import { runCommand, startTestDaemon, WHARF_BIN, type TestDaemon } from './support/daemon.js';
import { makeTestPki, type TestPki } from './support/tls.js';
import { underPtyScript } from './support/pty-driver.js';

const APPLETS = ['sh', 'echo', 'sleep', 'cat', 'true', 'id', 'ls', 'stty', 'grep', 'wc', 'seq', 'mkdir', 'head'];
const PREFIX = `wharf-dnode-${process.pid}`;

let registry: TestWharf;
let daemon: TestDaemon;
let pki: TestPki;
let scratch = '';
let IMG = '';
let tcpPort = 0;
/** a group of this machine other than root, for --group */
let group = { name: '', gid: 0 };

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function ok(args: string[]): Promise<string> {
  const r = await daemon.docker(args);
  assert.equal(r.code, 0, `docker ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
  return r.stdout;
}

/** docker against the machine's dockerd */
const dockerd = (args: string[]) => runCommand('docker', args, { env: { ...process.env, DOCKER_HOST: '' } });

async function until<T>(what: string, f: () => Promise<T | undefined | false>, ms = 20_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

before(async () => {
  await requireCommand('docker', 'docker.io');
  await requireCommand('busybox', 'busybox-static');
  await requireCommand('python3', 'python3');
  await requireCommand('openssl', 'openssl');
  scratch = await mkdtemp(join(tmpdir(), 'wharf-dnode-'));
  registry = await startTestWharf();
  const layer = await busyboxLayer(APPLETS, [
    { type: 'dir', path: 'etc' },
    { type: 'file', path: 'etc/passwd', content: 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/sh\n' },
    { type: 'file', path: 'etc/group', content: 'root:x:0:\nstaff:x:50:\nnogroup:x:65534:\n' },
    { type: 'dir', path: 'tmp', mode: 0o1777 },
  ]);
  await pushImage(registry.url, `${PREFIX}/bb`, '1', buildImage([layer], { Cmd: ['sh'], Env: ['PATH=/bin'], Labels: { 'wharf.test.run': PREFIX } }, 'docker'));
  IMG = `${registry.hostPort}/${PREFIX}/bb:1`;

  // A CA, the daemon's certificate, a client certificate of that CA and one of another CA.
  pki = await makeTestPki({ ips: ['127.0.0.1'] }, scratch);
  const p = (f: string) => join(scratch, f);
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  await writeFile(p('client.ext'), 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n');
  await run('openssl', ['req', ...ec, '-subj', '/CN=client', '-keyout', p('client.key'), '-out', p('client.csr')]);
  await run('openssl', ['x509', '-req', '-in', p('client.csr'), '-CA', pki.caCert, '-CAkey', p('ca.key'), '-CAcreateserial', '-days', '2', '-sha256', '-extfile', p('client.ext'), '-out', p('client.crt')]);
  await run('openssl', ['req', '-x509', ...ec, '-days', '2', '-subj', '/CN=other CA', '-keyout', p('other-ca.key'), '-out', p('other-ca.crt')]);
  await run('openssl', ['req', ...ec, '-subj', '/CN=intruder', '-keyout', p('intruder.key'), '-out', p('intruder.csr')]);
  await run('openssl', ['x509', '-req', '-in', p('intruder.csr'), '-CA', p('other-ca.crt'), '-CAkey', p('other-ca.key'), '-CAcreateserial', '-days', '2', '-sha256', '-extfile', p('client.ext'), '-out', p('intruder.crt')]);

  for (const line of readFileSync('/etc/group', 'utf8').split('\n')) {
    const [name, , gid] = line.split(':');
    if (name && gid && Number(gid) > 0 && Number(gid) < 65534) {
      group = { name, gid: Number(gid) };
      break;
    }
  }
  assert.ok(group.name, 'a group other than root in /etc/group');

  daemon = await startTestDaemon({
    registry: registry.hostPort,
    args: ['--group', group.name, '-H', 'tcp://127.0.0.1:0', '--tlsverify', '--tlscacert', pki.caCert, '--tlscert', pki.serverCert, '--tlskey', pki.serverKey],
  });
  // The port the kernel chose, from the daemon's JSON log. The log is written
  // asynchronously, so the line may land after the unix socket already answers.
  for (let tries = 0; tcpPort === 0 && tries < 200; tries++) {
    if (tries > 0) await new Promise((r) => setTimeout(r, 50));
    for (const line of (await daemon.log()).split('\n')) {
      const m = /"msg":"API listen"/.test(line) ? (JSON.parse(line) as { address: { kind: string; port?: number } }) : undefined;
      if (m?.address.kind === 'tcp') tcpPort = m.address.port!;
    }
  }
  assert.ok(tcpPort > 0, 'the daemon logs its TCP port');
  const pulled = await runCommand(process.execPath, [WHARF_BIN, 'pull', '--root', daemon.root, IMG]);
  assert.equal(pulled.code, 0, pulled.stderr);
});

after(async () => {
  if (daemon) {
    await daemon.destroy();
  }
  if (IMG) await dockerd(['rmi', '-f', IMG]);
  await registry?.destroy();
  if (scratch) await rm(scratch, { recursive: true, force: true });
});

describe('wharf daemon: who may connect', () => {
  test('tcp:// with --tlsverify: a client certificate of the CA gets in; none, or one of another CA, is refused; plain HTTP gets nothing', async () => {
    const tcp = `tcp://127.0.0.1:${tcpPort}`;
    const env = { ...process.env, DOCKER_HOST: '', DOCKER_TLS_VERIFY: '', DOCKER_CERT_PATH: '' };
    const good = await runCommand('docker', ['-H', tcp, '--tlsverify', '--tlscacert', pki.caCert, '--tlscert', join(scratch, 'client.crt'), '--tlskey', join(scratch, 'client.key'), 'version', '--format', '{{.Server.Version}}'], { env });
    assert.equal(good.code, 0, good.stderr);
    assert.match(good.stdout, /\S/);
    const ran = await runCommand('docker', ['-H', tcp, '--tlsverify', '--tlscacert', pki.caCert, '--tlscert', join(scratch, 'client.crt'), '--tlskey', join(scratch, 'client.key'), 'run', '--rm', IMG, 'echo', 'over-tls'], { env });
    assert.equal(ran.code, 0, ran.stderr);
    assert.equal(ran.stdout, 'over-tls\n');
    // stdin through the hijacked TLS stream, sent before the container starts (as the CLI does)
    const piped = await runCommand('docker', ['-H', tcp, '--tlsverify', '--tlscacert', pki.caCert, '--tlscert', join(scratch, 'client.crt'), '--tlskey', join(scratch, 'client.key'), 'run', '--rm', '-i', IMG, 'cat'], { env, input: 'piped-over-tls\n' });
    assert.equal(piped.code, 0, piped.stderr);
    assert.equal(piped.stdout, 'piped-over-tls\n');

    const noCert = await runCommand('docker', ['-H', tcp, '--tlsverify', '--tlscacert', pki.caCert, 'version', '--format', '{{.Server.Version}}'], { env });
    assert.notEqual(noCert.code, 0, 'a client without a certificate is refused');
    assert.doesNotMatch(noCert.stdout, /\S/);
    assert.match(noCert.stderr, /certificate|tls|handshake/i);

    const intruder = await runCommand('docker', ['-H', tcp, '--tlsverify', '--tlscacert', pki.caCert, '--tlscert', join(scratch, 'intruder.crt'), '--tlskey', join(scratch, 'intruder.key'), 'ps'], { env });
    assert.notEqual(intruder.code, 0, 'a certificate of another CA is refused');
    assert.match(intruder.stderr, /certificate|tls|handshake/i);

    const plain = await new Promise<string>((resolve) => {
      const req = request({ host: '127.0.0.1', port: tcpPort, path: '/_ping' }, (res) => resolve(`status ${res.statusCode}`));
      req.on('error', (e) => resolve(`error ${(e as NodeJS.ErrnoException).code ?? e.message}`));
      req.setTimeout(10_000, () => req.destroy(new Error('timeout')));
      req.end();
    });
    assert.match(plain, /^error /, 'plain HTTP on the TLS port gets no answer');
    assert.equal((await daemon.api('GET', '/_ping')).body, 'OK', 'the daemon stays healthy');
  });

  test('--group: the unix socket belongs to that group with mode 0660; an unknown group stops the daemon with a message', async () => {
    const st = statSync(daemon.socket);
    assert.equal(st.mode & 0o777, 0o660);
    assert.equal(st.gid, group.gid);
    assert.equal(st.uid, 0);
    const r = await runCommand(process.execPath, [WHARF_BIN, 'daemon', '--root', join(scratch, 'g-root'), '--exec-root', join(scratch, 'g-run'), '--group', `${PREFIX}-nosuch`]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--group wharf-dnode-\d+-nosuch: no such group/);
    const tlsHalf = await runCommand(process.execPath, [WHARF_BIN, 'daemon', '--root', join(scratch, 't-root'), '--exec-root', join(scratch, 't-run'), '-H', 'tcp://127.0.0.1:0', '--tlsverify', '--tlscacert', pki.caCert]);
    assert.equal(tlsHalf.code, 2);
    assert.match(tlsHalf.stderr, /TLS needs --tlsverify with --tlscacert, --tlscert and --tlskey/);
  });
});

describe('wharf daemon: the terminal', () => {
  test('stdin piped into run -i reaches the program (it is sent before the start) and its EOF ends it', async () => {
    const r = await daemon.docker(['run', '--rm', '-i', IMG, 'sh', '-c', 'cat; echo after-eof'], { input: 'line one\nline two\n' });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'line one\nline two\nafter-eof\n');
  });

  for (const cli of ['docker', 'wharf'] as const) {
    test(`${cli} run -it and exec -it: the container's pty follows the window size (stty size), also after a resize`, async () => {
      const bin = cli === 'docker' ? 'docker' : `${process.execPath} ${WHARF_BIN}`;
      const name = `${PREFIX}-tty-${cli}`;
      try {
        // run -it: the size at start, then each typed line prints the size again.
        const r = await underPtyScript(
          `${bin} -H ${daemon.host} run -it --name ${name} ${IMG} sh -c 'stty size; while read x; do stty size; done'`,
          [{ sendUntil: '\r', wait: '\\b30 100\\r*\\n' }, { resize: [40, 120] }, { sendUntil: '\r', wait: '\\b40 120\\r*\\n' }, { send: '\x04' }],
          { rows: 30, cols: 100 },
        );
        assert.equal(r.failedStep, null, `${cli} run -it: ${JSON.stringify(r.out)}`);
        assert.equal(r.code, 0, r.out);
        await ok(['start', name]);
        await until('the container runs again', async () => (await ok(['inspect', '--format', '{{.State.Status}}', name])).trim() === 'running');
        const e = await underPtyScript(
          `${bin} -H ${daemon.host} exec -it ${name} sh -c 'stty size; while read x; do stty size; done; exit 5'`,
          [{ sendUntil: '\r', wait: '\\b33 90\\r*\\n' }, { resize: [50, 132] }, { sendUntil: '\r', wait: '\\b50 132\\r*\\n' }, { send: '\x04' }],
          { rows: 33, cols: 90 },
        );
        assert.equal(e.failedStep, null, `${cli} exec -it: ${JSON.stringify(e.out)}`);
        assert.equal(e.code, 5, e.out);
      } finally {
        await daemon.docker(['rm', '-f', name]);
      }
    });
  }

  test('attach with --detach-keys: the keys detach, the container keeps running and its input arrived', async () => {
    const name = `${PREFIX}-attach`;
    try {
      await ok(['run', '-dit', '--name', name, IMG, 'sh', '-c', 'while read x; do echo "got:$x"; done']);
      const r = await underPtyScript(`docker -H ${daemon.host} attach --detach-keys ctrl-x,x ${name}`, [{ sendUntil: 'hello\r', wait: 'got:hello' }, { send: '\x18x' }]);
      assert.equal(r.failedStep, null, JSON.stringify(r.out));
      assert.notEqual(r.code, null, 'attach ended on the detach keys');
      assert.equal((await ok(['inspect', '--format', '{{.State.Status}}', name])).trim(), 'running');
      assert.match(await ok(['logs', name]), /got:hello/);
    } finally {
      await daemon.docker(['rm', '-f', name]);
    }
  });
});

describe('wharf daemon: logs', () => {
  test('--log-opt max-size/max-file rotate the json-file log; logs still shows the tail, in order', async () => {
    const name = `${PREFIX}-rotate`;
    try {
      await ok(['run', '-d', '--name', name, '--log-opt', 'max-size=2k', '--log-opt', 'max-file=3', IMG, 'sh', '-c', 'for i in $(seq 1 600); do echo line-$i; done; exec sleep 1000']);
      await until('the last line is logged', async () => /line-600\n$/.test(await ok(['logs', name])));
      const logPath = (await ok(['inspect', '--format', '{{.LogPath}}', name])).trim();
      const base = logPath.split('/').pop()!;
      const files = readdirSync(dirname(logPath)).filter((f) => f.startsWith(base)).sort();
      assert.deepEqual(files, [base, `${base}.1`, `${base}.2`], 'the live file and max-file - 1 rotated ones');
      for (const f of files) assert.ok(statSync(join(dirname(logPath), f)).size <= 2048, `${f} within max-size`);
      const lines = (await ok(['logs', name])).trim().split('\n');
      const n = lines.map((l) => Number(/^line-(\d+)$/.exec(l)?.[1]));
      assert.ok(n[0]! > 1, 'the oldest lines were rotated away');
      assert.deepEqual(n, Array.from({ length: n.length }, (_, i) => n[0]! + i), 'what is left is contiguous, ending at the last line');
      assert.equal(n[n.length - 1], 600);
      assert.equal(await ok(['logs', '--tail', '3', name]), 'line-598\nline-599\nline-600\n');
    } finally {
      await daemon.docker(['rm', '-f', name]);
    }
  });
});

describe('wharf daemon: HostConfig reaches the container as with dockerd', () => {
  before(async () => {
    await ensureDockerd();
    const p = await dockerd(['pull', '-q', IMG]);
    assert.equal(p.code, 0, p.stderr);
  });

  /** The same `docker run --rm ...` on both daemons; their outputs and exit codes. */
  async function both(args: string[]): Promise<{ wharf: { code: number | null; out: string }; dockerd: { code: number | null; out: string } }> {
    const [w, d] = await Promise.all([daemon.docker(['run', '--rm', '--network', 'none', ...args]), dockerd(['run', '--rm', '--network', 'none', ...args])]);
    return { wharf: { code: w.code, out: w.stdout + w.stderr }, dockerd: { code: d.code, out: d.stdout + d.stderr } };
  }

  test('--group-add by gid and by name: id shows them, as dockerd', async () => {
    const r = await both(['--group-add', '1234', '--group-add', 'staff', IMG, 'id']);
    assert.equal(r.wharf.code, 0, r.wharf.out);
    assert.equal(r.wharf.out, r.dockerd.out);
    assert.match(r.wharf.out, /groups=.*\b50\(staff\)/);
    assert.match(r.wharf.out, /groups=.*\b1234\b/);
    const bad = await daemon.docker(['create', '--group-add', 'no-such-group', IMG, 'id']);
    const started = bad.code === 0 ? await daemon.docker(['start', '-a', bad.stdout.trim()]) : bad;
    assert.notEqual(started.code, 0, 'a group the image does not know is refused');
    assert.match(started.stderr, /no-such-group/);
    if (bad.code === 0) await daemon.docker(['rm', '-f', bad.stdout.trim()]);
  });

  test('--device HOST:CONTAINER[:perms]: the node is there with the host\'s numbers, and the devices cgroup allows only what was asked', async () => {
    // /dev/fuse (10:229): not among Docker's default device rules, harmless to open.
    const script = 'ls -l /dev/xfuse | head -c 10; echo; true < /dev/xfuse && echo opened-r; true > /dev/xfuse && echo opened-w; true';
    const rw = await both(['--device', '/dev/fuse:/dev/xfuse', IMG, 'sh', '-c', script]);
    assert.equal(rw.wharf.code, 0, rw.wharf.out);
    assert.equal(rw.wharf.out, 'crw-------\nopened-r\nopened-w\n');
    assert.equal(rw.wharf.out, rw.dockerd.out);
    const ro = await both(['--device', '/dev/fuse:/dev/xfuse:r', IMG, 'sh', '-c', script]);
    assert.equal(ro.wharf.code, 0, ro.wharf.out);
    assert.match(ro.wharf.out, /^crw-------\nopened-r\n/);
    assert.match(ro.wharf.out, /Operation not permitted/, 'no write with :r');
    assert.doesNotMatch(ro.wharf.out, /opened-w/);
    assert.doesNotMatch(ro.dockerd.out, /opened-w/);
    const none = await daemon.docker(['run', '--rm', IMG, 'sh', '-c', 'ls /dev/xfuse /dev/fuse 2>&1; true']);
    assert.match(none.stdout, /No such file or directory/, 'without --device the container has no such node');
    const missing = await daemon.docker(['run', '--rm', '--device', `/dev/${PREFIX}-nosuch`, IMG, 'true']);
    assert.notEqual(missing.code, 0);
    assert.match(missing.stderr, /error gathering device information while adding custom device "\/dev\/wharf-dnode-\d+-nosuch": no such file or directory/);
    assert.equal((await daemon.api('GET', '/_ping')).body, 'OK');
  });

  test('--init: PID 1 is the init, not the program; orphans are reaped; the exit code passes through', async () => {
    // An orphan (the subshell's background sleep) exits while the program waits: the init reaps it.
    const script = 'cat /proc/1/comm; (sleep 0.2 &); sleep 1.5; grep -l "^State:.*Z" /proc/[0-9]*/status | wc -l; exit 3';
    const r = await both(['--init', IMG, 'sh', '-c', script]);
    assert.equal(r.wharf.code, 3, r.wharf.out);
    assert.equal(r.dockerd.code, 3, r.dockerd.out);
    const [comm, zombies] = r.wharf.out.trim().split('\n');
    assert.notEqual(comm, 'sh', 'PID 1 is the init');
    assert.equal(zombies, '0', 'no zombie left');
    assert.equal(r.dockerd.out.trim().split('\n')[1], '0');
    const plain = await daemon.docker(['run', '--rm', IMG, 'cat', '/proc/1/comm']);
    assert.equal(plain.stdout, 'cat\n', 'without --init the program is PID 1');
  });

  test('/sys/fs/cgroup is the container\'s own cgroup, read-only: its memory limit shows, nothing can be made there', async () => {
    const v1 = existsSync('/sys/fs/cgroup/memory/memory.limit_in_bytes');
    const limitFile = v1 ? '/sys/fs/cgroup/memory/memory.limit_in_bytes' : '/sys/fs/cgroup/memory.max';
    const r = await both(['--memory', '64m', IMG, 'sh', '-c', `cat ${limitFile}; mkdir ${dirname(limitFile)}/escape 2>/dev/null && echo made || echo refused`]);
    assert.equal(r.wharf.code, 0, r.wharf.out);
    assert.equal(r.wharf.out, '67108864\nrefused\n');
    assert.equal(r.wharf.out, r.dockerd.out);
  });
});

describe('wharf daemon: names', () => {
  test('a name is unique among all containers of the node: the daemon\'s (running or not) and a foreground wharf run --root\'s', async () => {
    const stopped = `${PREFIX}-named`;
    const fg = `${PREFIX}-foreground`;
    let foreground: ReturnType<typeof spawn> | undefined;
    try {
      await ok(['create', '--name', stopped, IMG, 'true']);
      const taken = await runCommand(process.execPath, [WHARF_BIN, 'run', '--root', daemon.root, '--rm', '--network', 'none', '--name', stopped, IMG, 'true']);
      assert.notEqual(taken.code, 0, 'wharf run --root cannot take the name of a created (never started) daemon container');
      assert.match(taken.stderr, new RegExp(`container name "${stopped}" is already in use`));

      foreground = spawn(process.execPath, [WHARF_BIN, 'run', '--root', daemon.root, '--rm', '--network', 'none', '--name', fg, IMG, 'sh', '-c', "trap 'exit 0' TERM; echo up; sleep 60 & wait"], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      foreground.stdout!.on('data', (d: Buffer) => (out += d.toString()));
      await until('the foreground container runs', async () => out.includes('up'));
      const clash = await daemon.api('POST', `/v1.41/containers/create?name=${fg}`, { Image: IMG, Cmd: ['true'] });
      assert.equal(clash.status, 409, clash.body);
      assert.match((JSON.parse(clash.body) as { message: string }).message, new RegExp(`^Conflict. The container name "/${fg}" is already in use`));
      const renamed = await daemon.docker(['rename', stopped, fg]);
      assert.notEqual(renamed.code, 0, 'rename cannot take it either');

      await ok(['rm', stopped]);
      const free = await runCommand(process.execPath, [WHARF_BIN, 'run', '--root', daemon.root, '--rm', '--network', 'none', '--name', stopped, IMG, 'true']);
      assert.equal(free.code, 0, `the name is free once its container was removed: ${free.stderr}`);
    } finally {
      // wharf run passes the TERM on; the shell, PID 1 of its namespace, has a trap for it (a plain sleep would ignore it)
      foreground?.kill('SIGTERM');
      if (foreground && foreground.exitCode === null) await new Promise((r) => foreground!.once('exit', r));
      await daemon.docker(['rm', '-f', stopped]);
    }
  });
});

describe('wharf daemon: stats', () => {
  test('stats stream=true: a sample a second whose precpu is the previous sample; docker stats streams; --no-stream prints one', async () => {
    const name = `${PREFIX}-stats`;
    try {
      await ok(['run', '-d', '--name', name, IMG, 'sleep', '1000']);
      const samples = await new Promise<Array<{ read: string; preread: string; cpu_stats: { cpu_usage: { total_usage: number } }; precpu_stats: { cpu_usage: { total_usage: number } }; pids_stats: { current?: number } }>>((resolve, reject) => {
        const got: string[] = [];
        let buf = '';
        const req = request({ socketPath: daemon.socket, path: `/v1.41/containers/${name}/stats?stream=true` }, (res) => {
          assert.equal(res.statusCode, 200);
          res.setEncoding('utf8');
          res.on('data', (c: string) => {
            buf += c;
            let nl;
            while ((nl = buf.indexOf('\n')) >= 0) {
              got.push(buf.slice(0, nl));
              buf = buf.slice(nl + 1);
            }
            if (got.length >= 3) {
              req.destroy();
              resolve(got.map((l) => JSON.parse(l) as never));
            }
          });
        });
        req.on('error', (e) => (got.length >= 3 ? undefined : reject(e)));
        req.end();
      });
      assert.equal(samples[1]!.precpu_stats.cpu_usage.total_usage, samples[0]!.cpu_stats.cpu_usage.total_usage);
      assert.equal(samples[2]!.preread, samples[1]!.read);
      assert.ok(samples[2]!.cpu_stats.cpu_usage.total_usage >= samples[0]!.cpu_stats.cpu_usage.total_usage, 'cpu usage only grows');
      assert.ok(samples[0]!.cpu_stats.cpu_usage.total_usage > 0, 'the sleeper used some cpu to start');
      assert.equal(samples[0]!.pids_stats.current, 1);

      const cliOut = await new Promise<string>((resolve) => {
        const child = spawn('docker', ['-H', daemon.host, 'stats', '--format', '{{.Name}} {{.PIDs}}', name], { stdio: ['ignore', 'pipe', 'pipe'] });
        let out = '';
        child.stdout.setEncoding('utf8').on('data', (d: string) => {
          out += d;
          if ((out.match(new RegExp(`${name} 1`, 'g')) ?? []).length >= 2) child.kill('SIGTERM');
        });
        const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
        child.on('close', () => {
          clearTimeout(timer);
          resolve(out);
        });
      });
      assert.ok((cliOut.match(new RegExp(`${name} 1`, 'g')) ?? []).length >= 2, `docker stats streamed: ${JSON.stringify(cliOut)}`);
      assert.equal((await ok(['stats', '--no-stream', '--format', '{{.Name}} {{.PIDs}}', name])).trim(), `${name} 1`);
    } finally {
      await daemon.docker(['rm', '-f', name]);
    }
  });
});
