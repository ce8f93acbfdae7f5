/**
 * The image workflow on the node, with real clients on both sides: `wharf` and the docker
 * CLI pointed at a Wharf daemon started here, the shared dockerd, skopeo, a Wharf registry
 * on an ephemeral port (and one behind htpasswd):
 *
 *   push (mounts from the repository the image came from, skips what the registry has,
 *   uploads the rest) -> docker pull from dockerd and skopeo inspect; docker save ->
 *   wharf load -> wharf run, and wharf save -> docker load -> docker run; wharf save
 *   --format oci -> skopeo inspect oci:; load refuses an archive that climbs out; login
 *   keeps 0600 credentials that pull and push use; history, image inspect, image prune,
 *   search, tag.
 *
 * The test image is static busybox, built here. Every name this file gives carries its
 * own prefix; what it puts into the shared dockerd is removed at the end.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tar from 'tar-stream';
import { buildImage, buildLayer, pushImage } from './support/images.js';
import { startTestWharf, type TestWharf } from './support/wharf.js';
import { ensureDockerd, requireCommand, run } from './support/peers.js';
import { runCommand, startTestDaemon, WHARF_BIN, type Ran, type TestDaemon } from './support/daemon.js';

const PREFIX = `wharf-iw-${process.pid}`;
let registry: TestWharf;
let daemon: TestDaemon;
let scratch: string;
let image: string;
let wharfConfig: string;
const dockerdImages: string[] = [];

const wharf = (args: string[], opts: { input?: string; env?: Record<string, string> } = {}): Promise<Ran> =>
  runCommand(process.execPath, [WHARF_BIN, '-H', daemon.host, ...args], { ...(opts.input !== undefined ? { input: opts.input } : {}), env: { ...process.env, WHARF_CONFIG: wharfConfig, ...opts.env }, timeoutMs: 120_000 });
const dockerd = (args: string[]): Promise<Ran> => runCommand('docker', ['-H', 'unix:///var/run/docker.sock', ...args], { env: { ...process.env, DOCKER_CLI_HINTS: 'false' }, timeoutMs: 120_000 });

function ok(r: Ran, what: string): Ran {
  assert.equal(r.code, 0, `${what}: exit ${r.code}\n${r.stdout}\n${r.stderr}`);
  return r;
}

before(async () => {
  await ensureDockerd();
  await requireCommand('skopeo', 'skopeo');
  if (!existsSync('/bin/busybox')) throw new Error('/bin/busybox is missing: apt-get install -y busybox-static');
  scratch = await mkdtemp(join(tmpdir(), 'wharf-iw-'));
  wharfConfig = join(scratch, 'wharf-config', 'config.json');
  registry = await startTestWharf();
  const applets = ['sh', 'echo', 'cat', 'ls', 'rm', 'true'];
  const layer = await buildLayer([
    { type: 'dir', path: 'bin' },
    { type: 'file', path: 'bin/busybox', content: await readFile('/bin/busybox'), mode: 0o755 },
    ...applets.map((a) => ({ type: 'symlink' as const, path: `bin/${a}`, target: 'busybox' })),
  ], { format: 'docker' });
  const app = await buildLayer([{ type: 'file', path: 'etc/motd', content: `${PREFIX}\n` }], { format: 'docker' });
  await pushImage(registry.url, `${PREFIX}/bb`, '1', buildImage([layer, app], { Cmd: ['cat', '/etc/motd'], Labels: { 'wharf.test.run': PREFIX } }, 'docker'));
  image = `${registry.hostPort}/${PREFIX}/bb:1`;
  daemon = await startTestDaemon({ registry: registry.hostPort });
  ok(await wharf(['pull', image]), 'pull');
});

after(async () => {
  if (dockerdImages.length > 0) await dockerd(['rmi', '-f', ...dockerdImages]);
  await daemon?.stop();
  if (daemon) await rm(daemon.dir, { recursive: true, force: true }).catch(() => undefined);
  await registry?.destroy();
  if (scratch) await rm(scratch, { recursive: true, force: true });
});

async function blobGets(): Promise<number> {
  const text = await (await fetch(`${registry.url}/metrics`)).text();
  let n = 0;
  for (const line of text.split('\n')) if (/^wharf_http_requests_total\{.*route="blob".*method="GET"/.test(line)) n += Number(line.split(' ').pop());
  return n;
}

describe('push', () => {
  test('wharf push of a tag in another repository of the same registry mounts every blob, then docker pull (dockerd) and skopeo inspect succeed', async () => {
    const target = `${registry.hostPort}/${PREFIX}/pushed:2`;
    ok(await wharf(['tag', image, target]), 'tag');
    const gets = await blobGets();
    const pushed = ok(await wharf(['push', target]), 'push');
    assert.match(pushed.stdout, new RegExp(`^The push refers to repository \\[${registry.hostPort}/${PREFIX}/pushed\\]$`, 'm'));
    assert.equal((pushed.stdout.match(new RegExp(`: Mounted from ${PREFIX}/bb$`, 'gm')) ?? []).length, 2, pushed.stdout);
    const digest = new RegExp(`^2: digest: (sha256:[0-9a-f]{64}) size: \\d+$`, 'm').exec(pushed.stdout)?.[1];
    assert.ok(digest, pushed.stdout);
    assert.equal(await blobGets(), gets, 'a push reads no blob');
    const inspected = JSON.parse(ok(await runCommand('skopeo', ['inspect', '--tls-verify=false', `docker://${target}`]), 'skopeo inspect').stdout) as { Digest: string; Layers: string[] };
    assert.equal(inspected.Digest, digest);
    assert.equal(inspected.Layers.length, 2);
    dockerdImages.push(target);
    ok(await dockerd(['pull', target]), 'docker pull from dockerd');
    const ran = ok(await dockerd(['run', '--rm', target]), 'docker run');
    assert.equal(ran.stdout, `${PREFIX}\n`);
    // The pushed tag now has a digest in its repository.
    const repoDigests = ok(await wharf(['image', 'inspect', '--format', '{{json .RepoDigests}}', target]), 'inspect').stdout;
    assert.match(repoDigests, new RegExp(`${PREFIX}/pushed@${digest}`));
  });

  test('docker push through the Wharf daemon: layers the registry has are skipped; the stream ends with the aux digest', async () => {
    const target = `${registry.hostPort}/${PREFIX}/pushed:3`;
    ok(await daemon.docker(['tag', image, target]), 'docker tag');
    const pushed = ok(await daemon.docker(['push', target]), 'docker push');
    assert.match(pushed.stdout, /^[0-9a-f]{12}: Layer already exists$/m);
    assert.match(pushed.stdout, /^3: digest: sha256:[0-9a-f]{64} size: \d+$/m);
    const raw = await daemon.api('POST', `/images/${encodeURIComponent(`${registry.hostPort}/${PREFIX}/pushed`)}/push?tag=3`);
    assert.equal(raw.status, 200);
    const last = JSON.parse(raw.body.trim().split('\n').pop()!) as { aux?: { Tag: string; Digest: string; Size: number } };
    assert.equal(last.aux?.Tag, '3');
    assert.match(last.aux?.Digest ?? '', /^sha256:[0-9a-f]{64}$/);
  });

  test('a push of an image the registry has never seen uploads its layers ("Pushed"); an image the node lacks is refused', async () => {
    const layer = await buildLayer([{ type: 'file', path: `fresh-${PREFIX}`, content: `${Date.now()}\n` }]);
    const tarPath = join(scratch, 'fresh.tar');
    await writeFile(tarPath, await dockerArchive(layer, `${PREFIX}-fresh:1`));
    ok(await wharf(['load', '-i', tarPath]), 'load');
    const target = `${registry.hostPort}/${PREFIX}/fresh:1`;
    ok(await wharf(['tag', `${PREFIX}-fresh:1`, target]), 'tag');
    const pushed = ok(await wharf(['push', target]), 'push');
    assert.match(pushed.stdout, /^[0-9a-f]{12}: Pushed$/m);
    const manifest = await fetch(`${registry.url}/v2/${PREFIX}/fresh/manifests/1`, { headers: { accept: 'application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json' } });
    assert.equal(manifest.status, 200);
    const missing = await wharf(['push', `${registry.hostPort}/${PREFIX}/nothing:1`]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /Error response from daemon: An image does not exist locally with the tag: /);
  });
});

/** A one-layer docker-archive (legacy layout, as Docker 20 writes), named `name`. */
async function dockerArchive(layer: Awaited<ReturnType<typeof buildLayer>>, name: string): Promise<Buffer> {
  const img = buildImage([layer], { Cmd: ['/bin/true'] }, 'docker');
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  pack.on('data', (c: unknown) => chunks.push(c as Buffer));
  const ended = new Promise<void>((r) => pack.on('end', () => r()));
  const hex = img.configDigest.slice(7);
  pack.entry({ name: `${hex}.json` }, img.config);
  pack.entry({ name: 'layer1/layer.tar' }, layer.tar);
  pack.entry({ name: 'manifest.json' }, JSON.stringify([{ Config: `${hex}.json`, RepoTags: [name], Layers: ['layer1/layer.tar'] }]));
  pack.finalize();
  await ended;
  return Buffer.concat(chunks);
}

describe('save and load', () => {
  test('docker save (dockerd) -> wharf load -> wharf run prints the image output', async () => {
    const name = `${PREFIX}-from-dockerd:1`;
    ok(await dockerd(['pull', image]), 'dockerd pull');
    dockerdImages.push(image, name);
    ok(await dockerd(['tag', image, name]), 'dockerd tag');
    const file = join(scratch, 'from-dockerd.tar');
    ok(await dockerd(['save', '-o', file, name]), 'docker save');
    const loaded = ok(await wharf(['load', '-i', file]), 'wharf load');
    assert.equal(loaded.stdout, `Loaded image: ${registry.hostPort}/${name}\n`);
    const ran = ok(await wharf(['run', '--rm', name]), 'wharf run');
    assert.equal(ran.stdout, `${PREFIX}\n`);
  });

  test('wharf save -> docker load (dockerd) -> docker run prints the image output', async () => {
    const name = `${registry.hostPort}/${PREFIX}/saved:1`;
    ok(await wharf(['tag', image, name]), 'tag');
    const file = join(scratch, 'from-wharf.tar');
    ok(await wharf(['save', '-o', file, name]), 'wharf save');
    dockerdImages.push(name);
    const loaded = ok(await dockerd(['load', '-i', file]), 'docker load');
    assert.match(loaded.stdout, new RegExp(`Loaded image: ${name.replace(/[.]/g, '\\.')}`));
    const ran = ok(await dockerd(['run', '--rm', name]), 'docker run');
    assert.equal(ran.stdout, `${PREFIX}\n`);
    // and the docker CLI saves through our daemon too (GET /images/get)
    const viaDocker = join(scratch, 'via-docker.tar');
    ok(await daemon.docker(['save', '-o', viaDocker, name]), 'docker save through the Wharf daemon');
    assert.ok((await stat(viaDocker)).size > 1000);
  });

  test('wharf save --format oci writes an OCI image layout that skopeo inspects', async () => {
    const dir = join(scratch, 'layout');
    ok(await wharf(['save', '--format', 'oci', '-o', dir, image]), 'save oci');
    assert.deepEqual((await readdir(dir)).sort(), ['blobs', 'index.json', 'oci-layout']);
    const inspected = JSON.parse(ok(await runCommand('skopeo', ['inspect', `oci:${dir}:1`]), 'skopeo inspect oci:').stdout) as { Layers: string[]; Labels: Record<string, string> };
    assert.equal(inspected.Layers.length, 2);
    assert.equal(inspected.Labels['wharf.test.run'], PREFIX);
  });

  test('load refuses an archive with an entry that climbs out, and one whose layer does not match its digest; nothing is stored', async () => {
    const before = ok(await wharf(['images', '-q']), 'images').stdout;
    const pack = tar.pack();
    const chunks: Buffer[] = [];
    pack.on('data', (c: unknown) => chunks.push(c as Buffer));
    const ended = new Promise<void>((r) => pack.on('end', () => r()));
    pack.entry({ name: '../escape' }, 'x');
    pack.entry({ name: 'manifest.json' }, '[]');
    pack.finalize();
    await ended;
    const evil = join(scratch, 'evil.tar');
    await writeFile(evil, Buffer.concat(chunks));
    const r = await wharf(['load', '-i', evil]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /Error response from daemon: invalid archive: .*climbs out/);
    const layer = await buildLayer([{ type: 'file', path: 'x', content: 'x' }]);
    const good = await dockerArchive(layer, `${PREFIX}-bad:1`);
    const bad = Buffer.from(good);
    const at = bad.indexOf(layer.tar.subarray(512, 513 + 1));
    bad[at] = bad[at]! ^ 1;
    await writeFile(evil, bad);
    const r2 = await wharf(['load', '-i', evil]);
    assert.equal(r2.code, 1);
    assert.match(r2.stderr, /invalid archive: .*(digest|mismatch)/i);
    assert.equal(ok(await wharf(['images', '-q']), 'images').stdout, before);
    const api = await daemon.api('POST', '/images/load', 'not a tar');
    assert.equal(api.status, 400, api.body);
    assert.match(JSON.parse(api.body).message as string, /invalid archive/);
  });
});

describe('login', () => {
  test('wharf login keeps the credentials 0600; pull and push to an htpasswd registry use them; logout removes them', async () => {
    await requireCommand('htpasswd', 'apache2-utils');
    const htpasswd = join(scratch, 'htpasswd');
    await run('htpasswd', ['-B', '-b', '-c', htpasswd, 'alice', 's3cret']);
    const guarded = await startTestWharf({ env: { WHARF_AUTH_HTPASSWD_PATH: htpasswd } });
    try {
      const wrong = await wharf(['login', guarded.hostPort, '-u', 'alice', '--password-stdin'], { input: 'nope\n' });
      assert.equal(wrong.code, 1);
      assert.match(wrong.stderr, /401 Unauthorized/);
      assert.equal(existsSync(wharfConfig), false, 'a refused login stores nothing');
      const right = ok(await wharf(['login', guarded.hostPort, '-u', 'alice', '--password-stdin'], { input: 's3cret\n' }), 'login');
      assert.match(right.stdout, /Login Succeeded/);
      assert.equal((await stat(wharfConfig)).mode & 0o777, 0o600);
      assert.equal((await stat(join(scratch, 'wharf-config'))).mode & 0o777, 0o700);
      const saved = JSON.parse(await readFile(wharfConfig, 'utf8')) as { auths: Record<string, { auth: string }> };
      assert.equal(Buffer.from(saved.auths[guarded.hostPort]!.auth, 'base64').toString(), 'alice:s3cret');

      const target = `${guarded.hostPort}/${PREFIX}/private:1`;
      ok(await wharf(['tag', image, target]), 'tag');
      ok(await wharf(['push', target]), 'push with the stored credentials');
      ok(await wharf(['rmi', target]), 'rmi');
      const pulled = ok(await wharf(['pull', target]), 'pull with the stored credentials');
      assert.match(pulled.stdout, /^Digest: sha256:/m);
      const elsewhere = await wharf(['pull', target], { env: { WHARF_CONFIG: join(scratch, 'none.json') } });
      assert.equal(elsewhere.code, 1);
      assert.match(elsewhere.stderr, /pull access denied/);

      // build's FROM pulls with them too (X-Registry-Config, as the docker CLI sends it)
      ok(await wharf(['rmi', target]), 'rmi');
      const context = join(scratch, 'from-private');
      await mkdir(context, { recursive: true });
      await writeFile(join(context, 'Dockerfile'), `FROM ${target}\nCMD ["cat", "/etc/motd"]\n`);
      const built = ok(await wharf(['build', '-t', `${PREFIX}-from-private:1`, context]), 'build FROM the private image');
      assert.match(built.stdout, /Successfully built/);
      assert.equal(ok(await wharf(['run', '--rm', `${PREFIX}-from-private:1`]), 'run').stdout, `${PREFIX}\n`);

      ok(await wharf(['logout', guarded.hostPort]), 'logout');
      const after = JSON.parse(await readFile(wharfConfig, 'utf8')) as { auths: Record<string, unknown> };
      assert.equal(guarded.hostPort in after.auths, false);
    } finally {
      await guarded.destroy();
    }
  });
});

describe('commit', () => {
  test('commit of a container that added and deleted files: the image has the added file, the deleted one is gone; -a -m -c recorded', async () => {
    const name = `${PREFIX}-changer`;
    ok(await wharf(['run', '--name', name, image, 'sh', '-c', 'echo added > /added && rm /etc/motd']), 'run');
    const target = `${registry.hostPort}/${PREFIX}/committed:1`;
    const id = ok(await wharf(['commit', '-a', 'Hannibal <h@a-team>', '-m', 'the plan', '-c', 'CMD ["cat", "/added"]', '-c', 'ENV COMMITTED=yes', name, target]), 'commit').stdout.trim();
    assert.match(id, /^sha256:[0-9a-f]{64}$/);
    const ran = ok(await wharf(['run', '--rm', target]), 'run the committed image');
    assert.equal(ran.stdout, 'added\n');
    const gone = await wharf(['run', '--rm', target, 'cat', '/etc/motd']);
    assert.notEqual(gone.code, 0, 'the deleted file is gone');
    assert.match(gone.stderr, /No such file/);
    const env = ok(await wharf(['run', '--rm', target, 'sh', '-c', 'echo $COMMITTED']), 'env').stdout;
    assert.equal(env, 'yes\n');
    const author = ok(await wharf(['image', 'inspect', '--format', '{{.Author}}|{{json .Config.Cmd}}', target]), 'inspect').stdout.trim();
    assert.equal(author, 'Hannibal <h@a-team>|["cat","/added"]');
    const history = ok(await wharf(['history', '--format', '{{.CreatedBy}}|{{.Comment}}', target]), 'history').stdout.split('\n');
    assert.match(history[0]!, /^sh -c echo added > \/added && rm \/etc\/motd\|the plan$/);
    ok(await wharf(['rm', name]), 'rm');
  });

  test('docker commit through the Wharf daemon freezes a running container and leaves it running; a bad change is a 400', async () => {
    const name = `${PREFIX}-runner`;
    ok(await wharf(['run', '-d', '--name', name, image, 'sh', '-c', 'echo live > /live; exec sleep 60']), 'run -d');
    for (let i = 0; i < 50 && (await wharf(['exec', name, 'cat', '/live'])).code !== 0; i++) await new Promise((r) => setTimeout(r, 100));
    const id = ok(await daemon.docker(['commit', name]), 'docker commit').stdout.trim();
    assert.match(id, /^sha256:[0-9a-f]{64}$/);
    assert.equal(ok(await wharf(['inspect', '--format', '{{.State.Status}}', name]), 'inspect').stdout.trim(), 'running');
    const live = ok(await wharf(['run', '--rm', id, 'cat', '/live']), 'run the dangling image by ID').stdout;
    assert.equal(live, 'live\n');
    assert.ok(ok(await wharf(['images', '-f', 'dangling=true', '-q']), 'images').stdout.includes(id.slice(7, 19)));
    const bad = await daemon.docker(['commit', '-c', 'FROB x', name]);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /FROB is not a valid change command/);
    const none = await daemon.api('POST', '/commit?container=nope');
    assert.equal(none.status, 404);
    ok(await wharf(['rm', '-f', name]), 'rm -f');
    ok(await wharf(['rmi', id]), 'rmi');
  });
});

describe('history, inspect, prune, search, tag', () => {
  test("history prints docker's table, newest first, the image ID on the top row", async () => {
    const r = ok(await wharf(['history', image]), 'history');
    const lines = r.stdout.trimEnd().split('\n');
    assert.match(lines[0]!, /^IMAGE\s+CREATED\s+CREATED BY\s+SIZE\s+COMMENT$/);
    assert.equal(lines.length, 3);
    const id = ok(await wharf(['image', 'inspect', '--format', '{{.Id}}', image]), 'inspect').stdout.trim();
    assert.ok(lines[1]!.startsWith(id.slice(7, 19)), lines[1]);
    assert.match(lines[2]!, /^<missing>\s+/);
    assert.match(lines[1]!, /wharf spec-tests/);
    const viaDocker = ok(await daemon.docker(['history', '--format', '{{.ID}} {{.CreatedBy}}', image]), 'docker history').stdout;
    assert.match(viaDocker, /^[0-9a-f]{12} wharf spec-tests\n<missing> wharf spec-tests\n$/);
  });

  test('image inspect and tag of an image the node lacks: exit 1 and "No such image"', async () => {
    const missing = `${registry.hostPort}/${PREFIX}/nope:1`;
    const r = await wharf(['image', 'inspect', missing]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /No such image/);
    assert.equal(r.stdout.trim(), '[]');
    const t = await wharf(['tag', missing, `${PREFIX}/x:1`]);
    assert.equal(t.code, 1);
    assert.match(t.stderr, /No such image/);
  });

  test('image prune removes dangling images only; -a every image no container uses', async () => {
    const digest = ok(await wharf(['image', 'inspect', '--format', '{{index .RepoDigests 0}}', image]), 'inspect').stdout.trim();
    const layer = await buildLayer([{ type: 'file', path: 'dangling', content: PREFIX }]);
    await pushImage(registry.url, `${PREFIX}/dangling`, '1', buildImage([layer], { Cmd: ['/x'] }));
    const d = ok(await wharf(['pull', `${registry.hostPort}/${PREFIX}/dangling:1`]), 'pull');
    const danglingDigest = /^Digest: (sha256:[0-9a-f]{64})$/m.exec(d.stdout)![1]!;
    ok(await wharf(['rmi', `${registry.hostPort}/${PREFIX}/dangling:1`]), 'rmi');
    ok(await wharf(['pull', `${registry.hostPort}/${PREFIX}/dangling@${danglingDigest}`]), 'pull by digest');
    const listed = ok(await wharf(['images', '-f', 'dangling=true', '-q']), 'images dangling').stdout.trim().split('\n');
    assert.equal(listed.length, 1, listed.join(','));
    const pruned = ok(await wharf(['image', 'prune', '-f']), 'prune');
    assert.match(pruned.stdout, /^Deleted Images:\ndeleted: sha256:[0-9a-f]{64}\n/);
    assert.match(pruned.stdout, /Total reclaimed space: \d/);
    assert.equal(ok(await wharf(['images', '-f', 'dangling=true', '-q']), 'images').stdout, '');
    ok(await wharf(['image', 'inspect', digest]), 'the tagged image stays');
    const api = await daemon.api('POST', '/images/prune?filters=%7B%22bogus%22%3A%5B%22x%22%5D%7D');
    assert.equal(api.status, 400);
    // -a: a container keeps its image; every other image goes.
    ok(await wharf(['pull', `${registry.hostPort}/${PREFIX}/dangling:1`]), 'pull a tagged image no container uses');
    ok(await wharf(['create', '--name', `${PREFIX}-keeper`, image]), 'create');
    const all = ok(await wharf(['image', 'prune', '-a', '-f']), 'prune -a');
    assert.match(all.stdout, /^untagged: /m);
    const left = ok(await wharf(['images', '--format', '{{.ID}} {{.Repository}}:{{.Tag}}']), 'images').stdout.trim().split('\n');
    const keptId = ok(await wharf(['image', 'inspect', '--format', '{{.Id}}', image]), 'inspect').stdout.trim().slice(7, 19);
    assert.ok(left.includes(`${keptId} ${image}`), left.join('\n'));
    assert.deepEqual([...new Set(left.map((l) => l.split(' ')[0]))], [keptId], 'only the image the container uses is left (under each of its names)');
    ok(await wharf(['rm', `${PREFIX}-keeper`]), 'rm');
  });

  test("search lists the registry's repositories matching the term", async () => {
    const r = ok(await wharf(['search', `${registry.hostPort}/${PREFIX}`]), 'search');
    const lines = r.stdout.trimEnd().split('\n');
    assert.match(lines[0]!, /^NAME\s+DESCRIPTION\s+STARS\s+OFFICIAL$/);
    assert.ok(lines.some((l) => l.startsWith(`${registry.hostPort}/${PREFIX}/bb `)), r.stdout);
    const viaDocker = ok(await daemon.docker(['search', '--format', '{{.Name}}', `${registry.hostPort}/${PREFIX}/bb`]), 'docker search').stdout;
    assert.match(viaDocker, new RegExp(`${PREFIX}/bb`));
  });
});
