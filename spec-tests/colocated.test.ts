/**
 * The co-located fast path: a Wharf registry and a node daemon on one machine, the daemon
 * started with `--registry-data HOST:PORT=<the registry's data dir>`.
 *
 *   - a pull of a 1 GiB image moves no blob body over HTTP: the registry serves no blob
 *     GET (its own /metrics count them) and sends a few KiB in all; the node's blob is the
 *     registry's file (same inode: a hard link), and the image runs
 *   - a push of a layer the registry lacks links it into the registry's blob store: the
 *     registry receives no body, it then serves the blob over HTTP (skopeo inspects the
 *     image, its digest checks out) and dockerd pulls and runs it
 *   - access is still the registry's: a repository the registry does not have is a 404
 *     for a co-located pull as for any other
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildImage, buildLayer, pushImage } from './support/images.js';
import { FsBlobStore } from '../storage/fs-blob-store.js';
import type { Digest } from '../oci/names.js';
import { pushBigImage, registryTraffic, writeBigLayer } from './support/big-image.js';
import { startTestWharf, type TestWharf } from './support/wharf.js';
import { ensureDockerd, requireCommand } from './support/peers.js';
import { runCommand, startTestDaemon, WHARF_BIN, type Ran, type TestDaemon } from './support/daemon.js';

const PREFIX = `wharf-colo-${process.pid}`;
let registry: TestWharf;
let daemon: TestDaemon;
let scratch: string;
const dockerdImages: string[] = [];

const wharf = (args: string[]): Promise<Ran> => runCommand(process.execPath, [WHARF_BIN, '-H', daemon.host, ...args], { timeoutMs: 180_000 });
function ok(r: Ran, what: string): Ran {
  assert.equal(r.code, 0, `${what}: exit ${r.code}\n${r.stdout}\n${r.stderr}`);
  return r;
}

before(async () => {
  if (!existsSync('/bin/busybox')) throw new Error('/bin/busybox is missing: apt-get install -y busybox-static');
  scratch = await mkdtemp(join(tmpdir(), 'wharf-colo-'));
  // The registry's data dir on the node's filesystem, so blobs hard-link both ways.
  registry = await startTestWharf({ root: join(scratch, 'registry') });
  daemon = await startTestDaemon({ registry: registry.hostPort, args: ['--registry-data', `${registry.hostPort}=${registry.root}`] });
});

after(async () => {
  await daemon?.stop();
  if (daemon) await rm(daemon.dir, { recursive: true, force: true }).catch(() => undefined);
  await registry?.destroy();
  if (dockerdImages.length > 0) await runCommand('docker', ['rmi', '-f', ...dockerdImages]);
  if (scratch) await rm(scratch, { recursive: true, force: true });
});

const busybox = async () =>
  buildLayer(
    [
      { type: 'dir', path: 'bin' },
      { type: 'file', path: 'bin/busybox', content: await readFile('/bin/busybox'), mode: 0o755 },
      ...['sh', 'ls', 'wc', 'head', 'dd'].map((a) => ({ type: 'symlink' as const, path: `bin/${a}`, target: 'busybox' })),
    ],
    { format: 'docker' },
  );

describe('co-located pull', () => {
  test('a 1 GiB image: no blob GET, a few KiB over HTTP, the blob is the registry file itself, and the image runs', async () => {
    const big = await writeBigLayer(join(scratch, 'big.tar'), 1024);
    const image = `${registry.hostPort}/${PREFIX}/big:1`;
    // Into the registry's blob store the co-located way (no 1 GiB upload to wait for), made
    // visible in the repository by the registry itself (a mount, no body), as a push does.
    const place = async () => {
      const store = await FsBlobStore.open(registry.root);
      assert.ok(await store.linkFile(big.path, big.digest as Digest));
      const mount = await fetch(`${registry.url}/v2/${PREFIX}/big/blobs/uploads/?mount=${big.digest}`, { method: 'POST' });
      assert.equal(mount.status, 201);
    };
    await pushBigImage(registry.url, `${PREFIX}/big`, '1', big, [await busybox()], ['sh', '-c', 'wc -c < /big'], place);
    await rm(big.path);
    const before = await registryTraffic(registry.url);
    const pulled = ok(await wharf(['pull', image]), 'pull');
    const after = await registryTraffic(registry.url);
    assert.match(pulled.stdout, /Linked from the co-located registry/);
    assert.equal(after.blobGets - before.blobGets, 0, 'no blob was fetched over HTTP');
    assert.ok(after.sentBytes - before.sentBytes < 64 * 1024, `the registry sent ${after.sentBytes - before.sentBytes} bytes`);
    const hex = big.digest.slice(7);
    const inRegistry = await stat(join(registry.root, 'blobs', 'sha256', hex.slice(0, 2), hex));
    const inNode = await stat(join(daemon.root, 'content', 'blobs', 'sha256', hex));
    assert.equal(inNode.ino, inRegistry.ino, 'the node holds the registry file (a hard link), not a copy');
    const ran = ok(await wharf(['run', '--rm', image]), 'run');
    assert.equal(ran.stdout.trim(), String(1024 << 20));
  });

  test('access stays the registry\'s: a repository it does not have is "not found", a blob is never linked without its HEAD', async () => {
    const r = await wharf(['pull', `${registry.hostPort}/${PREFIX}/absent:1`]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /not found/);
  });
});

describe('co-located push', () => {
  test('a layer the registry lacks is linked into its blob store: no body over HTTP; skopeo and dockerd pull it', async () => {
    await requireCommand('skopeo', 'skopeo');
    await ensureDockerd();
    const base = `${registry.hostPort}/${PREFIX}/bb:1`;
    await pushImage(registry.url, `${PREFIX}/bb`, '1', buildImage([await busybox()], { Cmd: ['sh'] }, 'docker'));
    const name = `${PREFIX}-writer`;
    ok(await wharf(['run', '--name', name, base, 'sh', '-c', 'dd if=/dev/urandom of=/copy bs=1M count=32']), 'run');
    const target = `${registry.hostPort}/${PREFIX}/committed:1`;
    ok(await wharf(['commit', name, target]), 'commit');
    ok(await wharf(['rm', name]), 'rm');
    const before = await registryTraffic(registry.url);
    const pushed = ok(await wharf(['push', target]), 'push');
    const after = await registryTraffic(registry.url);
    assert.match(pushed.stdout, /: Linked into the co-located registry$/m);
    assert.match(pushed.stdout, new RegExp(`: Mounted from ${PREFIX}/bb$`, 'm'), 'the base layer comes from the repository it was pulled from');
    assert.ok(after.receivedBytes - before.receivedBytes < 64 * 1024, `the registry received ${after.receivedBytes - before.receivedBytes} bytes`);
    const inspected = JSON.parse(ok(await runCommand('skopeo', ['inspect', '--tls-verify=false', `docker://${target}`]), 'skopeo inspect').stdout) as { Layers: string[] };
    assert.equal(inspected.Layers.length, 2);
    dockerdImages.push(target);
    ok(await runCommand('docker', ['pull', target], { timeoutMs: 180_000 }), 'docker pull');
    const ran = ok(await runCommand('docker', ['run', '--rm', target, 'sh', '-c', 'wc -c < /copy']), 'docker run');
    // the linked blob is the node's file, and it is what the registry serves
    const layer = inspected.Layers[1]!.slice(7);
    const inRegistry = await stat(join(registry.root, 'blobs', 'sha256', layer.slice(0, 2), layer));
    assert.equal((await stat(join(daemon.root, 'content', 'blobs', 'sha256', layer))).ino, inRegistry.ino);
    assert.equal(ran.stdout.trim(), String(32 << 20));
  });
});
