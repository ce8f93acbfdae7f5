/**
 * The three ways into the cache with the real clients, the upstream a second Wharf behind
 * token auth (the cache holds the credentials; the clients have none):
 *   (a) docker pull <cache>/docker.io/<name> and (c) docker pull <name> through a dockerd
 *       of the test's own started with --registry-mirror=<cache>;
 *   (b) containerd's ctr with a hosts.toml naming the cache as a mirror of docker.io
 *       (containerd adds ?ns=docker.io), against a containerd of the test's own.
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startOwnContainerd, startOwnDockerd, type OwnDaemon } from './support/daemons.js';
import { buildImage, buildLayer, pushImage, type BuiltImage } from './support/images.js';
import { requireCommand, run } from './support/peers.js';
import { startCachingWharf } from './support/proxy.js';
import { startTestWharf, type TestWharf } from './support/wharf.js';

let work: string;
let upstream: TestWharf;
let cache: TestWharf;
const images: Record<string, BuiltImage> = {};
const PASSWORD = 'upstream-secret';

async function image(text: string): Promise<BuiltImage> {
  const layer = await buildLayer([{ type: 'file', path: 'etc/message', content: `${text}\n` }]);
  return buildImage([layer], { Cmd: ['/bin/true'] });
}

async function cachedRepositories(): Promise<string[]> {
  return ((await (await fetch(`${cache.url}/v2/_catalog`)).json()) as { repositories: string[] }).repositories;
}

before(async () => {
  await requireCommand('htpasswd', 'apache2-utils');
  work = await mkdtemp(join(tmpdir(), 'wharf-proxy-clients-'));
  const root = join(work, 'upstream');
  await mkdir(root);
  // Fill the upstream while it is open, then restart it behind token auth.
  const open = await startTestWharf({ root });
  for (const name of ['mirrored', 'prefixed', 'namespaced']) {
    images[name] = await image(`pulled through the cache: ${name}`);
    await pushImage(open.url, `library/${name}`, '1', images[name]!);
  }
  await open.close();
  const htpasswd = join(work, 'htpasswd');
  await run('htpasswd', ['-B', '-b', '-c', htpasswd, 'cache', PASSWORD]);
  upstream = await startTestWharf({ root, env: { WHARF_AUTH_HTPASSWD_PATH: htpasswd, WHARF_AUTH_TOKEN_ENABLED: 'true' } });
  cache = await startCachingWharf([{ name: 'docker.io', url: upstream.url, username: 'cache', password: PASSWORD }], { default: 'docker.io' });
});

after(async () => {
  await cache?.destroy();
  await upstream?.destroy();
  if (work) await rm(work, { recursive: true, force: true });
});

it('the upstream really refuses anonymous pulls (Bearer challenge on its own host)', async () => {
  const res = await fetch(`${upstream.url}/v2/library/mirrored/manifests/1`);
  assert.equal(res.status, 401);
  assert.match(res.headers.get('www-authenticate') ?? '', /^Bearer realm="http:\/\/127\.0\.0\.1:\d+\/auth\/token"/);
});

describe('dockerd', () => {
  let dockerd: OwnDaemon;
  const docker = (...args: string[]) => run('docker', ['--host', `unix://${dockerd.socket}`, ...args]);

  before(async () => {
    dockerd = await startOwnDockerd({ registryMirror: cache.url });
  });
  after(async () => {
    await dockerd?.stop();
  });

  it('(c) registry-mirrors: `docker pull mirrored:1` is served by the cache', async () => {
    await docker('pull', 'mirrored:1');
    assert.equal((await docker('image', 'inspect', '--format', '{{.Id}}', 'mirrored:1')).trim(), images.mirrored!.configDigest);
    assert.ok((await cachedRepositories()).includes('docker.io/library/mirrored'));
  });

  it('(a) a host-prefixed name: `docker pull <cache>/docker.io/prefixed:1`', async () => {
    const ref = `${cache.hostPort}/docker.io/prefixed:1`;
    await docker('pull', ref);
    assert.equal((await docker('image', 'inspect', '--format', '{{.Id}}', ref)).trim(), images.prefixed!.configDigest);
    assert.ok((await cachedRepositories()).includes('docker.io/library/prefixed'));
  });
});

describe('containerd (ctr with hosts.toml)', () => {
  let containerd: OwnDaemon;
  let hostsDir: string;

  before(async () => {
    containerd = await startOwnContainerd();
    hostsDir = join(work, 'certs.d');
    await mkdir(join(hostsDir, 'docker.io'), { recursive: true });
    // The cache is the only host: with a mirror that fails, ctr would try `server`.
    await writeFile(
      join(hostsDir, 'docker.io', 'hosts.toml'),
      ['server = "https://registry-1.docker.io"', '', `[host."${cache.url}"]`, '  capabilities = ["pull", "resolve"]', ''].join('\n'),
    );
  });
  after(async () => {
    await containerd?.stop();
  });

  it('(b) ?ns=docker.io: `ctr images pull --hosts-dir` of docker.io/library/namespaced:1', async () => {
    const ctr = (...args: string[]) => run('ctr', ['--address', containerd.socket, ...args]);
    await ctr('images', 'pull', '--hosts-dir', hostsDir, 'docker.io/library/namespaced:1');
    const listed = await ctr('images', 'ls');
    assert.match(listed, new RegExp(`docker\\.io/library/namespaced:1\\s+\\S+\\s+${images.namespaced!.manifestDigest}`));
    assert.ok((await cachedRepositories()).includes('docker.io/library/namespaced'));
  });
});
