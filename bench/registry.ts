/**
 * Registry benchmark, side by side with the reference registry (registry:2, Debian's
 * docker-registry) in the same run on the same machine:
 *   - manifest GET throughput and p99 latency (wrk, 32 keep-alive connections)
 *   - blob upload of a large file (POST + streamed PUT ?digest=, curl -T)
 *   - blob download of the same file
 * Each registry runs as its own process with its default logging; prints ratios.
 * Usage: npm run build && node dist/bench/registry.js [--size-mib 1024] [--seconds 10]
 */
import { spawn, execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { randomBytes } from 'node:crypto';
import { buildImage, buildLayer, pushImage } from '../spec-tests/support/images.js';
import { freePort, startReferenceRegistry } from '../spec-tests/support/registry.js';

const execFileP = promisify(execFile);
const args = process.argv.slice(2);
const arg = (name: string, dflt: number): number => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : dflt;
};
const SIZE_MIB = arg('--size-mib', 1024);
const SECONDS = arg('--seconds', 10);

async function waitUp(url: string): Promise<void> {
  for (let i = 0; i < 100; i++) {
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
  close(): Promise<void>;
}

async function startWharf(dir: string): Promise<Target> {
  const port = await freePort();
  const bin = join(dirname(fileURLToPath(import.meta.url)), '..', 'bin', 'wharf.js');
  const proc = spawn(process.execPath, [bin, 'serve', '--addr', `127.0.0.1:${port}`, '--root', join(dir, 'wharf')], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const url = `http://127.0.0.1:${port}`;
  await waitUp(url);
  return {
    name: 'wharf',
    url,
    close: async () => {
      proc.kill('SIGTERM');
      await new Promise((r) => proc.once('exit', r));
    },
  };
}

async function manifestLoad(url: string): Promise<{ rps: number; p99ms: number }> {
  const { stdout } = await execFileP('wrk', [
    '-t2', '-c32', `-d${SECONDS}s`, '--latency',
    '-H', 'Accept: application/vnd.oci.image.manifest.v1+json',
    `${url}/v2/bench/img/manifests/v1`,
  ]);
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(stdout)?.[1]);
  const p99 = /99%\s+([\d.]+)(us|ms|s)/.exec(stdout);
  const p99ms = p99 ? Number(p99[1]) * (p99[2] === 'us' ? 0.001 : p99[2] === 's' ? 1000 : 1) : NaN;
  return { rps, p99ms };
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

async function main(): Promise<void> {
  for (const tool of ['wrk', 'curl', 'docker-registry']) {
    await execFileP('sh', ['-c', `command -v ${tool}`]).catch(() => {
      throw new Error(`${tool} is needed: apt-get install -y ${tool === 'docker-registry' ? 'docker-registry' : tool}`);
    });
  }
  const dir = await mkdtemp(join(tmpdir(), 'wharf-bench-'));
  const reference = await startReferenceRegistry({ accessLog: true });
  const targets: Target[] = [await startWharf(dir), { name: 'registry:2', url: reference.url, close: reference.close }];
  try {
    const image = buildImage([await buildLayer([{ type: 'file', path: 'hello', content: 'hello' }])]);
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

    const results: Record<string, { rps: number; p99ms: number; up: number; down: number }> = {};
    for (const t of targets) {
      const m = await manifestLoad(t.url);
      const up = await upload(t.url, file, digest);
      const down = await download(t.url, digest);
      results[t.name] = { ...m, up, down };
    }
    const w = results.wharf!;
    const r = results['registry:2']!;
    const row = (label: string, a: string, b: string, ratio: string) => console.log(`${label.padEnd(28)}${a.padStart(14)}${b.padStart(14)}${ratio.padStart(12)}`);
    row('', 'wharf', 'registry:2', 'ratio');
    row('manifest GET req/s', w.rps.toFixed(0), r.rps.toFixed(0), `${(w.rps / r.rps).toFixed(2)}x`);
    row('manifest GET p99 ms', w.p99ms.toFixed(1), r.p99ms.toFixed(1), `${(r.p99ms / w.p99ms).toFixed(2)}x`);
    row(`upload ${SIZE_MIB} MiB s`, w.up.toFixed(2), r.up.toFixed(2), `${(r.up / w.up).toFixed(2)}x`);
    row(`download ${SIZE_MIB} MiB s`, w.down.toFixed(2), r.down.toFixed(2), `${(r.down / w.down).toFixed(2)}x`);
    console.log('(ratio > 1: wharf is faster)');
  } finally {
    for (const t of targets) await t.close();
    await rm(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
