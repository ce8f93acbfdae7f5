/**
 * Building the same 4-step Dockerfile side by side in one run (median of N, default 15; the
 * rows' runs interleaved):
 *
 *   dockerd   `DOCKER_BUILDKIT=0 docker build` against the machine's dockerd (the classic builder)
 *   wharf     the same docker CLI command against `wharf daemon`'s socket
 *   wharf CLI `wharf build` against the same daemon
 *
 * each cold (`--no-cache`; the base image already on both nodes) and fully cached (the same
 * build again: every step a cache hit). RUN steps use `--network none` on both (the shared
 * dockerd runs with --bridge=none; a bridge endpoint per RUN would compare unlike work). The Dockerfile: FROM a static busybox base, COPY a
 * small tree, RUN a shell command writing files, CMD. Ratios are wharf / dockerd (goal
 * <= 0.5). Prints the load average beside the figures (the machine is shared).
 * Usage: as root, after a build: node dist/bench/build.js [--runs 15]
 */
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildImage, buildLayer, pushImage } from '../spec-tests/support/images.js';
import { startTestWharf } from '../spec-tests/support/wharf.js';
import { runCommand, startTestDaemon, WHARF_BIN } from '../spec-tests/support/daemon.js';

const argv = process.argv.slice(2);
const RUNS = argv.includes('--runs') ? Number(argv[argv.indexOf('--runs') + 1]) : 15;
const TAG = `wharf-bench-build-${process.pid}:1`;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** image IDs dockerd built (-q prints them): an untagged one is removed at the end, with its parents */
const dockerdImages = new Set<string>();

async function timedRun(cmd: string, args: string[], env: NodeJS.ProcessEnv, ids?: Set<string>): Promise<number> {
  const t0 = process.hrtime.bigint();
  const r = await runCommand(cmd, args, { env, timeoutMs: 300_000 });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.code}: ${r.stdout}${r.stderr}`);
  const id = /sha256:[0-9a-f]{64}/.exec(r.stdout)?.[0];
  if (ids && id) ids.add(id);
  return ms;
}

/**
 * The rows' runs interleaved (a, b, c, a, b, c, ...), so that the shared machine's load
 * drifts over every row alike; a warm-up run of each first (for the cached rows, the build
 * that fills the cache). Medians, in the rows' order.
 */
async function measureRows(rows: Array<[string, () => Promise<number>]>): Promise<number[]> {
  for (const [, once] of rows) await once();
  const times = rows.map(() => [] as number[]);
  for (let i = 0; i < RUNS; i++) for (const [k, [, once]] of rows.entries()) times[k]!.push(await once());
  return rows.map(([name], k) => {
    const t = times[k]!;
    process.stdout.write(`  ${name.padEnd(22)} median ${median(t).toFixed(1).padStart(8)} ms   min ${Math.min(...t).toFixed(1)}   max ${Math.max(...t).toFixed(1)}\n`);
    return median(t);
  });
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('the build bench needs root');
  const registry = await startTestWharf();
  const daemon = await startTestDaemon({ registry: registry.hostPort });
  const work = await mkdtemp(join(tmpdir(), 'wharf-bench-build-'));
  const classic = { ...process.env, DOCKER_BUILDKIT: '0', DOCKER_CLI_HINTS: 'false' };
  const dockerd = { ...classic, DOCKER_HOST: '' };
  const ours = { ...classic, DOCKER_HOST: daemon.host };
  const base = `${registry.hostPort}/wharf-bench-build-${process.pid}/bb:1`;
  try {
    const applets = ['sh', 'echo', 'cat', 'mkdir', 'seq', 'true'];
    const layer = await buildLayer([
      { type: 'dir', path: 'bin' },
      { type: 'file', path: 'bin/busybox', content: await readFile('/bin/busybox'), mode: 0o755 },
      ...applets.map((a) => ({ type: 'symlink' as const, path: `bin/${a}`, target: 'busybox' })),
    ]);
    await pushImage(registry.url, `wharf-bench-build-${process.pid}/bb`, '1', buildImage([layer], { Cmd: ['sh'] }, 'docker'));
    const ctx = join(work, 'ctx');
    await mkdir(join(ctx, 'app'), { recursive: true });
    for (let i = 0; i < 20; i++) await writeFile(join(ctx, 'app', `f${i}.txt`), `file ${i}\n`.repeat(100));
    await writeFile(
      join(ctx, 'Dockerfile'),
      [`FROM ${base}`, 'COPY app /app/', 'RUN mkdir -p /out && for i in $(seq 1 50); do echo $i > /out/$i; done', 'CMD ["cat", "/app/f1.txt"]', ''].join('\n'),
    );
    for (const env of [dockerd, ours]) {
      const r = await runCommand('docker', ['pull', base], { env });
      if (r.code !== 0) throw new Error(`pull of the base failed: ${r.stderr}`);
    }
    const build = (env: NodeJS.ProcessEnv, extra: string[]) => () => timedRun('docker', ['build', '-q', '--network', 'none', ...extra, '-t', TAG, ctx], env, env === dockerd ? dockerdImages : undefined);
    const wharfBuild = (extra: string[]) => () => timedRun(process.execPath, [WHARF_BIN, '-H', daemon.host, 'build', '-q', '--network', 'none', ...extra, '-t', TAG, ctx], process.env);

    process.stdout.write(`cold (--no-cache), ${RUNS} runs, load ${loadavg().map((l) => l.toFixed(2)).join(' ')}\n`);
    const [coldD, coldW, coldC] = (await measureRows([
      ['docker -> dockerd', build(dockerd, ['--no-cache'])],
      ['docker -> wharf', build(ours, ['--no-cache'])],
      ['wharf build', wharfBuild(['--no-cache'])],
    ])) as [number, number, number];
    process.stdout.write(`fully cached, ${RUNS} runs, load ${loadavg().map((l) => l.toFixed(2)).join(' ')}\n`);
    const [hotD, hotW, hotC] = (await measureRows([
      ['docker -> dockerd', build(dockerd, [])],
      ['docker -> wharf', build(ours, [])],
      ['wharf build', wharfBuild([])],
    ])) as [number, number, number];
    const ratio = (a: number, b: number) => `${(a / b).toFixed(2)}x`;
    process.stdout.write(`ratios (wharf / dockerd; goal <= 0.5x): cold docker CLI ${ratio(coldW, coldD)}, cold wharf CLI ${ratio(coldC, coldD)}, cached docker CLI ${ratio(hotW, hotD)}, cached wharf CLI ${ratio(hotC, hotD)}\n`);
    process.stdout.write(`load after: ${loadavg().map((l) => l.toFixed(2)).join(' ')}\n`);
  } finally {
    // every --no-cache build left the previous image untagged on dockerd: remove them all
    await runCommand('docker', ['rmi', '-f', TAG, ...dockerdImages, base], { env: dockerd });
    await daemon.stop();
    await registry.destroy();
    await rm(work, { recursive: true, force: true });
  }
}

await main();
