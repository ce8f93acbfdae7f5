/**
 * A container never reaches the caller's terminal (issue 12, "own session, own terminal").
 *
 * The test owns a pty (python3's pty module): `wharf run` starts as the session leader of
 * that pty, once with its stdio on the pty (a user's shell) and once with its stdio
 * redirected away (the pty stays its controlling terminal). Inside, a static program
 * pushes bytes into fds 0-2 and /dev/tty with TIOCSTI; afterwards the test counts the bytes
 * waiting in the pty's input queue (FIONREAD): none may be there. The same program run
 * directly on the pty shows that the injection is real and counted (the control).
 *
 * Also: the container is in its own session and process group (seen inside and from the
 * host), and the stdio relay passes every byte in order, stdin with -i, and the exit code.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { randomBytes } from 'node:crypto';
import { buildImage, buildLayer, compileStatic, pushImage } from './support/images.js';
import { busyboxLayer, runWharf, WHARF_BIN } from './support/run-node.js';
import { requireCommand } from './support/peers.js';
import { TTY_PROBE_SOURCE } from './support/tty-probe.js';
import { startTestWharf, type TestWharf } from './support/wharf.js';
import { NodeLayout } from '../runtime/layout.js';
import { removeAllSnapshots } from '../runtime/layers/snapshots.js';

const execFileP = promisify(execFile);

/** Runs argv as the session leader of a new pty; prints what the pty's input queue holds after it ended. */
const PTY_HARNESS = String.raw`
import fcntl, json, os, select, struct, sys, termios, tty
mode, outfile, argv = sys.argv[1], sys.argv[2], sys.argv[3:]
master, slave = os.openpty()
tty.setraw(slave)  # no echo, no line discipline: every injected byte stays countable
pid = os.fork()
if pid == 0:
    os.setsid()
    fcntl.ioctl(slave, termios.TIOCSCTTY, 0)
    if mode == 'tty':
        for fd in (0, 1, 2):
            os.dup2(slave, fd)
    else:
        null = os.open('/dev/null', os.O_RDONLY)
        out = os.open(outfile, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.dup2(null, 0); os.dup2(out, 1); os.dup2(out, 2)
    os.close(master)
    if slave > 2:
        os.close(slave)
    os.execv(argv[0], argv)
output = b''
status = None
while True:
    r, _, _ = select.select([master], [], [], 0.05)
    if r:
        try:
            output += os.read(master, 65536)
        except OSError:
            pass
    if status is None:
        wpid, st = os.waitpid(pid, os.WNOHANG)
        if wpid:
            status = os.waitstatus_to_exitcode(st)
    if status is not None and not r:
        break
queued = struct.unpack('i', fcntl.ioctl(slave, termios.FIONREAD, b'\0\0\0\0'))[0]
pending = b''
if queued:
    os.set_blocking(slave, False)
    pending = os.read(slave, queued)
print(json.dumps({'status': status, 'queued': queued, 'pending': pending.decode('latin1'), 'output': output.decode('latin1')}))
`;

interface PtyRun {
  status: number;
  queued: number;
  pending: string;
  /** what reached the pty (mode tty) */
  output: string;
  /** what reached the redirected stdout/stderr (mode redirected) */
  file: string;
}

let registry: TestWharf;
let root: string;
let scratch: string;
let probe: string;
let image: string;

async function underPty(mode: 'tty' | 'redirected', argv: string[]): Promise<PtyRun> {
  const outfile = join(scratch, `out-${randomBytes(4).toString('hex')}`);
  const { stdout } = await execFileP('python3', ['-c', PTY_HARNESS, mode, outfile, ...argv], { timeout: 120_000 });
  const r = JSON.parse(stdout) as Omit<PtyRun, 'file'>;
  const file = mode === 'redirected' ? await readFile(outfile, 'utf8') : '';
  return { ...r, file };
}

const PAYLOAD = 'touch /tmp/wharf-tiocsti-pwned\n';

before(async () => {
  await requireCommand('python3', 'python3');
  registry = await startTestWharf();
  root = await mkdtemp(join(tmpdir(), 'wharf-tty-node-'));
  scratch = await mkdtemp(join(tmpdir(), 'wharf-tty-scratch-'));
  probe = await compileStatic(TTY_PROBE_SOURCE, 'ttyprobe');
  const layers = [
    await busyboxLayer(['sh', 'cat', 'sleep', 'ls']),
    await buildLayer([{ type: 'file', path: 'bin/ttyprobe', content: await readFile(probe), mode: 0o755 }]),
  ];
  await pushImage(registry.url, 'tty/probe', 'v1', buildImage(layers, { Cmd: ['/bin/ttyprobe', 'session'] }));
  image = `${registry.hostPort}/tty/probe:v1`;
  // Pulled once here, so that every run below starts at once.
  const pulled = await runWharf(['run', '--rm', '--root', root, image, '/bin/ttyprobe', 'session']);
  assert.equal(pulled.code, 0, pulled.stderr);
});

after(async () => {
  await removeAllSnapshots(new NodeLayout(root)).catch(() => undefined);
  await rm(root, { recursive: true, force: true });
  await rm(scratch, { recursive: true, force: true });
  await registry.destroy();
});

const wharfRun = (...args: string[]) => [WHARF_BIN, 'run', '--rm', '--root', root, ...args];

describe('TIOCSTI into a terminal the test controls', () => {
  test('control: the probe run directly on the pty does inject, and the harness counts it', async () => {
    const onTty = await underPty('tty', [probe, 'inject', PAYLOAD]);
    assert.equal(onTty.status, 0);
    assert.match(onTty.output, /^fd0 ok$/m);
    assert.ok(onTty.queued >= PAYLOAD.length * 3, `queued ${onTty.queued}`);
    assert.ok(onTty.pending.includes(PAYLOAD));
    const redirected = await underPty('redirected', [probe, 'inject', PAYLOAD]);
    assert.match(redirected.file, /^tty ok$/m);
    assert.equal(redirected.pending, PAYLOAD);
  });

  test('wharf run with its stdio on the pty: nothing reaches the pty input, every target refused', async () => {
    const r = await underPty('tty', wharfRun(image, '/bin/ttyprobe', 'inject', PAYLOAD));
    assert.equal(r.status, 0, r.output);
    assert.equal(r.queued, 0, `injected: ${JSON.stringify(r.pending)}`);
    assert.match(r.output, /^fd0 ENOTTY$/m); // /dev/null
    assert.match(r.output, /^fd1 ENOTTY$/m); // a pipe of the relay
    assert.match(r.output, /^fd2 ENOTTY$/m);
    assert.match(r.output, /^tty ENXIO$/m); // no controlling terminal in its own session
  });

  test('wharf run with its stdio redirected, the pty still its controlling terminal: /dev/tty is not it', async () => {
    const r = await underPty('redirected', wharfRun(image, '/bin/ttyprobe', 'inject', PAYLOAD));
    assert.equal(r.status, 0, r.file);
    assert.equal(r.queued, 0, `injected: ${JSON.stringify(r.pending)}`);
    assert.match(r.file, /^tty ENXIO$/m);
    for (const fd of [0, 1, 2]) assert.match(r.file, new RegExp(`^fd${fd} ENOTTY$`, 'm'));
  });

  test('with -i the container reads a pipe, not the terminal', async () => {
    const r = await underPty('tty', wharfRun('-i', image, '/bin/ttyprobe', 'inject', PAYLOAD));
    assert.equal(r.queued, 0, `injected: ${JSON.stringify(r.pending)}`);
    assert.match(r.output, /^fd0 ENOTTY$/m);
    assert.match(r.output, /^tty ENXIO$/m);
  });
});

describe('session and process group', () => {
  test('inside: the program leads its own session and process group and has no controlling tty', async () => {
    const r = await underPty('tty', wharfRun(image, '/bin/ttyprobe', 'session'));
    assert.equal(r.status, 0, r.output);
    // In its pid namespace the program is pid 1; getsid() would be 0 for a session whose
    // leader is outside (the caller's), so sid=1 means a session of its own.
    assert.match(r.output, /sid=1 pgrp=1 pid=1 tty_nr=0/);
  });

  test("from the host: the container's session and process group are not the caller's", async () => {
    const child = spawn(WHARF_BIN, ['run', '--rm', '--root', root, image, 'sleep', '30'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let pid: number | undefined;
    try {
      const layout = new NodeLayout(root);
      for (let i = 0; i < 200 && pid === undefined; i++) {
        for (const id of readdirSync(layout.containersDir)) {
          try {
            const rec = JSON.parse(readFileSync(layout.containerRecordPath(id), 'utf8')) as { pid?: number; owner?: { pid: number } };
            if (rec.owner?.pid === child.pid && rec.pid) pid = rec.pid;
          } catch {
            /* being written */
          }
        }
        if (pid === undefined) await new Promise((r) => setTimeout(r, 50));
      }
      assert.ok(pid, 'the container record names its pid');
      const statOf = (p: number) => {
        const s = readFileSync(`/proc/${p}/stat`, 'utf8');
        const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
        return { pgrp: Number(f[2]), session: Number(f[3]), ttyNr: Number(f[4]) };
      };
      const caller = statOf(child.pid!);
      const container = statOf(pid);
      assert.notEqual(container.session, caller.session);
      assert.notEqual(container.pgrp, caller.pgrp);
      assert.equal(container.session, pid, 'the container init leads its session');
      assert.equal(container.ttyNr, 0);
    } finally {
      // The container's sleep is PID 1 of its namespace and ignores the TERM wharf run passes on: killed from here
      try {
        if (pid !== undefined) process.kill(pid, 'SIGKILL');
        else child.kill('SIGTERM');
      } catch {
        /* gone already */
      }
      await new Promise((r) => child.on('close', r));
    }
  });
});

describe('the stdio relay', () => {
  test('every byte of stdout and stderr, in order within each stream, and the exit code', async () => {
    const n = 20000;
    const r = await runWharf(['run', '--rm', '--root', root, image, '/bin/ttyprobe', 'pattern', String(n), '3']);
    assert.equal(r.code, 3, r.stderr);
    const expect = (tag: string) => Array.from({ length: n }, (_, i) => `${tag} ${i}\n`).join('');
    assert.equal(r.stdout.toString(), expect('out'));
    assert.equal(r.stderr, expect('err'));
  });

  test('-i passes stdin through (binary, 4 MiB) and its EOF; without -i stdin is /dev/null', async () => {
    const input = randomBytes(4 << 20);
    const r = await runWharf(['run', '--rm', '-i', '--root', root, image, 'cat'], { stdin: input });
    assert.equal(r.code, 0, r.stderr);
    assert.ok(r.stdout.equals(input), `got ${r.stdout.length} bytes of ${input.length}`);
    const without = await runWharf(['run', '--rm', '--root', root, image, 'cat'], { stdin: Buffer.from('not for the container\n') });
    assert.equal(without.code, 0, without.stderr);
    assert.equal(without.stdout.length, 0);
  });

  test("the container's fds 0-2 are the relay's pipes, not the caller's", async () => {
    const r = await runWharf(['run', '--rm', '--root', root, image, 'ls', '-l', '/proc/self/fd/']);
    assert.equal(r.code, 0, r.stderr);
    const out = r.stdout.toString();
    assert.match(out, / 0 -> \/dev\/null$/m);
    assert.match(out, / 1 -> pipe:\[\d+\]$/m);
    assert.match(out, / 2 -> pipe:\[\d+\]$/m);
  });

  test('exit codes pass unchanged', async () => {
    for (const code of [0, 1, 42, 255]) {
      const r = await runWharf(['run', '--rm', '--root', root, image, 'sh', '-c', `echo last; exit ${code}`]);
      assert.equal(r.code, code, r.stderr);
      assert.equal(r.stdout.toString(), 'last\n');
    }
  });
});
