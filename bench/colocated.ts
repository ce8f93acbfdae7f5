/**
 * The co-located fast path, side by side in one run: a pull of the same 1 GiB image from
 * a Wharf registry on this machine, by a node that shares its data directory (blobs
 * linked from the registry's store: runtime/images/colocated.ts) and by a node that does
 * not (blobs over HTTP: downloaded, hashed, fsynced). Goal: co-located <= 0.2x HTTP.
 *
 * Two figures for each: the fetch (the image in the node's content store, what differs
 * between the two paths; PullOptions.unpack false) and the whole pull with the unpack of
 * the layers into overlay lower dirs (the same work on both paths). Each round uses a
 * fresh node root; medians over the rounds, the orders alternated. The node is the
 * ImageStore in this process (what the daemon runs), so nothing but the pull is timed.
 * Prints the load average beside the figures (the machine is shared).
 * Usage: npm run build && node dist/bench/colocated.js [--size-mib 1024] [--rounds 3]
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { ImageStore } from '../runtime/images/store.js';
import { Colocation } from '../runtime/images/colocated.js';
import { FsBlobStore } from '../storage/fs-blob-store.js';
import { pushBigImage, registryTraffic, writeBigLayer } from '../spec-tests/support/big-image.js';
import { startTestWharf } from '../spec-tests/support/wharf.js';

const args = process.argv.slice(2);
const arg = (name: string, dflt: number): number => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : dflt;
};
const SIZE_MIB = arg('--size-mib', 1024);
const ROUNDS = arg('--rounds', 3);

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const load = () => loadavg().map((l) => l.toFixed(2)).join(' ');

const dir = await mkdtemp(join(tmpdir(), 'wharf-bench-colo-'));
const registry = await startTestWharf({ root: join(dir, 'registry') });
try {
  process.stdout.write(`image: one layer of ${SIZE_MIB} MiB; ${ROUNDS} rounds; load before: ${load()}\n`);
  const big = await writeBigLayer(join(dir, 'big.tar'), SIZE_MIB);
  await pushBigImage(registry.url, 'bench/big', '1', big, [], ['/bin/true']);
  await rm(big.path);
  const image = `${registry.hostPort}/bench/big:1`;
  const colocation = new Colocation([{ host: registry.hostPort, blobs: await FsBlobStore.open(registry.root) }]);

  const results: Record<'colocated' | 'http', { fetch: number[]; pull: number[]; bytes: number[] }> = {
    colocated: { fetch: [], pull: [], bytes: [] },
    http: { fetch: [], pull: [], bytes: [] },
  };
  const once = async (kind: 'colocated' | 'http', unpack: boolean): Promise<void> => {
    const root = await mkdtemp(join(dir, `node-${kind}-`));
    const store = new ImageStore(root, kind === 'colocated' ? { colocation } : {});
    const before = await registryTraffic(registry.url);
    const t0 = process.hrtime.bigint();
    await store.pull(image, { unpack });
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    const after = await registryTraffic(registry.url);
    (unpack ? results[kind].pull : results[kind].fetch).push(ms);
    if (!unpack) results[kind].bytes.push(after.sentBytes - before.sentBytes);
    await rm(root, { recursive: true, force: true });
  };
  for (let r = 0; r < ROUNDS; r++) {
    const order: Array<'colocated' | 'http'> = r % 2 === 0 ? ['colocated', 'http'] : ['http', 'colocated'];
    for (const kind of order) await once(kind, false);
    for (const kind of order) await once(kind, true);
  }
  const c = results.colocated;
  const h = results.http;
  const row = (what: string, ms: number) => `${what.padEnd(34)} ${(ms / 1000).toFixed(3).padStart(8)} s`;
  process.stdout.write(
    [
      row('co-located fetch (median)', median(c.fetch)),
      row('HTTP fetch (median)', median(h.fetch)),
      `  ratio co-located / HTTP fetch:   ${(median(c.fetch) / median(h.fetch)).toFixed(3)}x (goal <= 0.2x)`,
      `  registry bytes sent per fetch:   co-located ${median(c.bytes)}, HTTP ${median(h.bytes)}`,
      row('co-located pull + unpack (median)', median(c.pull)),
      row('HTTP pull + unpack (median)', median(h.pull)),
      `  ratio co-located / HTTP pull:    ${(median(c.pull) / median(h.pull)).toFixed(3)}x (the unpack is the same work on both paths)`,
      `load after: ${load()}`,
      '',
    ].join('\n'),
  );
} finally {
  await registry.destroy();
  await rm(dir, { recursive: true, force: true });
}
