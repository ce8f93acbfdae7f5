/**
 * Online GC against a running Wharf: collections (through the admin endpoint, as
 * `wharf gc` calls it) run while 20 clients push images that share layers. Every tagged
 * image stays fully pullable, and exactly the unreferenced bytes are freed. `wharf gc
 * --dry-run` reports what the real run then frees. The admin endpoint is refused unless the
 * caller may delete everywhere: Basic credentials of such a user (htpasswd mode), a token
 * granting registry:admin:delete through the challenge flow (token mode), or loopback on
 * an open registry.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { buildImage, MEDIA, pushImage, sha256, type BuiltImage, type BuiltLayer } from './support/images.js';
import { requireCommand, run } from './support/peers.js';
import { startTestWharf, type TestWharf } from './support/wharf.js';

const wharfBin = fileURLToPath(new URL('../bin/wharf.js', import.meta.url));
const ACCEPT = 'application/vnd.oci.image.manifest.v1+json';

function layerOf(bytes: Buffer): BuiltLayer {
  const digest = sha256(bytes);
  return { blob: bytes, digest, diffId: digest, mediaType: MEDIA.ociLayer } as BuiltLayer;
}

async function gc(wharf: TestWharf, dryRun = false): Promise<{ bytesFreed: number; blobs: { digest: string; size: number }[] }> {
  const res = await fetch(`${wharf.url}/admin/gc${dryRun ? '?dryRun=true' : ''}`, { method: 'POST' });
  assert.equal(res.status, 200, await res.clone().text());
  return (await res.json()) as { bytesFreed: number; blobs: { digest: string; size: number }[] };
}

async function assertPullable(wharf: TestWharf, repo: string, tag: string, image: BuiltImage): Promise<void> {
  const m = await fetch(`${wharf.url}/v2/${repo}/manifests/${tag}`, { headers: { accept: ACCEPT } });
  assert.equal(m.status, 200, `${repo}:${tag}`);
  assert.equal(sha256(Buffer.from(await m.arrayBuffer())), image.manifestDigest);
  for (const d of [image.configDigest, ...image.layers.map((l) => l.digest)]) {
    const b = await fetch(`${wharf.url}/v2/${repo}/blobs/${d}`);
    assert.equal(b.status, 200, `${repo}:${tag} blob ${d}`);
    assert.equal(`sha256:${createHash('sha256').update(Buffer.from(await b.arrayBuffer())).digest('hex')}`, d);
  }
}

describe('GC while 20 clients push images that share layers', () => {
  let wharf: TestWharf;
  before(async () => {
    wharf = await startTestWharf({ env: { WHARF_GC_INTERVAL: '0' } });
  });
  after(async () => {
    await wharf?.destroy();
  });

  it('leaves every tagged image pullable and frees exactly the unreferenced bytes', async () => {
    const base = layerOf(randomBytes(2 << 20));
    const common = layerOf(randomBytes(1 << 20));
    // Garbage: an image whose manifest and blob links were deleted. Its unique bytes are
    // unreferenced (and unlinked, so no lease); the layer it shares with live images is not.
    const garbage = buildImage([base, layerOf(randomBytes(3 << 20)), layerOf(randomBytes(512 << 10))]);
    await pushImage(wharf.url, 'gc/garbage', 'x', garbage);
    const live = buildImage([base, common]);
    await pushImage(wharf.url, 'gc/live', '1', live);
    assert.equal((await fetch(`${wharf.url}/v2/gc/garbage/manifests/${garbage.manifestDigest}`, { method: 'DELETE' })).status, 202);
    for (const d of [garbage.configDigest, ...garbage.layers.map((l) => l.digest)]) {
      assert.equal((await fetch(`${wharf.url}/v2/gc/garbage/blobs/${d}`, { method: 'DELETE' })).status, 202);
    }
    const unreferenced = [garbage.manifest.length, garbage.config.length, ...garbage.layers.slice(1).map((l) => l.blob.length)].reduce((a, b) => a + b, 0);

    const pushed: { repo: string; tag: string; image: BuiltImage }[] = [];
    let pushing = true;
    const pushes = Array.from({ length: 20 }, async (_, i) => {
      const image = buildImage([base, common, layerOf(randomBytes(256 << 10))], { Env: [`N=${i}`] });
      const repo = `gc/app${i % 5}`;
      await pushImage(wharf.url, repo, `t${i}`, image);
      pushed.push({ repo, tag: `t${i}`, image });
    });
    const all = Promise.all(pushes).finally(() => (pushing = false));
    let freed = 0;
    let runs = 0;
    do {
      freed += (await gc(wharf)).bytesFreed;
      runs++;
    } while (pushing);
    await all;
    freed += (await gc(wharf)).bytesFreed;
    assert.ok(runs >= 1);
    assert.equal(freed, unreferenced);
    for (const l of garbage.layers.slice(1)) assert.equal(existsSync(join(wharf.root, 'blobs', 'sha256', l.digest.slice(7, 9), l.digest.slice(7))), false);
    assert.equal(pushed.length, 20);
    for (const { repo, tag, image } of pushed) await assertPullable(wharf, repo, tag, image);
    await assertPullable(wharf, 'gc/live', '1', live);
  });
});

describe('wharf gc [--dry-run] --url', () => {
  let wharf: TestWharf;
  before(async () => {
    wharf = await startTestWharf({ env: { WHARF_GC_INTERVAL: '0' } });
  });
  after(async () => {
    await wharf?.destroy();
  });

  it('prints what a collection would free, then frees exactly that', async () => {
    const doomed = buildImage([layerOf(randomBytes(100_000))]);
    await pushImage(wharf.url, 'cli/doomed', '1', doomed);
    await fetch(`${wharf.url}/v2/cli/doomed/manifests/${doomed.manifestDigest}`, { method: 'DELETE' });
    for (const d of [doomed.configDigest, doomed.layers[0]!.digest]) await fetch(`${wharf.url}/v2/cli/doomed/blobs/${d}`, { method: 'DELETE' });
    const total = doomed.manifest.length + doomed.config.length + doomed.layers[0]!.blob.length;

    const dry = await run(process.execPath, [wharfBin, 'gc', '--dry-run', '--url', wharf.url]);
    assert.match(dry, new RegExp(`would free .* \\(${total} bytes\\): 3 blobs`));
    assert.match(dry, new RegExp(`blob +${doomed.layers[0]!.digest}`));
    const real = await run(process.execPath, [wharfBin, 'gc', '--url', wharf.url]);
    assert.match(real, new RegExp(`freed .* \\(${total} bytes\\): 3 blobs`));
    const again = await run(process.execPath, [wharfBin, 'gc', '--url', wharf.url]);
    assert.match(again, /freed 0 B \(0 bytes\): 0 blobs/);
    assert.match(await run(process.execPath, [wharfBin, 'gc', '--help']), /--dry-run/);
  });
});

/** Run `wharf gc`, answering its exit code and what it printed (it exits non-zero on refusals). */
function gcCli(args: string[]): Promise<{ code: number; out: string; err: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [wharfBin, 'gc', ...args], (error, stdout, stderr) =>
      resolve({ code: error ? Number((error as { code?: number }).code ?? 1) : 0, out: stdout, err: stderr }),
    );
  });
}

describe('the admin endpoint under access control', () => {
  const USERS = { alice: 'alice-admin-pw', bob: 'bob-team-pw' } as const;
  // alice may do everything everywhere; bob may delete, but only under team/.
  const ACCESS = [
    { subjects: ['alice'], repositories: ['**'], actions: ['*'] },
    { subjects: ['bob'], repositories: ['team/**'], actions: ['pull', 'push', 'delete'] },
  ];
  let work: string;
  let htpasswd: string;
  before(async () => {
    await requireCommand('htpasswd', 'apache2-utils');
    work = await mkdtemp(join(tmpdir(), 'wharf-gc-admin-'));
    htpasswd = join(work, 'htpasswd');
    await run('htpasswd', ['-B', '-b', '-c', htpasswd, 'alice', USERS.alice]);
    await run('htpasswd', ['-B', '-b', htpasswd, 'bob', USERS.bob]);
  });
  after(async () => {
    if (work) await rm(work, { recursive: true, force: true });
  });

  const start = (token: boolean) =>
    startTestWharf({
      env: { WHARF_GC_INTERVAL: '0', WHARF_AUTH_HTPASSWD_PATH: htpasswd, ...(token ? { WHARF_AUTH_TOKEN_ENABLED: 'true' } : {}) },
      configure: (c) => {
        c.auth.access = ACCESS;
      },
    });
  const basic = (user: keyof typeof USERS) => `Basic ${Buffer.from(`${user}:${USERS[user]}`).toString('base64')}`;
  const post = (wharf: TestWharf, authorization?: string) =>
    fetch(`${wharf.url}/admin/gc?dryRun=true`, { method: 'POST', headers: authorization ? { authorization } : {} });

  it('htpasswd mode: Basic credentials of a user who may delete everywhere, nobody else', async () => {
    const wharf = await start(false);
    try {
      const anonymous = await post(wharf);
      assert.equal(anonymous.status, 401);
      assert.match(anonymous.headers.get('www-authenticate') ?? '', /^Basic /);
      const bob = await post(wharf, basic('bob'));
      assert.equal(bob.status, 403);
      assert.match(((await bob.json()) as { errors: { message: string }[] }).errors[0]!.message, /bob may not delete everywhere/);
      assert.equal((await post(wharf, basic('alice'))).status, 200);
      const cli = await gcCli(['--dry-run', '--url', wharf.url, '--user', `alice:${USERS.alice}`]);
      assert.equal(cli.code, 0, cli.err);
      assert.match(cli.out, /would free/);
      const refused = await gcCli(['--url', wharf.url, '--user', `bob:${USERS.bob}`]);
      assert.equal(refused.code, 3);
      assert.match(refused.err, /403/);
    } finally {
      await wharf.destroy();
    }
  });

  it('token mode: a token granting registry:admin:delete (only for a user who may delete everywhere); wharf gc gets it through the challenge', async () => {
    const wharf = await start(true);
    try {
      const anonymous = await post(wharf);
      assert.equal(anonymous.status, 401);
      const challenge = anonymous.headers.get('www-authenticate') ?? '';
      assert.match(challenge, /^Bearer realm="[^"]+\/auth\/token",service="[^"]+",scope="registry:admin:delete"/);
      const realm = /realm="([^"]+)"/.exec(challenge)![1]!;
      const service = /service="([^"]+)"/.exec(challenge)![1]!;
      const token = async (user: keyof typeof USERS, scope: string) => {
        const res = await fetch(`${realm}?service=${encodeURIComponent(service)}&scope=${encodeURIComponent(scope)}`, { headers: { authorization: basic(user) } });
        assert.equal(res.status, 200);
        return ((await res.json()) as { token: string }).token;
      };
      // bob asks for the admin scope and is not given it; a token for deletes under team/ is not enough either.
      for (const t of [await token('bob', 'registry:admin:delete'), await token('bob', 'repository:team/app:delete')]) {
        const res = await post(wharf, `Bearer ${t}`);
        assert.equal(res.status, 401);
        assert.match(res.headers.get('www-authenticate') ?? '', /error="insufficient_scope"/);
      }
      // Basic credentials alone are not what a token-mode registry takes.
      assert.equal((await post(wharf, basic('alice'))).status, 401);
      const admin = await post(wharf, `Bearer ${await token('alice', 'registry:admin:delete')}`);
      assert.equal(admin.status, 200, await admin.clone().text());
      assert.equal(((await admin.json()) as { dryRun: boolean }).dryRun, true);

      const cli = await gcCli(['--url', wharf.url, '--user', `alice:${USERS.alice}`]);
      assert.equal(cli.code, 0, cli.err);
      assert.match(cli.out, /^freed .* blobs/m);
      const refused = await gcCli(['--url', wharf.url, '--user', `bob:${USERS.bob}`]);
      assert.equal(refused.code, 3);
      assert.match(refused.err, /401/);
      const nobody = await gcCli(['--url', wharf.url]);
      assert.equal(nobody.code, 3);
    } finally {
      await wharf.destroy();
    }
  });
});
