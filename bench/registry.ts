/**
 * Registry benchmark, side by side with the reference registry (registry:2, Debian's
 * docker-registry) in the same run on the same machine, every row of issue 15's table:
 *   - manifest GET by tag: req/s and p99 (wrk -t2 -c64), and HEAD by tag
 *   - tags list (one tag) req/s
 *   - blob HEAD req/s
 *   - `_catalog?n=100` req/s over 2,000 and over 100,000 repositories
 *   - 1 GiB monolithic upload (POST + streamed PUT ?digest=, curl -T) and 1 GiB blob GET
 *   - idle RSS (after start and a first push) and peak RSS over the whole run
 * Each registry runs as its own process with its default logging (Wharf: a JSON line per
 * request to stdout; registry:2: its access log). Prints both figures and the ratio.
 * The repositories for the catalog rows are written straight into each store's on-disk
 * index (registry:2: a repositories/<name>/_layers directory; Wharf: an r\0<name> key of
 * storage/level-metadata.ts), as pushing 100,000 would take longer than the rest.
 * Usage: npm run build && node dist/bench/registry.js [--size-mib 1024] [--seconds 10]
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream, readFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Level } from 'level';
import { buildImage, buildLayer, pushImage, sha256 } from '../spec-tests/support/images.js';
import { freePort, startReferenceRegistry } from '../spec-tests/support/registry.js';

const execFileP = promisify(execFile);
const args = process.argv.slice(2);
const arg = (name: string, dflt: number): number => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : dflt;
};
const SIZE_MIB = arg('--size-mib', 1024);
const SECONDS = arg('--seconds', 10);
const MANIFEST_ACCEPT = 'application/vnd.oci.image.manifest.v1+json';

async function waitUp(url: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    try {
      if ((await fetch(`${url}/v2/`)).status === 200) return;
    } catch {
      /* not yet */
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${url} did not come up`);
}

interface Target {
  name: string;
  url: string;
  pid: number;
  close(): Promise<void>;
  /** write `names` into the store's repository index, the registry stopped or not as it needs */
  addRepositories(names: string[]): Promise<void>;
}

async function startWharf(dir: string): Promise<Target> {
  const port = await freePort();
  const bin = join(dirname(fileURLToPath(import.meta.url)), '..', 'bin', 'wharf.js');
  const root = join(dir, 'wharf');
  let proc: ChildProcess;
  const url = `http://127.0.0.1:${port}`;
  const start = async (): Promise<void> => {
    proc = spawn(process.execPath, [bin, 'serve', '--addr', `127.0.0.1:${port}`, '--root', root], { stdio: ['ignore', 'ignore', 'inherit'] });
    await waitUp(url);
  };
  const stop = async (): Promise<void> => {
    proc.kill('SIGTERM');
    await new Promise((r) => proc.once('exit', r));
  };
  await start();
  const target: Target = {
    name: 'wharf',
    url,
    pid: proc!.pid!,
    close: stop,
    // LevelDB is the server's own (one process per data dir): stop, write, start again.
    async addRepositories(names) {
      await stop();
      const db = new Level<string, string>(join(root, 'metadata'));
      for (let i = 0; i < names.length; i += 10_000) {
        await db.batch(names.slice(i, i + 10_000).map((n) => ({ type: 'put' as const, key: `r\0${n}`, value: '' })));
      }
      await db.close();
      await start();
      target.pid = proc.pid!;
    },
  };
  return target;
}

async function startRegistry2(): Promise<Target> {
  const reference = await startReferenceRegistry({ accessLog: true });
  return {
    name: 'registry:2',
    url: reference.url,
    pid: reference.pid!,
    close: reference.close,
    async addRepositories(names) {
      for (const n of names) await mkdir(join(reference.dataDir!, 'docker/registry/v2/repositories', n, '_layers'), { recursive: true });
    },
  };
}

function rssOf(pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (key: string) => Number(new RegExp(`${key}:\\s+(\\d+) kB`).exec(status)?.[1]) * 1024;
  return { rss: kb('VmRSS'), peak: kb('VmHWM') };
}

async function wrk(url: string, headers: string[] = []): Promise<{ rps: number; p99ms: number }> {
  const method = 'GET';
  const { stdout } = await execFileP('wrk', ['-t2', '-c64', `-d${SECONDS}s`, '--latency', ...headers.flatMap((h) => ['-H', h]), url], { maxBuffer: 1 << 20 });
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(stdout)?.[1]);
  const p99 = /99%\s+([\d.]+)(us|ms|s)/.exec(stdout);
  const p99ms = p99 ? Number(p99[1]) * (p99[2] === 'us' ? 0.001 : p99[2] === 's' ? 1000 : 1) : NaN;
  const non2xx = /Non-2xx or 3xx responses:\s+(\d+)/.exec(stdout);
  if (non2xx) throw new Error(`${method} ${url}: ${non2xx[1]} error answers`);
  return { rps, p99ms };
}

/**
 * HEAD load with Node's own client (64 keep-alive connections): wrk waits for a body after
 * a HEAD answer's Content-Length and stalls. Slower than wrk, the same for both registries.
 */
async function headLoad(url: string, headers: Record<string, string> = {}): Promise<number> {
  const agent = new Agent({ keepAlive: true, maxSockets: 64 });
  const until = Date.now() + SECONDS * 1000;
  let done = 0;
  const one = (): Promise<void> =>
    new Promise((resolve, reject) => {
      const req = request(url, { method: 'HEAD', headers, agent }, (res) => {
        res.resume();
        res.on('end', () => (res.statusCode === 200 ? resolve() : reject(new Error(`HEAD ${url}: ${res.statusCode}`))));
      });
      req.on('error', reject);
      req.end();
    });
  const start = Date.now();
  await Promise.all(
    Array.from({ length: 64 }, async () => {
      while (Date.now() < until) {
        await one();
        done++;
      }
    }),
  );
  agent.destroy();
  return done / ((Date.now() - start) / 1000);
}

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - t) / 1e9;
}

async function upload(url: string, file: string, digest: string): Promise<number> {
  return timed(async () => {
    const post = await fetch(`${url}/v2/bench/big/blobs/uploads/`, { method: 'POST' });
    const location = new URL(post.headers.get('location')!, url);
    location.searchParams.set('digest', digest);
    await execFileP('curl', ['-sf', '-T', file, '-H', 'Content-Type: application/octet-stream', location.toString()]);
  });
}

async function download(url: string, digest: string): Promise<number> {
  return timed(() => execFileP('curl', ['-sf', '-o', '/dev/null', `${url}/v2/bench/big/blobs/${digest}`]));
}

type Figures = Record<string, number>;

async function measure(t: Target, file: string, digest: string, layerDigest: string): Promise<Figures> {
  const f: Figures = {};
  const idle = rssOf(t.pid);
  f.idleRss = idle.rss;
  const get = await wrk(`${t.url}/v2/bench/img/manifests/v1`, [`Accept: ${MANIFEST_ACCEPT}`]);
  f.manifestRps = get.rps;
  f.manifestP99 = get.p99ms;
  f.manifestHeadRps = await headLoad(`${t.url}/v2/bench/img/manifests/v1`, { Accept: MANIFEST_ACCEPT });
  f.tagsRps = (await wrk(`${t.url}/v2/bench/img/tags/list`)).rps;
  f.blobHeadRps = await headLoad(`${t.url}/v2/bench/img/blobs/${layerDigest}`);
  f.up = await upload(t.url, file, digest);
  f.down = await download(t.url, digest);
  return f;
}

async function catalogRows(t: Target, n: number, already: number): Promise<number> {
  const names: string[] = [];
  for (let i = already; i < n; i++) names.push(`catalog/r${String(i).padStart(6, '0')}`);
  await t.addRepositories(names);
  await waitUp(t.url);
  return (await wrk(`${t.url}/v2/_catalog?n=100`)).rps;
}

async function main(): Promise<void> {
  for (const tool of ['wrk', 'curl', 'docker-registry']) {
    await execFileP('sh', ['-c', `command -v ${tool}`]).catch(() => {
      throw new Error(`${tool} is needed: apt-get install -y ${tool}`);
    });
  }
  // The machine may be shared: the load beside the figures says how far to trust them.
  const loadAtStart = loadavg();
  const dir = await mkdtemp(join(tmpdir(), 'wharf-bench-'));
  const targets: Target[] = [await startWharf(dir), await startRegistry2()];
  try {
    const layer = await buildLayer([{ type: 'file', path: 'hello', content: 'hello' }]);
    const image = buildImage([layer]);
    for (const t of targets) await pushImage(t.url, 'bench/img', 'v1', image);

    const file = join(dir, 'big.bin');
    const hash = createHash('sha256');
    await new Promise<void>((resolve, reject) => {
      const out = createWriteStream(file);
      let left = SIZE_MIB;
      const write = (): void => {
        while (left > 0) {
          const chunk = randomBytes(1 << 20);
          hash.update(chunk);
          left--;
          if (!out.write(chunk)) return void out.once('drain', write);
        }
        out.end(resolve);
      };
      out.on('error', reject);
      write();
    });
    const digest = `sha256:${hash.digest('hex')}`;

    const results: Record<string, Figures> = {};
    for (const t of targets) {
      const f = await measure(t, file, digest, sha256(layer.blob));
      // Wharf restarts for its catalog rows: the peak is read first, for both.
      f.peakRss = rssOf(t.pid).peak;
      f.catalog2k = await catalogRows(t, 2_000, 0);
      f.catalog100k = await catalogRows(t, 100_000, 2_000);
      results[t.name] = f;
    }
    const w = results.wharf!;
    const r = results['registry:2']!;
    const MiB = 1024 * 1024;
    const row = (label: string, a: string, b: string, ratio: string) => console.log(`${label.padEnd(34)}${a.padStart(12)}${b.padStart(14)}${ratio.padStart(12)}`);
    // registry:2 may answer no catalog page at all within the run (100,000 repositories).
    const faster = (wv: number, rv: number) => (rv > 0 ? `${(wv / rv).toFixed(2)}x` : `> ${(wv * SECONDS).toFixed(0)}x`);
    const quicker = (wv: number, rv: number) => `${(rv / wv).toFixed(2)}x`;
    row('', 'wharf', 'registry:2', 'ratio');
    row('manifest GET by tag req/s', w.manifestRps!.toFixed(0), r.manifestRps!.toFixed(0), faster(w.manifestRps!, r.manifestRps!));
    row('manifest GET p99 ms (lower: ratio)', w.manifestP99!.toFixed(2), r.manifestP99!.toFixed(2), quicker(w.manifestP99!, r.manifestP99!));
    row('manifest HEAD by tag req/s (node)', w.manifestHeadRps!.toFixed(0), r.manifestHeadRps!.toFixed(0), faster(w.manifestHeadRps!, r.manifestHeadRps!));
    row('tags list (one tag) req/s', w.tagsRps!.toFixed(0), r.tagsRps!.toFixed(0), faster(w.tagsRps!, r.tagsRps!));
    row('blob HEAD req/s (node client)', w.blobHeadRps!.toFixed(0), r.blobHeadRps!.toFixed(0), faster(w.blobHeadRps!, r.blobHeadRps!));
    row('_catalog?n=100, 2,000 repos req/s', w.catalog2k!.toFixed(0), r.catalog2k!.toFixed(0), faster(w.catalog2k!, r.catalog2k!));
    row('_catalog?n=100, 100,000 repos req/s', w.catalog100k!.toFixed(0), r.catalog100k!.toFixed(0), faster(w.catalog100k!, r.catalog100k!));
    row(`${SIZE_MIB} MiB monolithic upload s`, w.up!.toFixed(2), r.up!.toFixed(2), quicker(w.up!, r.up!));
    row(`${SIZE_MIB} MiB blob GET s`, w.down!.toFixed(2), r.down!.toFixed(2), quicker(w.down!, r.down!));
    row('idle RSS MiB', (w.idleRss! / MiB).toFixed(0), (r.idleRss! / MiB).toFixed(0), '');
    row('peak RSS MiB (before the catalog rows)', (w.peakRss! / MiB).toFixed(0), (r.peakRss! / MiB).toFixed(0), '');
    if (r.catalog100k === 0) console.log(`(registry:2 completed no _catalog page over 100,000 repositories in ${SECONDS} s: "> Nx" counts it as one answer)`);
    console.log(`(ratio > 1: wharf is better; wharf's catalog cost at 100,000 repos is ${(w.catalog100k! / w.catalog2k!).toFixed(2)}x its rate at 2,000)`);
    const load = (l: number[]) => l.map((v) => v.toFixed(2)).join(', ');
    console.log(`(load average 1/5/15 min: ${load(loadAtStart)} at the start, ${load(loadavg())} at the end, on ${availableParallelism()} cores)`);
  } finally {
    for (const t of targets) await t.close();
    await rm(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
