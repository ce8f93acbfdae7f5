/**
 * /metrics: Prometheus' own parser (promtool, from Debian's prometheus) accepts it, and
 * the counters move as a test drives the registry: requests by route/method/status with
 * latency histograms, bytes in and out, cache hits and misses and upstream errors per
 * upstream, single-flight joins, GC runs and bytes freed, stored bytes, open uploads.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { after, before, it } from 'node:test';
import { buildImage, MEDIA, pushBlob, pushImage, sha256, type BuiltLayer } from './support/images.js';
import { requireCommand } from './support/peers.js';
import { startCachingWharf, startCountingForwarder, type CountingForwarder } from './support/proxy.js';
import { startReferenceRegistry, type TestRegistry } from './support/registry.js';
import type { TestWharf } from './support/wharf.js';

let upstream: TestRegistry;
let forwarder: CountingForwarder;
let wharf: TestWharf;

before(async () => {
  await requireCommand('promtool', 'prometheus');
  upstream = await startReferenceRegistry();
  forwarder = await startCountingForwarder(upstream.url);
  wharf = await startCachingWharf([{ name: 'up.example', url: forwarder.url, revalidate: '0' }], { env: { WHARF_GC_INTERVAL: '0' } });
});
after(async () => {
  await wharf?.destroy();
  await forwarder?.close();
  await upstream?.close();
});

async function scrape(): Promise<string> {
  const res = await fetch(`${wharf.url}/metrics`);
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
  return res.text();
}

/** The value of one sample, by name and exact labels (0 when absent). */
function sample(text: string, name: string, labels: Record<string, string> = {}): number {
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([^}]*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const got: Record<string, string> = {};
    for (const p of (m[3] ?? '').matchAll(/([a-zA-Z_]+)="((?:[^"\\]|\\.)*)"/g)) got[p[1]!] = p[2]!;
    if (Object.keys(labels).every((k) => got[k] === labels[k]) && Object.keys(got).length === Object.keys(labels).length) return Number(m[4]);
  }
  return 0;
}

function promtool(text: string): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    const child = spawn('promtool', ['check', 'metrics'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    child.on('exit', (code) => resolve({ code: code ?? -1, output }));
    child.stdin.end(text);
  });
}

it('parses with promtool, and its counters move as requests, the cache and GC do', async () => {
  const before = await scrape();
  const lint = await promtool(before);
  assert.equal(lint.code, 0, lint.output);

  // Hosted: a push (upload + manifest) and a pull.
  const hosted = buildImage([{ blob: randomBytes(10_000), digest: '', diffId: '', mediaType: MEDIA.ociLayer } as unknown as BuiltLayer].map((l) => ({ ...l, digest: sha256(l.blob), diffId: sha256(l.blob) })));
  await pushImage(wharf.url, 'm/hosted', '1', hosted);
  await (await fetch(`${wharf.url}/v2/m/hosted/manifests/1`, { headers: { accept: MEDIA.ociManifest } })).arrayBuffer();

  // Cached: a layer pulled by 5 clients while the first fill is held up upstream.
  const big = randomBytes(4 << 20);
  const digest = sha256(big);
  await pushBlob(upstream.url, 'lib/cached', big, digest);
  const cold = await pushImage(upstream.url, 'lib/cached', '1', buildImage([{ blob: big, digest, diffId: digest, mediaType: MEDIA.ociLayer } as BuiltLayer]));
  void cold;
  await (await fetch(`${wharf.url}/v2/up.example/lib/cached/manifests/1`, { headers: { accept: MEDIA.ociManifest } })).arrayBuffer();
  forwarder.stallAfter(1 << 20);
  const first = fetch(`${wharf.url}/v2/up.example/lib/cached/blobs/${digest}`);
  while (forwarder.count('GET', `/v2/lib/cached/blobs/${digest}`) === 0) await new Promise((r) => setTimeout(r, 10));
  const others = Array.from({ length: 4 }, () => fetch(`${wharf.url}/v2/up.example/lib/cached/blobs/${digest}`));
  // While the fill is held up, the four others join it (as /metrics shows); then it goes on.
  for (let i = 0; sample(await scrape(), 'wharf_proxy_singleflight_joins_total', { upstream: 'up.example' }) < 4; i++) {
    if (i > 500) throw new Error('the other clients never joined the fill');
    await new Promise((r) => setTimeout(r, 20));
  }
  forwarder.release();
  for (const res of await Promise.all([first, ...others])) assert.equal(sha256(Buffer.from(await res.arrayBuffer())), digest);
  // Clients have every byte once it verified; the fill commits (fsync, rename, link) after that.
  for (let i = 0; sample(await scrape(), 'wharf_proxy_stored_bytes_total', { upstream: 'up.example' }) - sample(before, 'wharf_proxy_stored_bytes_total', { upstream: 'up.example' }) < big.length; i++) {
    if (i > 500) throw new Error('the fill never committed');
    await new Promise((r) => setTimeout(r, 20));
  }
  // Now a hit, and with the upstream gone, a revalidation that fails (served stale: an upstream error).
  await (await fetch(`${wharf.url}/v2/up.example/lib/cached/blobs/${digest}`)).arrayBuffer();
  await forwarder.close();
  const stale = await fetch(`${wharf.url}/v2/up.example/lib/cached/manifests/1`, { headers: { accept: MEDIA.ociManifest } });
  assert.ok(stale.headers.get('warning'));
  await stale.arrayBuffer();

  // An upload left open, and a GC run.
  assert.equal((await fetch(`${wharf.url}/v2/m/open/blobs/uploads/`, { method: 'POST' })).status, 202);
  assert.equal((await fetch(`${wharf.url}/admin/gc`, { method: 'POST' })).status, 200);

  const after = await scrape();
  assert.equal((await promtool(after)).code, 0);
  const delta = (name: string, labels: Record<string, string> = {}) => sample(after, name, labels) - sample(before, name, labels);
  assert.equal(delta('wharf_http_requests_total', { route: 'manifest', method: 'PUT', status: '201' }), 1);
  assert.ok(delta('wharf_http_requests_total', { route: 'manifest', method: 'GET', status: '200' }) >= 3);
  assert.equal(delta('wharf_http_requests_total', { route: 'blob', method: 'GET', status: '200' }), 6);
  assert.equal(delta('wharf_http_requests_total', { route: 'uploads', method: 'POST', status: '202' }), 3);
  assert.ok(delta('wharf_http_request_duration_seconds_count', { route: 'blob', method: 'GET' }) === 6);
  assert.ok(delta('wharf_http_received_bytes_total') >= 10_000);
  assert.ok(delta('wharf_http_sent_bytes_total') >= 6 * big.length);
  assert.equal(delta('wharf_proxy_cache_misses_total', { upstream: 'up.example', kind: 'blob' }), 1);
  assert.equal(delta('wharf_proxy_singleflight_joins_total', { upstream: 'up.example' }), 4);
  assert.ok(delta('wharf_proxy_cache_hits_total', { upstream: 'up.example', kind: 'blob' }) >= 1);
  assert.ok(delta('wharf_proxy_cache_misses_total', { upstream: 'up.example', kind: 'manifest' }) >= 1);
  assert.ok(delta('wharf_proxy_upstream_errors_total', { upstream: 'up.example' }) >= 1);
  assert.ok(delta('wharf_proxy_stored_bytes_total', { upstream: 'up.example' }) >= big.length);
  assert.equal(delta('wharf_gc_runs_total', { dry_run: 'false' }), 1);
  assert.ok(sample(after, 'wharf_storage_blob_bytes') >= big.length + 10_000);
  assert.ok(sample(after, 'wharf_uploads_open') >= 1);
  assert.ok(after.includes('wharf_gc_freed_bytes_total'));
});
