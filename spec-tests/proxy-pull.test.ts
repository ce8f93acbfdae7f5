/**
 * The pull-through cache with a real upstream (Debian's registry:2) and real clients
 * (skopeo, and plain HTTP for the headers): the host-prefixed way in with Docker Hub's
 * library/ rule, containerd's ?ns= with OCI-Namespace, the default upstream for
 * un-prefixed names, hosted and cached names on one endpoint, pushes into a cached
 * namespace refused, and the upstream going away: cached tags and digests still served
 * with a Warning, a miss answered with an error naming the upstream and the cause. Counted
 * by the upstream itself (registry:2's Prometheus metrics): a tag is revalidated with one
 * HEAD at most once per `revalidate`, and an index is stored when fetched while its
 * children come only when asked for.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { buildImage, buildIndex, buildLayer, pushImage, pushIndex, sha256, type BuiltImage } from './support/images.js';
import { layoutDigestOf, readLayoutBlobs } from './support/oci-layout.js';
import { requireCommand, run } from './support/peers.js';
import { startCachingWharf } from './support/proxy.js';
import { startReferenceRegistry, type TestRegistry } from './support/registry.js';
import type { TestWharf } from './support/wharf.js';

const ACCEPT = 'application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json';

let upstream: TestRegistry;
let cache: TestWharf;
let work: string;
let official: BuiltImage;
let team: BuiltImage;
let later: BuiltImage;

async function image(text: string): Promise<BuiltImage> {
  const layer = await buildLayer([{ type: 'file', path: 'etc/message', content: `${text}\n` }]);
  return buildImage([layer], { Cmd: ['/bin/true'] });
}

before(async () => {
  await requireCommand('skopeo', 'skopeo');
  upstream = await startReferenceRegistry();
  official = await image('an official image');
  team = await image('a team image');
  later = await image('pushed to the upstream after it was cached');
  await pushImage(upstream.url, 'library/probe', '1', official);
  await pushImage(upstream.url, 'team/app', '1', team);
  cache = await startCachingWharf([{ name: 'docker.io', url: upstream.url, revalidate: '0' }], { default: 'docker.io' });
  work = await mkdtemp(join(tmpdir(), 'wharf-proxy-pull-'));
});

after(async () => {
  await cache?.destroy();
  await upstream?.close();
  if (work) await rm(work, { recursive: true, force: true });
});

async function skopeoPull(ref: string, dir: string): Promise<Map<string, Buffer>> {
  await run('skopeo', ['copy', '--src-tls-verify=false', `docker://${cache.hostPort}/${ref}`, `oci:${join(work, dir)}:x`]);
  return readLayoutBlobs(join(work, dir));
}

describe('proxy cache: the ways in', () => {
  it('(a) a host-prefixed name: skopeo pulls docker.io/probe (library/ rule) byte-identical', async () => {
    const blobs = await skopeoPull('docker.io/probe:1', 'a');
    assert.equal(await layoutDigestOf(join(work, 'a'), 'x'), official.manifestDigest);
    assert.deepEqual(blobs.get(official.layers[0]!.digest), official.layers[0]!.blob);
    assert.deepEqual(blobs.get(official.configDigest), official.config);
    // Cached under the canonical name: the catalog shows it.
    const catalog = (await (await fetch(`${cache.url}/v2/_catalog`)).json()) as { repositories: string[] };
    assert.ok(catalog.repositories.includes('docker.io/library/probe'), JSON.stringify(catalog));
  });

  it('(b) containerd\'s ?ns=docker.io: answered with OCI-Namespace', async () => {
    const res = await fetch(`${cache.url}/v2/team/app/manifests/1?ns=docker.io`, { headers: { accept: ACCEPT } });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('oci-namespace'), 'docker.io');
    assert.equal(res.headers.get('docker-content-digest'), team.manifestDigest);
    assert.deepEqual(Buffer.from(await res.arrayBuffer()), team.manifest);
    const blob = await fetch(`${cache.url}/v2/team/app/blobs/${team.layers[0]!.digest}?ns=docker.io`);
    assert.equal(blob.status, 200);
    assert.deepEqual(Buffer.from(await blob.arrayBuffer()), team.layers[0]!.blob);
  });

  it('(c) an un-prefixed name that is not hosted goes to the default upstream', async () => {
    const blobs = await skopeoPull('team/app:1', 'c');
    assert.equal(await layoutDigestOf(join(work, 'c'), 'x'), team.manifestDigest);
    assert.deepEqual(blobs.get(team.layers[0]!.digest), team.layers[0]!.blob);
  });

  it('a push to a hosted name and a pull through the cache, on one endpoint', async () => {
    const mine = await image('hosted here');
    await pushImage(cache.url, 'team/app', 'mine', mine);
    // team/app is hosted now: un-prefixed reads are its own, the cached copy stays under docker.io/.
    const hosted = await fetch(`${cache.url}/v2/team/app/manifests/mine`, { headers: { accept: ACCEPT } });
    assert.equal(hosted.status, 200);
    assert.equal(hosted.headers.get('docker-content-digest'), mine.manifestDigest);
    assert.equal((await fetch(`${cache.url}/v2/team/app/manifests/1`, { headers: { accept: ACCEPT } })).status, 404);
    const cached = await fetch(`${cache.url}/v2/docker.io/team/app/manifests/1`, { headers: { accept: ACCEPT } });
    assert.equal(cached.headers.get('docker-content-digest'), team.manifestDigest);
    // Nothing hosted reached the upstream.
    assert.equal((await fetch(`${upstream.url}/v2/team/app/manifests/mine`, { headers: { accept: ACCEPT } })).status, 404);
  });

  it('a push into a cached namespace is DENIED, with a message saying why', async () => {
    const res = await fetch(`${cache.url}/v2/docker.io/library/probe/blobs/uploads/`, { method: 'POST' });
    assert.equal(res.status, 403);
    const body = (await res.json()) as { errors: { code: string; message: string }[] };
    assert.equal(body.errors[0]!.code, 'DENIED');
    assert.match(body.errors[0]!.message, /cached from upstream docker\.io/);
    const put = await fetch(`${cache.url}/v2/docker.io/library/probe/manifests/2`, {
      method: 'PUT', headers: { 'content-type': official.mediaType }, body: official.manifest,
    });
    assert.equal(put.status, 403);
  });

  it('a tag that moved upstream is revalidated (revalidate: 0) and the new digest served', async () => {
    await pushImage(upstream.url, 'team/app', '1', later);
    const res = await fetch(`${cache.url}/v2/docker.io/team/app/manifests/1`, { method: 'HEAD', headers: { accept: ACCEPT } });
    assert.equal(res.headers.get('docker-content-digest'), later.manifestDigest);
  });
});

describe('proxy cache: the upstream stopped', () => {
  before(async () => {
    // Cache one more by digest only, then take the upstream away.
    const res = await fetch(`${cache.url}/v2/docker.io/team/app/manifests/${team.manifestDigest}`, { headers: { accept: ACCEPT } });
    assert.equal(res.status, 200);
    await upstream.close();
  });

  it('a cached tag still pulls (skopeo), with a Warning header on the manifest', async () => {
    const res = await fetch(`${cache.url}/v2/docker.io/library/probe/manifests/1`, { headers: { accept: ACCEPT } });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('docker-content-digest'), official.manifestDigest);
    assert.match(res.headers.get('warning') ?? '', /^299 - ".*docker\.io: upstream unavailable.*serving the cached copy"$/);
    const blobs = await skopeoPull('docker.io/library/probe:1', 'offline');
    assert.deepEqual(blobs.get(official.layers[0]!.digest), official.layers[0]!.blob);
  });

  it('a cached digest still pulls, served locally (no revalidation, no Warning)', async () => {
    const res = await fetch(`${cache.url}/v2/docker.io/team/app/manifests/${team.manifestDigest}`, { headers: { accept: ACCEPT } });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('warning'), null);
    assert.equal(sha256(Buffer.from(await res.arrayBuffer())), team.manifestDigest);
  });

  it('a miss is a clear error naming the upstream and the cause', async () => {
    const res = await fetch(`${cache.url}/v2/docker.io/library/never/manifests/1`, { headers: { accept: ACCEPT } });
    assert.equal(res.status, 404);
    const body = (await res.json()) as { errors: { code: string; message: string }[] };
    assert.equal(body.errors[0]!.code, 'MANIFEST_UNKNOWN');
    assert.match(body.errors[0]!.message, /not cached, and upstream docker\.io \(http:\/\/127\.0\.0\.1:\d+\) failed: .*ECONNREFUSED/);
    const blob = await fetch(`${cache.url}/v2/docker.io/library/probe/blobs/${sha256('never cached')}`);
    assert.equal(blob.status, 404);
    assert.match(((await blob.json()) as { errors: { message: string }[] }).errors[0]!.message, /upstream docker\.io .*failed/);
  });
});

/** What the upstream registry:2 has answered so far, by its own count: `handler method` -> requests. */
async function upstreamRequests(registry: TestRegistry): Promise<(handler: string, method: string) => number> {
  const text = await (await fetch(registry.metricsUrl!)).text();
  const counts = new Map<string, number>();
  for (const m of text.matchAll(/^registry_http_requests_total\{code="\d+",handler="(\w+)",method="(\w+)"\} (\S+)$/gm)) {
    const k = `${m[1]} ${m[2]}`;
    counts.set(k, (counts.get(k) ?? 0) + Number(m[3]));
  }
  return (handler, method) => counts.get(`${handler} ${method}`) ?? 0;
}

describe('proxy cache: revalidation and indexes, counted on the upstream', () => {
  const INDEX_ACCEPT = `application/vnd.oci.image.index.v1+json, ${ACCEPT}`;
  let counted: TestRegistry;
  let hourly: TestWharf;
  let always: TestWharf;
  let first: BuiltImage;
  let moved: BuiltImage;
  let amd: BuiltImage;
  let arm: BuiltImage;
  let indexDigest: string;
  before(async () => {
    counted = await startReferenceRegistry({ metrics: true });
    first = await image('tag 1, first');
    moved = await image('tag 1, moved');
    amd = await image('the amd64 child');
    arm = await image('the arm64 child');
    await pushImage(counted.url, 'team/tagged', '1', first);
    const index = buildIndex([amd, arm]);
    indexDigest = index.digest;
    await pushIndex(counted.url, 'team/multi', '1', index);
    hourly = await startCachingWharf([{ name: 'up', url: counted.url, revalidate: '1h' }]);
    always = await startCachingWharf([{ name: 'up', url: counted.url, revalidate: '0' }]);
  });
  after(async () => {
    await hourly?.destroy();
    await always?.destroy();
    await counted?.close();
  });

  const digestVia = async (cache: TestWharf, repo: string, ref: string) => {
    const res = await fetch(`${cache.url}/v2/up/${repo}/manifests/${ref}`, { headers: { accept: INDEX_ACCEPT } });
    assert.equal(res.status, 200, `${repo}:${ref}`);
    await res.arrayBuffer();
    return res.headers.get('docker-content-digest');
  };

  it('revalidate: 1h: one HEAD and one GET for the first pull, nothing more for 12 more (3 rounds of 4 at once); a tag moved upstream is not seen within the hour', async () => {
    const before = await upstreamRequests(counted);
    assert.equal(await digestVia(hourly, 'team/tagged', '1'), first.manifestDigest);
    for (let round = 0; round < 3; round++) {
      const digests = await Promise.all([1, 2, 3, 4].map(() => digestVia(hourly, 'team/tagged', '1')));
      assert.deepEqual(digests, Array(4).fill(first.manifestDigest));
    }
    await pushImage(counted.url, 'team/tagged', '1', moved);
    assert.equal(await digestVia(hourly, 'team/tagged', '1'), first.manifestDigest);
    const after = await upstreamRequests(counted);
    assert.equal(after('manifest', 'head') - before('manifest', 'head'), 1);
    assert.equal(after('manifest', 'get') - before('manifest', 'get'), 1);
  });

  it('revalidate: 0: a HEAD for every pull of the tag, a GET only when it moved', async () => {
    const before = await upstreamRequests(counted);
    for (let i = 0; i < 3; i++) assert.equal(await digestVia(always, 'team/tagged', '1'), moved.manifestDigest);
    const after = await upstreamRequests(counted);
    assert.equal(after('manifest', 'head') - before('manifest', 'head'), 3);
    assert.equal(after('manifest', 'get') - before('manifest', 'get'), 1);
  });

  it('an index is stored when fetched; its children come only when asked for (nothing prefetched)', async () => {
    const before = await upstreamRequests(counted);
    assert.equal(await digestVia(hourly, 'team/multi', '1'), indexDigest);
    const afterIndex = await upstreamRequests(counted);
    assert.equal(afterIndex('manifest', 'get') - before('manifest', 'get'), 1, 'the index alone');
    assert.equal(afterIndex('blob', 'get') - before('blob', 'get'), 0);
    assert.equal(await digestVia(hourly, 'team/multi', amd.manifestDigest), amd.manifestDigest);
    const afterChild = await upstreamRequests(counted);
    assert.equal(afterChild('manifest', 'get') - afterIndex('manifest', 'get'), 1, 'the child asked for');
  });

  it('tags/list of a cached name is the upstream\'s, tags never pulled through the cache included', async () => {
    await pushImage(counted.url, 'team/tagged', '2', first);
    const res = await fetch(`${hourly.url}/v2/up/team/tagged/tags/list`);
    assert.equal(res.status, 200);
    // In the upstream's order (registry:2 2.8 does not sort).
    assert.deepEqual(((await res.json()) as { tags: string[] }).tags.sort(), ['1', '2']);
    assert.equal(res.headers.get('warning'), null);
  });

  it('the upstream gone: the index and the child asked for are served, the other child was never fetched; tags: the cached ones, with a Warning', async () => {
    await counted.close();
    const tags = await fetch(`${hourly.url}/v2/up/team/tagged/tags/list`);
    assert.equal(tags.status, 200);
    assert.deepEqual(((await tags.json()) as { tags: string[] }).tags, ['1']);
    assert.match(tags.headers.get('warning') ?? '', /^299 - "up: upstream unavailable/);
    const index = await fetch(`${hourly.url}/v2/up/team/multi/manifests/1`, { headers: { accept: INDEX_ACCEPT } });
    // Within the hour the tag is served without asking the upstream: no failure, no Warning.
    assert.equal(index.status, 200);
    assert.equal(index.headers.get('docker-content-digest'), indexDigest);
    assert.equal((await fetch(`${hourly.url}/v2/up/team/multi/manifests/${amd.manifestDigest}`, { headers: { accept: ACCEPT } })).status, 200);
    const missing = await fetch(`${hourly.url}/v2/up/team/multi/manifests/${arm.manifestDigest}`, { headers: { accept: ACCEPT } });
    assert.equal(missing.status, 404);
    assert.match(((await missing.json()) as { errors: { message: string }[] }).errors[0]!.message, /not cached, and upstream up .*failed/);
    // revalidate: 0 must ask, fails, and serves its cached copy of the tag with a Warning.
    const stale = await fetch(`${always.url}/v2/up/team/tagged/manifests/1`, { headers: { accept: ACCEPT } });
    assert.equal(stale.status, 200);
    assert.equal(stale.headers.get('docker-content-digest'), moved.manifestDigest);
    assert.match(stale.headers.get('warning') ?? '', /^299 - "up: upstream unavailable/);
  });
});
