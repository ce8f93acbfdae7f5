/**
 * Proxy-cache benchmark, side by side with registry:2 in proxy mode (`proxy.remoteurl`,
 * Debian's docker-registry) on the same upstream (another registry:2) in the same run.
 * An image is a manifest, a config and layers of random bytes (1 GiB in all by default);
 * a pull is what a client does: the manifest by tag, then the config and the layers, 3 at
 * a time (dockerd's max-concurrent-downloads), by one `curl -Z`, bodies to /dev/null.
 *   - cold pull through each cache vs a direct pull of the same image from the upstream
 *     (goal: Wharf <= 1.1x direct); one fresh image per round, the three orders rotated,
 *     medians over the rounds
 *   - warm pull through each cache (goal: Wharf >= 1.0x registry:2's speed), medians
 *   - 20 concurrent cold pulls of one more fresh image: the bytes the upstream sent to
 *     each cache, divided by the image's size (goal: Wharf 1x; registry:2 up to 20x)
 * Nothing stands between a client and a registry: the upstream's bytes are counted by the
 * upstream itself (registry:2's Prometheus `registry_http_response_size_bytes_sum` on its
 * debug listener), read before and after each phase, so every path is measured as it runs.
 * Prints the load average beside the figures (the machine is shared).
 * Usage: npm run build && node dist/bench/proxy.js [--size-mib 1024] [--layers 4] [--rounds 3]
 *        [--concurrent-mib 1024] [--clients 20]
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { freePort, REFERENCE_REGISTRY_BIN, startReferenceRegistry, type TestRegistry } from '../spec-tests/support/registry.js';

const execFileP = promisify(execFile);
const args = process.argv.slice(2);
const arg = (name: string, dflt: number): number => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : dflt;
};
const SIZE_MIB = arg('--size-mib', 1024);
const LAYERS = arg('--layers', 4);
const ROUNDS = arg('--rounds', 3);
const CONCURRENT_MIB = arg('--concurrent-mib', SIZE_MIB);
const CLIENTS = arg('--clients', 20);
const MANIFEST = 'application/vnd.oci.image.manifest.v1+json';

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

async function pushBlobFile(url: string, repo: string, file: string, digest: string): Promise<void> {
  const post = await fetch(`${url}/v2/${repo}/blobs/uploads/`, { method: 'POST' });
  const location = new URL(post.headers.get('location')!, url);
  location.searchParams.set('digest', digest);
  await execFileP('curl', ['-sf', '-T', file, '-H', 'Content-Type: application/octet-stream', location.toString()]);
}

interface Blob {
  digest: string;
  size: number;
}

interface Image {
  repo: string;
  blobs: Blob[];
  bytes: number;
}

/** An image of `layers` random layers, `mib` MiB in all, pushed to the upstream as `<repo>:latest`. */
async function pushRandomImage(upstream: string, dir: string, repo: string, mib: number, layers: number): Promise<Image> {
  const blobs: Blob[] = [];
  const layerMib = Math.max(1, Math.floor(mib / layers));
  for (let i = 0; i < layers; i++) {
    const file = join(dir, `layer-${i}`);
    const digest = await randomFile(file, layerMib);
    await pushBlobFile(upstream, repo, file, digest);
    await rm(file);
    blobs.push({ digest, size: layerMib << 20 });
  }
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: blobs.map((b) => b.digest) } }));
  const configDigest = `sha256:${createHash('sha256').update(config).digest('hex')}`;
  const configFile = join(dir, 'config');
  await writeFile(configFile, config);
  await pushBlobFile(upstream, repo, configFile, configDigest);
  const manifest = {
    schemaVersion: 2,
    mediaType: MANIFEST,
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: configDigest, size: config.length },
    layers: blobs.map((b) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar', ...b })),
  };
  const put = await fetch(`${upstream}/v2/${repo}/manifests/latest`, { method: 'PUT', headers: { 'content-type': MANIFEST }, body: JSON.stringify(manifest) });
  if (put.status !== 201) throw new Error(`push ${repo}: ${put.status} ${await put.text()}`);
  const all = [{ digest: configDigest, size: config.length }, ...blobs];
  return { repo, blobs: all, bytes: all.reduce((n, b) => n + b.size, 0) };
}

/** A client's pull: the manifest by tag, then every blob, 3 at a time; throws unless every status and size is right. */
async function pullImage(base: string, repo: string): Promise<void> {
  const res = await fetch(`${base}/v2/${repo}/manifests/latest`, { headers: { accept: MANIFEST } });
  if (res.status !== 200) throw new Error(`GET ${base}/v2/${repo}/manifests/latest: ${res.status} ${await res.text()}`);
  const manifest = (await res.json()) as { config: Blob; layers: Blob[] };
  const blobs = [manifest.config, ...manifest.layers];
  const argv = ['-s', '-Z', '--parallel-max', '3', '-w', '%{http_code} %{size_download}\n'];
  for (const b of blobs) argv.push('-o', '/dev/null', `${base}/v2/${repo}/blobs/${b.digest}`);
  const { stdout } = await execFileP('curl', argv, { maxBuffer: 1 << 20 });
  const got = stdout.trim().split('\n').sort().join(', ');
  const want = blobs.map((b) => `200 ${b.size}`).sort().join(', ');
  if (got !== want) throw new Error(`pull ${base}/v2/${repo}: got ${got}, want ${want}`);
}

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - t) / 1e9;
}

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

/** Wharf with its defaults (its JSON request log included), caching `upstream` under `up/`. */
async function startWharfCache(dir: string, upstream: string): Promise<Proc> {
  const port = await freePort();
  const bin = join(dirname(fileURLToPath(import.meta.url)), '..', 'bin', 'wharf.js');
  return startProcess(process.execPath, [bin, 'serve', '--addr', `127.0.0.1:${port}`, '--root', join(dir, 'wharf')], `http://127.0.0.1:${port}`, {
    WHARF_PROXY_UPSTREAMS: JSON.stringify([{ name: 'up', url: upstream }]),
  });
}

/** registry:2 in proxy mode, its access log off (in its favour). */
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

/** Every response byte the upstream has sent so far, by its own count. */
async function upstreamBytes(upstream: TestRegistry): Promise<number> {
  const text = await (await fetch(upstream.metricsUrl!)).text();
  let sum = 0;
  for (const m of text.matchAll(/^registry_http_response_size_bytes_sum\{[^}]*\} (\S+)$/gm)) sum += Number(m[1]);
  return sum;
}

/**
 * The upstream's count once it stopped moving for 5 s: registry:2's cache fetches a blob
 * again for its store a while after it served it, and that belongs to its own pull.
 */
async function settledUpstreamBytes(upstream: TestRegistry): Promise<number> {
  let last = await upstreamBytes(upstream);
  let still = 0;
  for (let i = 0; i < 120 && still < 5; i++) {
    await new Promise((r) => setTimeout(r, 1000));
    const now = await upstreamBytes(upstream);
    still = now === last ? still + 1 : 0;
    last = now;
  }
  return last;
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
const fmt = (s: number) => `${s.toFixed(2)} s`;
const load = () => loadavg().map((l) => l.toFixed(2)).join(' ');

async function main(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'wharf-bench-proxy-'));
  const upstream = await startReferenceRegistry({ metrics: true });
  const procs: Proc[] = [];
  try {
    const images: Image[] = [];
    for (let r = 0; r < ROUNDS; r++) images.push(await pushRandomImage(upstream.url, dir, `library/cold${r}`, SIZE_MIB, LAYERS));
    const crowd = await pushRandomImage(upstream.url, dir, 'library/crowd', CONCURRENT_MIB, LAYERS);
    const wharf = await startWharfCache(dir, upstream.url);
    procs.push(wharf);
    const registry = await startRegistryCache(dir, upstream.url);
    procs.push(registry);
    const loadBefore = load();

    const via = {
      direct: (img: Image) => pullImage(upstream.url, img.repo),
      wharf: (img: Image) => pullImage(wharf.url, `up/${img.repo}`),
      registry: (img: Image) => pullImage(registry.url, img.repo),
    };
    type Path = keyof typeof via;
    const orders: Path[][] = [
      ['direct', 'wharf', 'registry'],
      ['wharf', 'registry', 'direct'],
      ['registry', 'direct', 'wharf'],
    ];
    const cold: Record<Path, number[]> = { direct: [], wharf: [], registry: [] };
    const coldUp: Record<Path, number[]> = { direct: [], wharf: [], registry: [] };
    for (let r = 0; r < ROUNDS; r++) {
      for (const path of orders[r % orders.length]!) {
        const before = await settledUpstreamBytes(upstream);
        cold[path].push(await timed(() => via[path](images[r]!)));
        coldUp[path].push(((await settledUpstreamBytes(upstream)) - before) / images[r]!.bytes);
      }
    }

    // Warm: the first image, now in both caches.
    const warm: Record<'wharf' | 'registry', number[]> = { wharf: [], registry: [] };
    for (let i = 0; i < 3; i++) {
      for (const path of i % 2 ? (['registry', 'wharf'] as const) : (['wharf', 'registry'] as const)) warm[path].push(await timed(() => via[path](images[0]!)));
    }

    // A failed pull is counted, not fatal: registry:2's proxy answers some concurrent cold pulls with a 500.
    const crowdPull = async (path: 'wharf' | 'registry') => {
      const before = await settledUpstreamBytes(upstream);
      let failed = 0;
      const seconds = await timed(() =>
        Promise.all(
          Array.from({ length: CLIENTS }, () =>
            via[path](crowd).catch((err: unknown) => {
              failed++;
              if (failed === 1) process.stderr.write(`${path}: ${(err as Error).message}\n`);
            }),
          ),
        ),
      );
      return { seconds, failed, upstream: ((await settledUpstreamBytes(upstream)) - before) / crowd.bytes };
    };
    // registry:2 first: its background fills must not overlap Wharf's run.
    const registryCrowd = await crowdPull('registry');
    const wharfCrowd = await crowdPull('wharf');

    const [directS, wharfCold, registryCold] = [median(cold.direct), median(cold.wharf), median(cold.registry)];
    const [wharfWarm, registryWarm] = [median(warm.wharf), median(warm.registry)];
    const gib = (n: number) => `${(n / 2 ** 30).toFixed(2)} GiB`;
    const rows: [string, string, string, string][] = [
      [`direct pull from the upstream`, fmt(directS), '', `rounds: ${cold.direct.map(fmt).join(', ')}`],
      [`cold pull (median of ${ROUNDS})`, fmt(wharfCold), fmt(registryCold), `wharf ${(wharfCold / directS).toFixed(2)}x direct (goal <= 1.1x); rounds: ${cold.wharf.map((s, i) => (s / cold.direct[i]!).toFixed(2)).join(', ')}`],
      [`  upstream bytes / image`, median(coldUp.wharf).toFixed(2) + 'x', median(coldUp.registry).toFixed(2) + 'x', `direct ${median(coldUp.direct).toFixed(2)}x`],
      [`warm pull (median of 3)`, fmt(wharfWarm), fmt(registryWarm), `wharf ${(registryWarm / wharfWarm).toFixed(2)}x registry:2's speed (goal >= 1.0x)`],
      [
        `${CLIENTS} concurrent cold pulls`,
        fmt(wharfCrowd.seconds),
        fmt(registryCrowd.seconds),
        `wharf ${(registryCrowd.seconds / wharfCrowd.seconds).toFixed(2)}x registry:2's speed; failed pulls: wharf ${wharfCrowd.failed}, registry:2 ${registryCrowd.failed}`,
      ],
      [`  upstream bytes / image`, `${wharfCrowd.upstream.toFixed(2)}x`, `${registryCrowd.upstream.toFixed(2)}x`, 'goal: wharf 1x'],
    ];
    process.stdout.write(
      `image: ${gib(images[0]!.bytes)} in ${LAYERS} layers; concurrent: ${gib(crowd.bytes)}, ${CLIENTS} clients; load average ${loadBefore} before, ${load()} after\n`,
    );
    process.stdout.write(`${'row'.padEnd(34)}${'wharf'.padEnd(10)}${'registry:2'.padEnd(12)}ratio\n`);
    for (const [name, w, r, ratio] of rows) process.stdout.write(`${name.padEnd(34)}${w.padEnd(10)}${r.padEnd(12)}${ratio}\n`);
  } finally {
    for (const p of procs) await p.close().catch(() => undefined);
    await upstream.close();
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
