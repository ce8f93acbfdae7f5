/**
 * Seccomp, capabilities and devices, end to end and side by side with Docker: one image
 * (busybox-static + a static probe compiled here, spec-tests/support/security-probe.ts)
 * pushed to a Wharf registry on an ephemeral port, run by `wharf run` and, pulled from
 * the same registry, by `docker run` on the shared dockerd. The probe reports each
 * syscall's errno and each device open; /proc/self/status gives CapEff, CapBnd,
 * NoNewPrivs and Seccomp. Wharf must say what Docker says, and refuse what the issue
 * names (devices 10:232, 10:183, 7:0, 4:0 after mknod; unshare, mount, keyctl, add_key,
 * bpf, reboot, kexec_load, open_by_handle_at).
 */
import { ownNetworkArgs } from './support/networks.js';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildImage, buildLayer, compileStatic, pushImage } from './support/images.js';
import { startTestWharf, type TestWharf } from './support/wharf.js';
import { ensureDockerd, requireCommand, run } from './support/peers.js';
import { SECURITY_PROBE_SOURCE } from './support/security-probe.js';
import { NodeLayout } from '../runtime/layout.js';
import { removeAllSnapshots } from '../runtime/layers/snapshots.js';
import { mknod } from '../runtime/native/fs.js';
import { CAPABILITY_NAMES as allCapabilityNames } from '../runtime/security/capabilities.js';

const WHARF = join(dirname(fileURLToPath(import.meta.url)), '..', 'bin', 'wharf.js');
const APPLETS = ['sh', 'cat', 'grep', 'mknod', 'mkdir', 'unshare', 'mount', 'id', 'ls', 'echo', 'true', 'head'];

interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
}

let registry: TestWharf;
let root: string;
let scratch: string;
let image: string;

function wharfRun(args: string[]): Promise<Ran> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [WHARF, 'run', '--rm', '--root', root, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

function dockerRun(args: string[], host?: string): Promise<Ran> {
  return new Promise((resolve, reject) => {
    const child = spawn('docker', [...(host ? ['-H', host] : []), 'run', '--rm', '--network', 'none', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** The script both runtimes run: status lines, the syscalls, ordinary programs, device opens after mknod. */
const SCRIPT = [
  'grep -E "^(CapPrm|CapEff|CapBnd|NoNewPrivs|Seccomp):" /proc/self/status',
  '/bin/secprobe syscalls',
  'unshare -U true >/dev/null 2>&1; echo "busybox_unshare_U $?"',
  'mkdir -p /mnt/t; mount -t tmpfs t /mnt/t >/dev/null 2>&1; echo "busybox_mount $?"',
  '/bin/secprobe ordinary',
  'ls / >/dev/null && echo "busybox_ls ok"',
  'mknod /dev/x-kvm c 10 232; mknod /dev/x-hwrng c 10 183; mknod /dev/x-loop0 b 7 0; mknod /dev/x-tty0 c 4 0',
  '/bin/secprobe open /dev/x-kvm /dev/x-hwrng /dev/x-loop0 /dev/x-tty0 /dev/null /dev/zero /dev/urandom',
].join('; ');

/** name -> value of every "name value" line (status lines have "Name:\tvalue"). */
function report(out: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const line of out.split('\n')) {
    const s = /^([A-Za-z]+):\s+(\S+)$/.exec(line) ?? /^(\S+) (.+)$/.exec(line);
    if (s) m.set(s[1]!, s[2]!);
  }
  return m;
}

/** Runs the script under both runtimes (Docker with `dockerFlags` when they must differ). */
async function both(flags: string[], script = SCRIPT, dockerFlags = flags): Promise<{ wharf: Map<string, string>; docker: Map<string, string>; w: Ran; d: Ran }> {
  const [w, d] = await Promise.all([wharfRun([...flags, image, 'sh', '-c', script]), dockerRun([...dockerFlags, image, 'sh', '-c', script])]);
  assert.equal(w.code, 0, `wharf run ${flags.join(' ')}: ${w.stderr}${w.stdout}`);
  assert.equal(d.code, 0, `docker run ${dockerFlags.join(' ')}: ${d.stderr}${d.stdout}`);
  return { wharf: report(w.stdout), docker: report(d.stdout), w, d };
}

/** Every line Docker printed, Wharf printed the same. */
function sameAsDocker(r: Awaited<ReturnType<typeof both>>, keys?: string[]): void {
  const names = keys ?? [...r.docker.keys()];
  assert.ok(names.length > 0, `docker printed nothing:\n${r.d.stdout}${r.d.stderr}`);
  const pick = (m: Map<string, string>) => Object.fromEntries(names.map((k) => [k, m.get(k)]));
  assert.deepEqual(pick(r.wharf), pick(r.docker), `wharf:\n${r.w.stdout}${r.w.stderr}\ndocker:\n${r.d.stdout}`);
}

/**
 * Capabilities the kernel knows but this node's bounding set lacks (this machine: CAP_SYS_RESOURCE).
 * Docker's --privileged and --cap-add ALL fail here ("unable to apply caps"); Wharf gives
 * what the node holds, which is Docker's `--cap-add ALL --cap-drop <these>`.
 */
function missingCapabilities(): string[] {
  const bnd = BigInt(`0x${/^CapBnd:\s*(\S+)/m.exec(readFileSync('/proc/self/status', 'utf8'))![1]}`);
  const last = Number(readFileSync('/proc/sys/kernel/cap_last_cap', 'utf8'));
  return allCapabilityNames.slice(0, last + 1).filter((_, i) => !((bnd >> BigInt(i)) & 1n));
}
const dropMissing = (): string[] => missingCapabilities().flatMap((c) => ['--cap-drop', c]);

/**
 * "All capabilities": Wharf gives every one the kernel has and the node holds (current
 * moby's GetAllCapabilities). The docker.io here (20.10) knows none after CAP_AUDIT_READ
 * (37), so its set may lack PERFMON, BPF and CHECKPOINT_RESTORE: Wharf's set must be
 * Docker's plus only those.
 */
function sameAllCapsAsDocker(r: Awaited<ReturnType<typeof both>>): void {
  for (const k of ['CapPrm', 'CapEff', 'CapBnd']) {
    const w = BigInt(`0x${r.wharf.get(k)}`);
    const d = BigInt(`0x${r.docker.get(k)}`);
    assert.equal(w & d, d, `${k}: wharf ${r.wharf.get(k)} lacks some of docker's ${r.docker.get(k)}`);
    assert.equal((w & ~d) & ((1n << 38n) - 1n), 0n, `${k}: wharf ${r.wharf.get(k)} has more than docker's ${r.docker.get(k)} below CAP_PERFMON`);
  }
  assert.equal(r.wharf.get('CapEff'), /^CapEff:\s*(\S+)/m.exec(readFileSync('/proc/self/status', 'utf8'))![1], "every capability this node holds");
}

const REFUSED = ['unshare_user', 'mount', 'keyctl', 'add_key', 'bpf', 'reboot', 'kexec_load', 'open_by_handle_at', 'busybox_unshare_U', 'busybox_mount'];

before(async () => {
  await requireCommand('gcc', 'gcc libc6-dev');
  await requireCommand('busybox', 'busybox-static');
  await ensureDockerd();
  registry = await startTestWharf();
  root = await mkdtemp(join(tmpdir(), 'wharf-sec-node-'));
  scratch = await mkdtemp(join(tmpdir(), 'wharf-sec-scratch-'));
  const probe = await readFile(await compileStatic(SECURITY_PROBE_SOURCE, 'secprobe'));
  const busybox = readFileSync('/bin/busybox');
  const layer = await buildLayer([
    { type: 'dir', path: 'bin' },
    { type: 'file', path: 'bin/busybox', content: busybox, mode: 0o755 },
    ...APPLETS.map((a) => ({ type: 'symlink' as const, path: `bin/${a}`, target: 'busybox' })),
    { type: 'file', path: 'bin/secprobe', content: probe, mode: 0o755 },
    { type: 'dir', path: 'mnt' },
    { type: 'dir', path: 'tmp', mode: 0o1777 },
  ]);
  await pushImage(registry.url, 'sec/probe', 'v1', buildImage([layer], { Cmd: ['sh'], Env: ['PATH=/bin'] }));
  image = `${registry.hostPort}/sec/probe:v1`;
  await run('docker', ['pull', image]);
});

let daemon: ChildProcess | undefined;
let daemonHost = '';

/** A Wharf node daemon of this test's own (its root, exec root and socket under scratch). */
async function startWharfDaemon(): Promise<string> {
  const sock = join(scratch, 'run', 'api.sock');
  const host = `unix://${sock}`;
  let log = '';
  daemon = spawn(process.execPath, [WHARF, 'daemon', '--root', join(scratch, 'droot'), '--exec-root', join(scratch, 'run'), '-H', host, ...ownNetworkArgs()], { stdio: ['ignore', 'pipe', 'pipe'] });
  daemon.stdout!.on('data', (d: Buffer) => (log += d.toString()));
  daemon.stderr!.on('data', (d: Buffer) => (log += d.toString()));
  for (let i = 0; i < 150; i++) {
    if (existsSync(sock) && (await run('docker', ['-H', host, 'version', '--format', '{{.Server.Version}}']).then(() => true, () => false))) return host;
    if (daemon.exitCode !== null) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`wharf daemon did not answer on ${sock}:\n${log}`);
}

after(async () => {
  if (daemon && daemon.exitCode === null) {
    daemon.kill('SIGTERM');
    await new Promise((r) => daemon!.once('exit', r));
  }
  await run('docker', ['rmi', '-f', image]).catch(() => undefined);
  await removeAllSnapshots(new NodeLayout(root)).catch(() => undefined);
  await rm(root, { recursive: true, force: true });
  await rm(scratch, { recursive: true, force: true });
  await registry?.destroy();
});

describe('seccomp and capabilities, as Docker', () => {
  test("default: Seccomp 2, Docker's capabilities, the dangerous syscalls refused, ordinary programs run", async () => {
    const r = await both([]);
    const w = r.wharf;
    assert.equal(w.get('Seccomp'), '2');
    assert.equal(w.get('NoNewPrivs'), '0');
    assert.equal(w.get('CapEff'), '00000000a80425fb');
    for (const k of REFUSED) assert.ok(w.get(k) === 'EPERM' || w.get(k) === '1', `${k}: ${w.get(k)}\n${r.w.stdout}`);
    assert.equal(w.get('clone3'), 'ENOSYS', 'clone3 answers ENOSYS so that libcs fall back to clone');
    assert.equal(w.get('clone_newns'), 'EPERM');
    for (const [k, v] of [['threads', '12'], ['socketpair', 'ping'], ['epoll', '1'], ['udp_socket', '1'], ['fork', '7'], ['busybox_ls', 'ok']]) assert.equal(w.get(k!), v, `${k}\n${r.w.stdout}${r.w.stderr}`);
    sameAsDocker(r);
  });

  test('devices: after mknod, kvm, hwrng, loop0 and tty0 refuse open (EPERM); null, zero, urandom open', async () => {
    const r = await both([]);
    for (const d of ['/dev/x-kvm', '/dev/x-hwrng', '/dev/x-loop0', '/dev/x-tty0']) assert.equal(r.wharf.get(d), 'EPERM', `${d}\n${r.w.stdout}`);
    for (const d of ['/dev/null', '/dev/zero', '/dev/urandom']) assert.equal(r.wharf.get(d), '0', d);
    sameAsDocker(r, ['/dev/x-kvm', '/dev/x-hwrng', '/dev/x-loop0', '/dev/x-tty0', '/dev/null', '/dev/zero', '/dev/urandom']);
  });

  test('--security-opt seccomp=unconfined: no filter (Seccomp 0); capabilities still refuse mount', async () => {
    const r = await both(['--security-opt', 'seccomp=unconfined']);
    assert.equal(r.wharf.get('Seccomp'), '0');
    assert.equal(r.wharf.get('mount'), 'EPERM');
    assert.equal(r.wharf.get('unshare_user'), '0', 'user namespaces need no capability: only the filter refused them');
    sameAsDocker(r);
  });

  test('--security-opt no-new-privileges: NoNewPrivs 1, still filtered', async () => {
    const r = await both(['--security-opt', 'no-new-privileges']);
    assert.equal(r.wharf.get('NoNewPrivs'), '1');
    assert.equal(r.wharf.get('Seccomp'), '2');
    sameAsDocker(r);
  });

  test('--cap-add SYS_ADMIN --cap-drop CHOWN: the capability opens the filter for mount and unshare', async () => {
    const r = await both(['--cap-add', 'SYS_ADMIN', '--cap-drop', 'chown']);
    assert.equal(r.wharf.get('CapEff'), '00000000a82425fa');
    assert.equal(r.wharf.get('busybox_mount'), '0');
    sameAsDocker(r);
  });

  test('--cap-drop ALL --cap-add NET_BIND_SERVICE, and --cap-add ALL', async () => {
    const dropped = await both(['--cap-drop', 'ALL', '--cap-add', 'CAP_NET_BIND_SERVICE']);
    assert.equal(dropped.wharf.get('CapEff'), '0000000000000400');
    sameAsDocker(dropped);
    const all = await both(['--cap-add', 'ALL'], SCRIPT, ['--cap-add', 'ALL', ...dropMissing()]);
    assert.equal(all.wharf.get('Seccomp'), '2');
    assert.equal(all.wharf.get('reboot'), 'EINVAL', 'CAP_SYS_BOOT lets reboot through to its magic check');
    assert.equal(all.wharf.get('keyctl'), 'EPERM', 'keyctl is in no allow list');
    sameAllCapsAsDocker(all);
    sameAsDocker(all, ['NoNewPrivs', 'Seccomp', ...REFUSED, 'clone3', 'clone_newns', 'chroot', 'ptrace_traceme']);
  });

  test('--privileged: every capability, no filter, host devices present and allowed, /sys writable', async () => {
    const script = `${SCRIPT}; /bin/secprobe open /dev/null /dev/full; grep -q " /sys sysfs rw," /proc/mounts && echo "sys_rw yes"; grep -q " /proc/sys proc ro," /proc/mounts && echo "proc_sys_ro yes"; ls /dev/loop-control >/dev/null 2>&1 && echo "loop_control present"`;
    // Docker's --privileged cannot start on a node missing a capability; its parts can:
    // every capability the node has, no filter, every device.
    const r = await both(['--privileged'], script, ['--cap-add', 'ALL', ...dropMissing(), '--security-opt', 'seccomp=unconfined', '--device', '/dev/loop-control']);
    assert.equal(r.wharf.get('Seccomp'), '0');

    assert.equal(r.wharf.get('sys_rw'), 'yes');
    assert.equal(r.wharf.get('proc_sys_ro'), undefined);
    for (const d of ['/dev/x-kvm', '/dev/x-hwrng', '/dev/x-loop0', '/dev/x-tty0']) assert.notEqual(r.wharf.get(d), 'EPERM', `${d} is allowed when privileged`);
    assert.equal(r.wharf.get('loop_control'), 'present', 'the host devices are in /dev');
    sameAllCapsAsDocker(r);
    sameAsDocker(r, ['NoNewPrivs', 'Seccomp', ...REFUSED, 'clone3', 'clone_newns', 'chroot', 'ptrace_traceme', '/dev/null', '/dev/full']);
  });

  test('--security-opt seccomp=<profile.json> in Docker format: its errno reaches the program', async () => {
    const profile = join(scratch, 'no-mkdir.json');
    await writeFile(
      profile,
      JSON.stringify({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['mkdir', 'mkdirat'], action: 'SCMP_ACT_ERRNO', errnoRet: 13 }] }),
    );
    const r = await both(['--security-opt', `seccomp=${profile}`], 'grep "^Seccomp:" /proc/self/status; mkdir /x 2>/dev/null; echo "mkdir $?"; /bin/secprobe syscalls');
    assert.equal(r.wharf.get('Seccomp'), '2');
    assert.equal(r.wharf.get('mkdir'), '1');
    assert.equal(r.wharf.get('unshare_user'), '0', 'this profile allows everything else');
    sameAsDocker(r);
  });

  test('--device HOST:CONTAINER[:rwm]: the node appears and its rule admits exactly the given access', async () => {
    const host = join(scratch, 'hwrng');
    mknod(host, 0o20600, 10, 183);
    const r = await both(['--device', `${host}:/dev/given:r`], '/bin/secprobe open /dev/given; /bin/secprobe openw /dev/given; ls -l /dev/given | head -c 10; echo');
    assert.notEqual(r.wharf.get('/dev/given')?.split(' ')[0], undefined);
    const [, writeLine] = r.w.stdout.split('\n');
    assert.equal(writeLine, '/dev/given EPERM', r.w.stdout);
    assert.deepEqual(r.w.stdout, r.d.stdout.replace(/\n$/, '\n'));
  });

  test('bad security flags exit 125 with a message', async () => {
    for (const [args, msg] of [
      [['--cap-add', 'FLY'], /unknown capability: "CAP_FLY"/],
      ...missingCapabilities().map((c) => [['--cap-add', c], /not available in the current environment/] as const),
      [['--security-opt', 'seccomp=/nonexistent.json'], /opening seccomp profile/],
      [['--security-opt', 'bogus'], /invalid --security-opt/],
      [['--device', '/dev/nonexistent-wharf'], /error gathering device information/],
      [['--device', 'relative'], /bad format for path/],
    ] as const) {
      const r = await wharfRun([...args, image, 'true']);
      assert.equal(r.code, 125, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, msg);
    }
  });
});

describe('through the node daemon (Engine API): the docker CLI gets the same security', () => {
  before(async () => {
    daemonHost = await startWharfDaemon();
    await run('docker', ['-H', daemonHost, 'pull', image]);
  });

  for (const flags of [[], ['--cap-add', 'SYS_ADMIN', '--cap-drop', 'CHOWN'], ['--security-opt', 'seccomp=unconfined'], ['--security-opt', 'no-new-privileges'], ['--cap-drop', 'ALL']]) {
    test(`docker -H <wharf daemon> run ${flags.join(' ') || '(defaults)'}: as dockerd`, async () => {
      const [w, d] = await Promise.all([dockerRun([...flags, image, 'sh', '-c', SCRIPT], daemonHost), dockerRun([...flags, image, 'sh', '-c', SCRIPT])]);
      assert.equal(w.code, 0, `wharf daemon: ${w.stderr}${w.stdout}`);
      assert.equal(d.code, 0, `dockerd: ${d.stderr}`);
      sameAsDocker({ wharf: report(w.stdout), docker: report(d.stdout), w, d });
    });
  }

  test('a seccomp profile file travels as its content (docker CLI) and applies', async () => {
    const profile = join(scratch, 'no-mkdir-daemon.json');
    await writeFile(profile, JSON.stringify({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['mkdir', 'mkdirat'], action: 'SCMP_ACT_ERRNO', errnoRet: 13 }] }));
    const script = 'grep "^Seccomp:" /proc/self/status; mkdir /x 2>/dev/null; echo "mkdir $?"';
    const w = await dockerRun(['--security-opt', `seccomp=${profile}`, image, 'sh', '-c', script], daemonHost);
    assert.equal(w.code, 0, w.stderr);
    assert.deepEqual(report(w.stdout), new Map([['Seccomp', '2'], ['mkdir', '1']]));
    const bad = await dockerRun(['--cap-add', 'FLY', image, 'true'], daemonHost);
    assert.equal(bad.code, 125);
    assert.match(bad.stderr, /unknown capability: "CAP_FLY"/);
  });
});
