/**
 * The node daemon's start latency, side by side in one run (median of N, default 30):
 *
 *   docker -> dockerd    `docker run --rm --network none IMG /true` against the machine's dockerd
 *   docker -> wharf      the same docker CLI command against `wharf daemon`'s socket
 *   wharf -> wharf       `wharf -H <socket> run --rm --network none IMG /true` (the Node CLI,
 *                        run as a command; with NODE_EXTRA_CA_CERTS set, as `node wharf.js` too)
 *   API -> wharf --rm    the daemon's own path, from a client in this process: what
 *                        `docker run --rm` sends (create AutoRemove, wait removed, start)
 *   API -> wharf rm      the same with create, start, wait, DELETE (no AutoRemove)
 *   crun / runc          `<runtime> run --bundle` of the same rootfs (mounted once), with the
 *                        seccomp filter dockerd would give them (Docker's default profile);
 *                        crun without it too, for reference
 *
 * Then the daemon's RSS with 20 containers running, 2 s and 30 s after the last start
 * (idle: the goal is read at 30 s), and the shims' RSS.
 * Usage: as root, after a build: node dist/bench/daemon-start.js [--runs 30]
 */
import { spawn, execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { buildImage, buildLayer, compileStatic, pushImage } from '../spec-tests/support/images.js';
import { startTestWharf } from '../spec-tests/support/wharf.js';
import { runCommand, startTestDaemon, WHARF_BIN } from '../spec-tests/support/daemon.js';
import { NodeLayout } from '../runtime/layout.js';
import { prepareSnapshot, removeSnapshot } from '../runtime/layers/snapshots.js';
import { dockerDefaultProfile, runtimeSpecSeccomp } from '../runtime/security/seccomp.js';
import { DOCKER_DEFAULT_CAPABILITIES } from '../runtime/native/spawn.js';

const execFileP = promisify(execFile);
const argv = process.argv.slice(2);
const RUNS = argv.includes('--runs') ? Number(argv[argv.indexOf('--runs') + 1]) : 30;
/** `--only api,crun`: just these rows (dockerd, wharf, wharfCli, api, apiDelete, crun, runc, rss) */
const ONLY = argv.includes('--only') ? new Set(argv[argv.indexOf('--only') + 1]!.split(',')) : undefined;
const want = (row: string) => !ONLY || ONLY.has(row);

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

async function timed(f: () => Promise<void>): Promise<number> {
  const t0 = process.hrtime.bigint();
  await f();
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

async function measure(name: string, runs: number, once: (i: number) => Promise<void>, row: string): Promise<number> {
  if (!want(row)) return NaN;
  await once(-1);
  const times: number[] = [];
  for (let i = 0; i < runs; i++) times.push(await timed(() => once(i)));
  process.stdout.write(`  ${name.padEnd(18)} median ${median(times).toFixed(1).padStart(7)} ms   min ${Math.min(...times).toFixed(1)}   max ${Math.max(...times).toFixed(1)}\n`);
  return median(times);
}

async function must(cmd: string, args: string[], env?: NodeJS.ProcessEnv): Promise<void> {
  const r = await runCommand(cmd, args, env ? { env } : {});
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
}

function api(socket: string, method: string, path: string, body?: object): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const data = body ? JSON.stringify(body) : undefined;
    const req = request({ socketPath: socket, method, path, headers: data ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) } : {} }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
    });
    req.on('error', reject);
    req.end(data);
  });
}

async function rssKiB(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/^VmRSS:\s+(\d+)/m.exec(status)?.[1] ?? 0);
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('the daemon-start bench needs root');
  const registry = await startTestWharf();
  const daemon = await startTestDaemon({ registry: registry.hostPort });
  const work = await mkdtemp(join(tmpdir(), 'wharf-bench-daemon-'));
  const dockerEnv = { ...process.env, DOCKER_HOST: '' };
  const ours = { ...process.env, DOCKER_HOST: daemon.host };
  let ref = '';
  try {
    const trueBin = await readFile(await compileStatic('int main(void) { return 0; }\n', 'true'));
    const sleeper = await readFile(await compileStatic('#include <unistd.h>\nint main(void) { for (;;) pause(); }\n', 'pause'));
    const image = buildImage([await buildLayer([{ type: 'file', path: 'true', content: trueBin, mode: 0o755 }, { type: 'file', path: 'pause', content: sleeper, mode: 0o755 }])], { Cmd: ['/true'] });
    await pushImage(registry.url, 'bench/true', 'v1', image);
    ref = `${registry.hostPort}/bench/true:v1`;
    await must('docker', ['pull', '-q', ref], dockerEnv);
    await must(process.execPath, [WHARF_BIN, 'pull', '--root', daemon.root, ref]);

    process.stdout.write(`daemon start latency: run /true, ${RUNS} runs each (median)\n`);
    const r: Record<string, number> = {};
    r.dockerd = await measure('docker -> dockerd', RUNS, () => must('docker', ['run', '--rm', '--network', 'none', ref, '/true'], dockerEnv), 'dockerd');
    r.wharf = await measure('docker -> wharf', RUNS, () => must('docker', ['-H', daemon.host, 'run', '--rm', '--network', 'none', ref, '/true'], ours), 'wharf');
    // The wharf command as a user runs it (its shebang starts node), then as `node
    // dist/bin/wharf.js`: with NODE_EXTRA_CA_CERTS set, node parses the CA bundles it names as
    // it starts (~40 ms of CPU on the machines this was written on), which the shebang leaves
    // out for the client verbs (bin/v8-flags.ts).
    r.wharfCli = await measure('wharf -> wharf', RUNS, () => must(WHARF_BIN, ['-H', daemon.host, 'run', '--rm', '--network', 'none', ref, '/true']), 'wharfCli');
    if (process.env.NODE_EXTRA_CA_CERTS) {
      r.wharfCliNode = await measure('  as node wharf.js', RUNS, () => must(process.execPath, [WHARF_BIN, '-H', daemon.host, 'run', '--rm', '--network', 'none', ref, '/true']), 'wharfCli');
    }
    // What `docker run --rm` asks of the daemon, without the CLI: create with AutoRemove,
    // wait for condition=removed, start; done once the container is gone.
    r.api = await measure('API -> wharf --rm', RUNS, async () => {
      const c = await api(daemon.socket, 'POST', '/v1.41/containers/create', { Image: ref, Cmd: ['/true'], HostConfig: { NetworkMode: 'none', AutoRemove: true } });
      const id = (JSON.parse(c.body) as { Id: string }).Id;
      const wait = api(daemon.socket, 'POST', `/v1.41/containers/${id}/wait?condition=removed`);
      await new Promise((res) => setTimeout(res, 0));
      const s = await api(daemon.socket, 'POST', `/v1.41/containers/${id}/start`);
      if (s.status !== 204) throw new Error(`start: ${s.status} ${s.body}`);
      const w = await wait;
      if (w.status !== 200 || (JSON.parse(w.body) as { StatusCode: number }).StatusCode !== 0) throw new Error(`wait: ${w.status} ${w.body}`);
    }, 'api');
    // The same without AutoRemove: create, start, wait next-exit, DELETE.
    r.apiDelete = await measure('API -> wharf rm', RUNS, async () => {
      const c = await api(daemon.socket, 'POST', '/v1.41/containers/create', { Image: ref, Cmd: ['/true'], HostConfig: { NetworkMode: 'none' } });
      const id = (JSON.parse(c.body) as { Id: string }).Id;
      const wait = api(daemon.socket, 'POST', `/v1.41/containers/${id}/wait?condition=next-exit`);
      await new Promise((res) => setTimeout(res, 0));
      const s = await api(daemon.socket, 'POST', `/v1.41/containers/${id}/start`);
      if (s.status !== 204) throw new Error(`start: ${s.status} ${s.body}`);
      await wait;
      await api(daemon.socket, 'DELETE', `/v1.41/containers/${id}`);
    }, 'apiDelete');
    const layout = new NodeLayout(daemon.root);
    const img = JSON.parse(await readFile(layout.imageRecordPath(ref), 'utf8')) as { layers: { diffId: string }[] };
    const shared = await prepareSnapshot(layout, 'oci-bench', img.layers.map((l) => l.diffId) as never);
    // What dockerd hands the runtime for the same `docker run`: Docker's default seccomp
    // profile (its filter costs a start ~0.8 ms to load here), which `<runtime> spec` leaves
    // out. The bare `crun spec` is measured too, for reference.
    const seccomp = runtimeSpecSeccomp(dockerDefaultProfile(), { capabilities: DOCKER_DEFAULT_CAPABILITIES });
    for (const [row, runtime, withSeccomp] of [['crun', 'crun', true], ['runc', 'runc', true], ['crunBare', 'crun', false]] as const) {
      const bundle = join(work, row);
      await execFileP('mkdir', ['-p', bundle]);
      await execFileP(runtime, ['spec'], { cwd: bundle });
      const spec = JSON.parse(await readFile(join(bundle, 'config.json'), 'utf8')) as { process: { terminal: boolean; args: string[] }; root: { path: string; readonly: boolean }; linux: { seccomp?: unknown } };
      spec.process.terminal = false;
      spec.process.args = ['/true'];
      spec.root = { path: shared.rootfs, readonly: false };
      if (withSeccomp) spec.linux.seccomp = seccomp;
      await writeFile(join(bundle, 'config.json'), JSON.stringify(spec));
      const name = withSeccomp ? `${runtime} (seccomp)` : `${runtime} (no seccomp)`;
      r[row] = await measure(name, RUNS, (i) => must(runtime, ['run', '--bundle', bundle, `wharf-bench-d-${process.pid}-${i + 1}`]), row === 'crunBare' ? 'crun' : row);
    }
    await removeSnapshot(layout, 'oci-bench');
    const x = (a: number, b: number) => `${(a / b).toFixed(2)}x`;
    process.stdout.write(
      [
        'ratios (lower is faster for wharf):',
        `  docker -> wharf / docker -> dockerd  ${x(r.wharf!, r.dockerd!)}   (goal <= 0.3x)`,
        `  wharf -> wharf  / docker -> dockerd  ${x(r.wharfCli!, r.dockerd!)}   (goal <= 0.5x)${r.wharfCliNode === undefined ? '' : `   as node wharf.js, reading NODE_EXTRA_CA_CERTS ${x(r.wharfCliNode, r.dockerd!)}`}`,
        `  API -> wharf --rm / crun             ${x(r.api!, r.crun!)}   (goal <= 1.0x)   / runc ${x(r.api!, r.runc!)}   / crun without seccomp ${x(r.api!, r.crunBare!)}`,
        `  API -> wharf rm   / crun             ${x(r.apiDelete!, r.crun!)}`,
        '',
      ].join('\n'),
    );

    // Idle footprint with 20 containers running.
    if (!want('rss')) return;
    for (let i = 0; i < 20; i++) await must('docker', ['-H', daemon.host, 'run', '-d', '--network', 'none', ref, '/pause'], ours);
    // Idle: nothing asks the daemon anything for 30 s. V8 gives memory back only once the
    // isolate has been quiet a while (its memory reducer: ~12 s here), so the RSS 2 s after
    // the last start is shown too, and the goal is read at 30 s.
    const pid = daemon.process().pid!;
    await new Promise((res) => setTimeout(res, 2000));
    const daemonRssBusy = await rssKiB(pid);
    await new Promise((res) => setTimeout(res, 28_000));
    const shimPids = (await execFileP('pgrep', ['-f', `wharf-shim -b ${daemon.root}`])).stdout.split('\n').filter(Boolean).map(Number);
    const shimRss = await Promise.all(shimPids.map(rssKiB));
    const daemonRss = await rssKiB(pid);
    const mib = (kib: number) => `${(kib / 1024).toFixed(1)} MiB`;
    process.stdout.write(
      `footprint with 20 containers running: daemon RSS idle 30 s ${mib(daemonRss)} (goal <= 60; 2 s after the last start ${mib(daemonRssBusy)}), shims ${shimPids.length} x median ${(median(shimRss) / 1024).toFixed(2)} MiB (goal <= 1)\n`,
    );
  } finally {
    const ids = (await runCommand('docker', ['-H', daemon.host, 'ps', '-aq'], { env: ours })).stdout.split('\n').filter(Boolean);
    if (ids.length > 0) await runCommand('docker', ['-H', daemon.host, 'rm', '-f', ...ids], { env: ours });
    await daemon.stop('SIGTERM');
    if (ref) await runCommand('docker', ['rmi', ref], { env: dockerEnv });
    await rm(daemon.dir, { recursive: true, force: true });
    await rm(work, { recursive: true, force: true });
    await registry.destroy();
  }
}

/** As bench/start-latency.ts: crun refuses the hybrid cgroup2 mount; every runtime runs without it. */
async function inBenchNamespace(): Promise<number | undefined> {
  if (process.env.WHARF_BENCH_NS === '1') return undefined;
  const unified = await readFile('/sys/fs/cgroup/unified/cgroup.controllers', 'utf8').catch(() => '');
  if (unified.trim() === '') return undefined;
  return new Promise((resolve, reject) => {
    const child = spawn('unshare', ['--mount', '--propagation', 'private', 'sh', '-c', 'umount /sys/fs/cgroup/unified && exec "$0" "$@"', process.execPath, ...process.argv.slice(1)], {
      stdio: 'inherit',
      env: { ...process.env, WHARF_BENCH_NS: '1' },
    });
    child.on('error', reject);
    child.on('close', (code) => resolve(code ?? 1));
  });
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  inBenchNamespace()
    .then(async (code) => {
      if (code !== undefined) process.exitCode = code;
      else await main();
    })
    .catch((e: unknown) => {
      process.stderr.write(`${(e as Error).stack ?? String(e)}\n`);
      process.exit(1);
    });
}
