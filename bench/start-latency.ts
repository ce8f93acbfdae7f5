/**
 * Container start latency, side by side with crun and runc in the same run: a pulled
 * image whose rootfs holds a static /true, run N times (default 30) each way, medians
 * and ratios printed.
 *
 *   wharf (CLI)      `node dist/bin/wharf.js run --rm --root <node> <image> /true`: what a
 *                    user types; includes Node's start and the CLI's module loading
 *   wharf (module)   runContainer() from runtime/containers/run.ts, the code path behind the CLI, in
 *                    this process: pull check, overlay mount, cgroup, clone, wait, cleanup
 *   crun / runc      `<runtime> run --bundle <b> <id>` on an OCI bundle made by `runc spec`
 *                    whose root is the same image rootfs (an overlay of the same unpacked
 *                    layers, mounted once); foreground run deletes the container at exit
 *
 * Wharf mounts (and unmounts) a fresh overlay per start; the OCI runtimes get theirs
 * mounted beforehand, so the comparison is, if anything, tilted towards them.
 * Usage: as root, after a build: node dist/bench/start-latency.js [--runs 30]
 */
import { spawn, execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { buildImage, buildLayer, compileStatic, pushImage } from '../spec-tests/support/images.js';
import { startTestWharf } from '../spec-tests/support/wharf.js';
import { ImageStore } from '../runtime/images/store.js';
import { prepareSnapshot, removeAllSnapshots } from '../runtime/layers/snapshots.js';
import { runContainer } from '../runtime/containers/run.js';
import { parseRunFlags } from '../runtime/containers/run-options.js';

const execFileP = promisify(execFile);
const argv = process.argv.slice(2);
const RUNS = argv.includes('--runs') ? Number(argv[argv.indexOf('--runs') + 1]) : 30;
const WHARF_BIN = join(dirname(fileURLToPath(import.meta.url)), '..', 'bin', 'wharf.js');

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** Milliseconds from spawn to exit; fails on a non-zero exit. */
function timeProcess(cmd: string, args: string[], opts: { cwd?: string } = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const child = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'], ...opts });
    let err = '';
    child.stderr.on('data', (c: Buffer) => (err += c.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      if (code === 0) resolve(ms);
      else reject(new Error(`${cmd} ${args.join(' ')} exited ${code}: ${err.trim()}`));
    });
  });
}

async function measure(name: string, runs: number, once: (i: number) => Promise<number>): Promise<number[]> {
  await once(-1); // warm-up: page cache, first cgroup parent creation
  const times: number[] = [];
  for (let i = 0; i < runs; i++) times.push(await once(i));
  process.stdout.write(`  ${name.padEnd(16)} median ${median(times).toFixed(1).padStart(7)} ms   min ${Math.min(...times).toFixed(1)}   max ${Math.max(...times).toFixed(1)}\n`);
  return times;
}

async function ociBundle(runtime: string, rootfs: string, dir: string): Promise<void> {
  await execFileP(runtime, ['spec'], { cwd: dir });
  const spec = JSON.parse(await readFile(join(dir, 'config.json'), 'utf8')) as {
    process: { terminal: boolean; args: string[] };
    root: { path: string; readonly: boolean };
  };
  spec.process.terminal = false;
  spec.process.args = ['/true'];
  spec.root = { path: rootfs, readonly: false };
  await writeFile(join(dir, 'config.json'), JSON.stringify(spec, null, 2));
}

export async function benchStartLatency(runs = RUNS): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('the start-latency bench needs root');
  const registry = await startTestWharf();
  const nodeRoot = await mkdtemp(join(tmpdir(), 'wharf-bench-node-'));
  const work = await mkdtemp(join(tmpdir(), 'wharf-bench-oci-'));
  try {
    const trueBin = await readFile(await compileStatic('int main(void) { return 0; }\n', 'true'));
    const image = buildImage([await buildLayer([{ type: 'file', path: 'true', content: trueBin, mode: 0o755 }])], { Cmd: ['/true'] });
    await pushImage(registry.url, 'bench/true', 'v1', image);
    const ref = `${registry.hostPort}/bench/true:v1`;
    const store = new ImageStore(nodeRoot);
    const rec = await store.pull(ref);
    const shared = await prepareSnapshot(store.layout, 'oci-bench', rec.layers.map((l) => l.diffId));

    process.stdout.write(`start latency: run /true, ${runs} runs each (median)\n`);
    const results: Record<string, number> = {};
    const cliTimes = await measure('wharf (CLI)', runs, () => timeProcess(process.execPath, [WHARF_BIN, 'run', '--rm', '--root', nodeRoot, ref]));
    results.wharfCli = median(cliTimes);
    const flags = await parseRunFlags({ rm: true }, {}, availableParallelism());
    const modTimes = await measure('wharf (module)', runs, async () => {
      const t0 = process.hrtime.bigint();
      const r = await runContainer({ image: ref, args: [], flags, root: nodeRoot, log: () => undefined });
      if (r.exitCode !== 0) throw new Error(`wharf run exited ${r.exitCode}`);
      return Number(process.hrtime.bigint() - t0) / 1e6;
    });
    results.wharfModule = median(modTimes);
    for (const runtime of ['crun', 'runc']) {
      const bundle = join(work, runtime);
      await execFileP('mkdir', ['-p', bundle]);
      await ociBundle(runtime, shared.rootfs, bundle);
      const times = await measure(runtime, runs, (i) => timeProcess(runtime, ['run', '--bundle', bundle, `wharf-bench-${process.pid}-${i + 1}`]));
      results[runtime] = median(times);
    }
    const ratio = (a: number, b: number): string => `${(a / b).toFixed(2)}x`;
    process.stdout.write(
      [
        `ratios (lower is faster for wharf):`,
        `  wharf CLI    / crun ${ratio(results.wharfCli, results.crun!)}   / runc ${ratio(results.wharfCli, results.runc!)}`,
        `  wharf module / crun ${ratio(results.wharfModule, results.crun!)}   / runc ${ratio(results.wharfModule, results.runc!)}`,
        '',
      ].join('\n'),
    );
  } finally {
    await removeAllSnapshots(new ImageStore(nodeRoot).layout).catch(() => undefined);
    await rm(nodeRoot, { recursive: true, force: true });
    await rm(work, { recursive: true, force: true });
    await registry.destroy();
  }
}

/**
 * crun refuses a hybrid cgroup setup whose cgroup2 mount has any controller available
 * ("cgroups in hybrid mode not supported"; here hugetlb is). So the whole bench, all three
 * runtimes alike, runs in a private mount namespace without /sys/fs/cgroup/unified (the v1
 * hierarchies, which wharf, crun and runc use, stay as they are).
 */
async function inBenchNamespace(): Promise<number | undefined> {
  if (process.env.WHARF_BENCH_NS === '1') return undefined;
  const unified = await readFile('/sys/fs/cgroup/unified/cgroup.controllers', 'utf8').catch(() => '');
  if (unified.trim() === '') return undefined;
  return new Promise((resolve, reject) => {
    const child = spawn(
      'unshare',
      ['--mount', '--propagation', 'private', 'sh', '-c', 'umount /sys/fs/cgroup/unified && exec "$0" "$@"', process.execPath, ...process.argv.slice(1)],
      { stdio: 'inherit', env: { ...process.env, WHARF_BENCH_NS: '1' } },
    );
    child.on('error', reject);
    child.on('close', (code) => resolve(code ?? 1));
  });
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  inBenchNamespace()
    .then(async (code) => {
      if (code !== undefined) process.exitCode = code;
      else await benchStartLatency();
    })
    .catch((e: unknown) => {
      process.stderr.write(`${(e as Error).stack ?? String(e)}\n`);
      process.exit(1);
    });
}
