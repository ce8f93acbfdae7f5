/**
 * Proxy-cache benchmark, side by side with registry:2 in proxy mode (`proxy.remoteurl`,
 * Debian's docker-registry) on the same upstream (another registry:2) in the same run:
 *   - direct pull of a 1 GiB blob from the upstream (the baseline of a cold pull)
 *   - cold pull through each cache (target: Wharf <= 1.1x direct)
 *   - warm pull through each cache (target: Wharf >= 1.0x registry:2's speed)
 *   - 20 concurrent cold pulls of a 256 MiB blob: bytes the upstream sent to each cache
 *     (target: Wharf 1x the blob; registry:2 fetches per client)
 * Every path, the direct one included, goes through an identical counting forwarder,
 * which counts the upstream's bytes. Pulls are curl -o /dev/null.
 * Usage: npm run build && node dist/bench/proxy.js [--size-mib 1024] [--concurrent-mib 256]
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { startCountingForwarder, type CountingForwarder } from '../spec-tests/support/proxy.js';
import { freePort, REFERENCE_REGISTRY_BIN, startReferenceRegistry } from '../spec-tests/support/registry.js';

const execFileP = promisify(execFile);
const args = process.argv.slice(2);
const arg = (name: string, dflt: number): number => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : dflt;
};
const SIZE_MIB = arg('--size-mib', 1024);
const CONCURRENT_MIB = arg('--concurrent-mib', 256);
const CLIENTS = 20;

async function waitUp(url: string): Promise<void> {
  for (let i = 0; i < 300; i++) {
    if (await fetch(`${url}/v2/`).then((r) => r.status === 200, () => false)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${url} did not come up`);
}

async function randomFile(path: string, mib: number): Promise<string> {
  const hash = createHash('sha256');
  const out = createWriteStream(path);
  for (let i = 0; i < mib; i++) {
    const chunk = randomBytes(1 << 20);
    hash.update(chunk);
    if (!out.write(chunk)) await new Promise<void>((r) => out.once('drain', () => r()));
  }
  await new Promise<void>((resolve, reject) => out.end((err?: Error | null) => (err ? reject(err) : resolve())));
  return `sha256:${hash.digest('hex')}`;
}

async function push(url: string, repo: string, file: string, digest: string): Promise<void> {
  const post = await fetch(`${url}/v2/${repo}/blobs/uploads/`, { method: 'POST' });
  const location = new URL(post.headers.get('location')!, url);
  location.searchParams.set('digest', digest);
  await execFileP('curl', ['-sf', '-T', file, '-H', 'Content-Type: application/octet-stream', location.toString()]);
}

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - t) / 1e9;
}

const pull = (url: string) => timed(() => execFileP('curl', ['-sf', '-o', '/dev/null', url], { maxBuffer: 1 << 20 }));

interface Proc {
  url: string;
  close(): Promise<void>;
}

async function startProcess(command: string, argv: string[], url: string, env: Record<string, string> = {}): Promise<Proc> {
  const proc: ChildProcess = spawn(command, argv, { stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, ...env } });
  await waitUp(url);
  return {
    url,
    close: async () => {
      proc.kill('SIGTERM');
      await new Promise((r) => proc.once('exit', r));
    },
  };
}

async function startWharfCache(dir: string, upstream: string): Promise<Proc> {
  const port = await freePort();
  const bin = join(dirname(fileURLToPath(import.meta.url)), '..', 'bin', 'wharf.js');
  return startProcess(process.execPath, [bin, 'serve', '--addr', `127.0.0.1:${port}`, '--root', join(dir, 'wharf')], `http://127.0.0.1:${port}`, {
    WHARF_PROXY_UPSTREAMS: JSON.stringify([{ name: 'up', url: upstream }]),
  });
}

async function startRegistryCache(dir: string, upstream: string): Promise<Proc> {
  const port = await freePort();
  const config = join(dir, 'registry-proxy.yml');
  await writeFile(
    config,
    [
      'version: 0.1',
      'log: { level: error, accesslog: { disabled: true } }',
      `storage: { filesystem: { rootdirectory: ${join(dir, 'registry-proxy')} } }`,
      `http: { addr: 127.0.0.1:${port} }`,
      `proxy: { remoteurl: ${upstream} }`,
      '',
    ].join('\n'),
  );
  return startProcess(REFERENCE_REGISTRY_BIN, ['serve', config], `http://127.0.0.1:${port}`);
}

const fmt = (s: number) => `${s.toFixed(2)} s`;

async function main(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'wharf-bench-proxy-'));
  const upstream = await startReferenceRegistry();
  const forwarders: CountingForwarder[] = [];
  const procs: Proc[] = [];
  try {
    const big = join(dir, 'big');
    const small = join(dir, 'small');
    const bigDigest = await randomFile(big, SIZE_MIB);
    const smallDigest = await randomFile(small, CONCURRENT_MIB);
    await push(upstream.url, 'library/big', big, bigDigest);
    await push(upstream.url, 'library/small', small, smallDigest);
    await rm(big);
    await rm(small);

    const direct = await startCountingForwarder(upstream.url);
    const toWharf = await startCountingForwarder(upstream.url);
    const toRegistry = await startCountingForwarder(upstream.url);
    forwarders.push(direct, toWharf, toRegistry);
    const wharf = await startWharfCache(dir, toWharf.url);
    const registry = await startRegistryCache(dir, toRegistry.url);
    procs.push(wharf, registry);

    const blob = (base: string, prefix: string, repo: string, digest: string) => `${base}/v2/${prefix}library/${repo}/blobs/${digest}`;
    const directS = await pull(blob(direct.url, '', 'big', bigDigest));
    const wharfCold = await pull(blob(wharf.url, 'up/', 'big', bigDigest));
    const registryCold = await pull(blob(registry.url, '', 'big', bigDigest));
    // registry:2 stores in the background after serving; give both a moment to settle.
    await new Promise((r) => setTimeout(r, 3000));
    const wharfWarm = Math.min(await pull(blob(wharf.url, 'up/', 'big', bigDigest)), await pull(blob(wharf.url, 'up/', 'big', bigDigest)));
    const registryWarm = Math.min(await pull(blob(registry.url, '', 'big', bigDigest)), await pull(blob(registry.url, '', 'big', bigDigest)));

    const before = { wharf: toWharf.bytesOut, registry: toRegistry.bytesOut };
    const concurrent = async (url: string) => timed(() => Promise.all(Array.from({ length: CLIENTS }, () => pull(url))));
    const wharfConc = await concurrent(blob(wharf.url, 'up/', 'small', smallDigest));
    const registryConc = await concurrent(blob(registry.url, '', 'small', smallDigest));
    const smallBytes = CONCURRENT_MIB << 20;
    const wharfUp = (toWharf.bytesOut - before.wharf) / smallBytes;
    const registryUp = (toRegistry.bytesOut - before.registry) / smallBytes;

    const rows: [string, string, string, string][] = [
      [`cold pull ${SIZE_MIB} MiB`, fmt(wharfCold), fmt(registryCold), `${(wharfCold / directS).toFixed(2)}x direct (${fmt(directS)}; target <= 1.1x)`],
      [`warm pull ${SIZE_MIB} MiB`, fmt(wharfWarm), fmt(registryWarm), `${(registryWarm / wharfWarm).toFixed(2)}x registry:2's speed (target >= 1.0x)`],
      [`${CLIENTS} concurrent cold pulls of ${CONCURRENT_MIB} MiB`, fmt(wharfConc), fmt(registryConc), `${(registryConc / wharfConc).toFixed(2)}x registry:2's speed`],
      [`  upstream bytes / blob size`, `${wharfUp.toFixed(2)}x`, `${registryUp.toFixed(2)}x`, 'target: Wharf 1x'],
    ];
    process.stdout.write(`${'row'.padEnd(44)}${'wharf'.padEnd(12)}${'registry:2'.padEnd(12)}ratio\n`);
    for (const [name, w, r, ratio] of rows) process.stdout.write(`${name.padEnd(44)}${w.padEnd(12)}${r.padEnd(12)}${ratio}\n`);
  } finally {
    for (const p of procs) await p.close().catch(() => undefined);
    for (const f of forwarders) await f.close().catch(() => undefined);
    await upstream.close();
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
