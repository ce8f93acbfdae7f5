/**
 * What real clients do that a registry must answer as registry:2 and zot would, each
 * with the client that showed it (issue 15):
 *   - podman and skopeo send `Authorization: Basic Og==` (no user, no password) when they
 *     have no credentials: in htpasswd mode the anonymous rules apply to them;
 *   - curl asking for a multi-platform tag with only single-image types in Accept gets
 *     the default platform's image, with that image's digest;
 *   - If-None-Match with our ETag is a 304, on manifests and blobs;
 *   - Range: one range is 206, several are the whole blob, none satisfiable is 416 with
 *     `Content-Range: bytes * /size` (RFC 9110);
 *   - a GET or HEAD of a manifest by a reference that is not a valid tag is 404
 *     MANIFEST_UNKNOWN, while a PUT under it stays 400 TAG_INVALID;
 *   - an ambiguous manifest (both an index and an image, CVE-2021-41190), or one whose
 *     mediaType contradicts its Content-Type, is 400 MANIFEST_INVALID.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { buildImage, buildIndex, buildLayer, MEDIA, pushBlob, pushImage, pushIndex, sha256, type BuiltImage, type BuiltIndex } from './support/images.js';
import { writeOciLayout } from './support/oci-layout.js';
import { requireCommand, run } from './support/peers.js';
import { startTestWharf, type TestWharf } from './support/wharf.js';

let work: string;

interface CurlResponse {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

/** One request with the real curl: status, headers (lower-cased, last wins) and body. */
async function curl(url: string, args: string[] = []): Promise<CurlResponse> {
  const bodyFile = join(work, `body-${Math.random().toString(36).slice(2)}`);
  const head = await run('curl', ['-s', '-D', '-', '-o', bodyFile, ...args, url]);
  const body = await readFile(bodyFile).catch(() => Buffer.alloc(0));
  await rm(bodyFile, { force: true });
  const blocks = head.split(/\r\n\r\n/).filter((b) => b.startsWith('HTTP/'));
  const last = blocks[blocks.length - 1]!.split('\r\n');
  const headers: Record<string, string> = {};
  for (const line of last.slice(1)) {
    const colon = line.indexOf(':');
    if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  return { status: Number(last[0]!.split(' ')[1]), headers, body };
}

function errorCode(res: CurlResponse): string | undefined {
  return (JSON.parse(res.body.toString('utf8')) as { errors: { code: string }[] }).errors[0]?.code;
}

async function platformImage(architecture: string, variant?: string, format: 'oci' | 'docker' = 'oci'): Promise<BuiltImage> {
  const layer = await buildLayer([{ type: 'file', path: 'etc/arch', content: `${architecture}${variant ?? ''}\n` }], format === 'docker' ? { format } : {});
  return buildImage([layer], { architecture, ...(variant ? { variant } : {}) }, format);
}

before(async () => {
  await requireCommand('curl', 'curl');
  work = await mkdtemp(join(tmpdir(), 'wharf-quirks-'));
});

after(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

describe('curl against an open Wharf', () => {
  let wharf: TestWharf;
  let arm: TestWharf;
  let ociIndex: BuiltIndex;
  let dockerList: BuiltIndex;
  let single: BuiltImage;
  let blob: Buffer;

  before(async () => {
    wharf = await startTestWharf();
    arm = await startTestWharf({ env: { WHARF_COMPATIBILITY_DEFAULT_PLATFORM: 'linux/arm64/v8' } });
    ociIndex = buildIndex([await platformImage('arm64', 'v8'), await platformImage('amd64'), await platformImage('s390x')], 'oci');
    dockerList = buildIndex([await platformImage('arm64', 'v8', 'docker'), await platformImage('amd64', undefined, 'docker')], 'docker');
    single = await platformImage('riscv64');
    for (const w of [wharf, arm]) {
      await pushIndex(w.url, 'quirks/multi', 'oci', ociIndex);
      await pushIndex(w.url, 'quirks/multi', 'docker', dockerList);
    }
    await pushImage(wharf.url, 'quirks/single', '1', single);
    blob = Buffer.from('0123456789abcdefghij');
    await pushBlob(wharf.url, 'quirks/single', blob);
  });

  after(async () => {
    await wharf?.destroy();
    await arm?.destroy();
  });

  test('Accept with only single-image types: a multi-platform tag answers the linux/amd64 image with its own digest', async () => {
    const amd64Docker = dockerList.images.find((i) => i.platform.architecture === 'amd64')!;
    const docker = await curl(`${wharf.url}/v2/quirks/multi/manifests/docker`, ['-H', `Accept: ${MEDIA.dockerManifest}`]);
    assert.equal(docker.status, 200);
    assert.equal(docker.headers['content-type'], MEDIA.dockerManifest);
    assert.equal(docker.headers['docker-content-digest'], amd64Docker.manifestDigest);
    assert.equal(docker.headers.etag, `"${amd64Docker.manifestDigest}"`);
    assert.ok(docker.body.equals(amd64Docker.manifest), 'the body is the amd64 image manifest, byte for byte');

    const amd64Oci = ociIndex.images.find((i) => i.platform.architecture === 'amd64')!;
    const oci = await curl(`${wharf.url}/v2/quirks/multi/manifests/oci`, ['-H', `Accept: ${MEDIA.ociManifest}`]);
    assert.equal(oci.status, 200);
    assert.equal(oci.headers['docker-content-digest'], amd64Oci.manifestDigest);
    assert.equal(sha256(oci.body), amd64Oci.manifestDigest);
    const head = await curl(`${wharf.url}/v2/quirks/multi/manifests/oci`, ['-I', '-H', `Accept: ${MEDIA.ociManifest}`]);
    assert.equal(head.status, 200);
    assert.equal(head.headers['docker-content-digest'], amd64Oci.manifestDigest);
    assert.equal(Number(head.headers['content-length']), amd64Oci.manifest.length);

    // Accepting indexes (or anything) still gets the index itself.
    const index = await curl(`${wharf.url}/v2/quirks/multi/manifests/oci`, ['-H', `Accept: ${MEDIA.ociManifest}, ${MEDIA.ociIndex}`]);
    assert.equal(index.headers['docker-content-digest'], ociIndex.digest);
    const any = await curl(`${wharf.url}/v2/quirks/multi/manifests/oci`);
    assert.equal(any.headers['docker-content-digest'], ociIndex.digest);
  });

  test('the default platform is configurable (compatibility.defaultPlatform), variant included', async () => {
    const arm64 = ociIndex.images.find((i) => i.platform.architecture === 'arm64')!;
    const res = await curl(`${arm.url}/v2/quirks/multi/manifests/oci`, ['-H', `Accept: ${MEDIA.ociManifest}`]);
    assert.equal(res.status, 200);
    assert.equal(res.headers['docker-content-digest'], arm64.manifestDigest);
  });

  test('a multi-platform tag whose default-platform image is of a type the client does not list stays 404 MANIFEST_UNKNOWN', async () => {
    const res = await curl(`${wharf.url}/v2/quirks/multi/manifests/docker`, ['-H', `Accept: ${MEDIA.ociManifest}`]);
    assert.equal(res.status, 404);
    assert.equal(errorCode(res), 'MANIFEST_UNKNOWN');
  });

  test('If-None-Match with the ETag: 304 without a body on manifests (by tag and digest) and blobs; another ETag: 200', async () => {
    const manifest = await curl(`${wharf.url}/v2/quirks/single/manifests/1`, ['-H', `Accept: ${single.mediaType}`]);
    const etag = manifest.headers.etag!;
    assert.equal(etag, `"${single.manifestDigest}"`);
    for (const ref of ['1', single.manifestDigest]) {
      for (const method of [[], ['-I']]) {
        const res = await curl(`${wharf.url}/v2/quirks/single/manifests/${ref}`, [...method, '-H', `Accept: ${single.mediaType}`, '-H', `If-None-Match: ${etag}`]);
        assert.equal(res.status, 304, `${method.join('') || 'GET'} ${ref}`);
        // (with -I, curl writes the headers where the body would go)
        if (method.length === 0) assert.equal(res.body.length, 0);
        assert.equal(res.headers.etag, etag);
        assert.equal(res.headers['docker-content-digest'], single.manifestDigest);
      }
    }
    const listed = await curl(`${wharf.url}/v2/quirks/single/manifests/1`, ['-H', `If-None-Match: "sha256:${'0'.repeat(64)}", ${etag}`]);
    assert.equal(listed.status, 304);
    const other = await curl(`${wharf.url}/v2/quirks/single/manifests/1`, ['-H', `If-None-Match: "sha256:${'0'.repeat(64)}"`]);
    assert.equal(other.status, 200);
    assert.ok(other.body.equals(single.manifest));

    const blobEtag = `"${sha256(blob)}"`;
    const b = await curl(`${wharf.url}/v2/quirks/single/blobs/${sha256(blob)}`, ['-H', `If-None-Match: ${blobEtag}`]);
    assert.equal(b.status, 304);
    assert.equal(b.body.length, 0);
    assert.equal(b.headers.etag, blobEtag);
    const fresh = await curl(`${wharf.url}/v2/quirks/single/blobs/${sha256(blob)}`, ['-H', 'If-None-Match: "something-else"']);
    assert.equal(fresh.status, 200);
    assert.ok(fresh.body.equals(blob));
  });

  test('Range (RFC 9110): one range 206, several the whole blob, none satisfiable 416 with Content-Range bytes */size', async () => {
    const url = `${wharf.url}/v2/quirks/single/blobs/${sha256(blob)}`;
    const one = await curl(url, ['-r', '2-5']);
    assert.equal(one.status, 206);
    assert.equal(one.headers['content-range'], `bytes 2-5/${blob.length}`);
    assert.equal(one.body.toString(), '2345');
    const suffix = await curl(url, ['-H', 'Range: bytes=-3']);
    assert.equal(suffix.status, 206);
    assert.equal(suffix.body.toString(), 'hij');
    const clipped = await curl(url, ['-H', 'Range: bytes=15-1000']);
    assert.equal(clipped.status, 206);
    assert.equal(clipped.headers['content-range'], `bytes 15-19/${blob.length}`);

    const several = await curl(url, ['-H', 'Range: bytes=0-1,5-6']);
    assert.equal(several.status, 200);
    assert.ok(several.body.equals(blob));
    // Of several ranges, one satisfiable is served alone.
    const oneOfTwo = await curl(url, ['-H', 'Range: bytes=100-200,3-4']);
    assert.equal(oneOfTwo.status, 206);
    assert.equal(oneOfTwo.body.toString(), '34');

    for (const range of ['bytes=20-', 'bytes=100-200', 'bytes=100-200,300-', 'bytes=-0']) {
      const res = await curl(url, ['-H', `Range: ${range}`]);
      assert.equal(res.status, 416, range);
      assert.equal(res.headers['content-range'], `bytes */${blob.length}`, range);
      assert.equal(errorCode(res), 'RANGE_INVALID');
    }
    // A Range that does not parse is ignored: the whole blob.
    for (const range of ['bytes=5-2', 'items=0-1', 'bytes=a-b']) {
      const res = await curl(url, ['-H', `Range: ${range}`]);
      assert.equal(res.status, 200, range);
      assert.ok(res.body.equals(blob));
    }
  });

  test('a reference that is not a valid tag: GET and HEAD 404 MANIFEST_UNKNOWN, PUT 400 TAG_INVALID', async () => {
    for (const ref of ['-leading-dash', '.dot', 'a'.repeat(129), 'semi;colon', 'sha256:short']) {
      const get = await curl(`${wharf.url}/v2/quirks/single/manifests/${ref}`);
      assert.equal(get.status, 404, ref);
      assert.equal(errorCode(get), 'MANIFEST_UNKNOWN', ref);
      const head = await curl(`${wharf.url}/v2/quirks/single/manifests/${ref}`, ['-I']);
      assert.equal(head.status, 404, ref);
    }
    const put = await curl(`${wharf.url}/v2/quirks/single/manifests/-leading-dash`, [
      '-X', 'PUT', '-H', `Content-Type: ${single.mediaType}`, '--data-binary', single.manifest.toString('utf8'),
    ]);
    assert.equal(put.status, 400);
    assert.equal(errorCode(put), 'TAG_INVALID');
  });

  test('ambiguous manifests (CVE-2021-41190) and a mediaType contradicting the Content-Type are 400 MANIFEST_INVALID', async () => {
    const image = JSON.parse(single.manifest.toString('utf8')) as Record<string, unknown>;
    const { mediaType: _m, ...untypedImage } = image;
    const child = { mediaType: single.mediaType, digest: single.manifestDigest, size: single.manifest.length, platform: single.platform };
    const variants: [string, Record<string, unknown>][] = [
      [MEDIA.ociManifest, { ...untypedImage, manifests: [child] }],
      [MEDIA.ociIndex, { ...untypedImage, manifests: [child] }],
      [MEDIA.ociIndex, { schemaVersion: 2, manifests: [child], layers: image.layers }],
      [MEDIA.ociIndex, { schemaVersion: 2, manifests: [child], config: image.config }],
      [MEDIA.ociManifest, { schemaVersion: 2, mediaType: MEDIA.ociIndex, manifests: [child] }],
      [MEDIA.ociIndex, { ...image, mediaType: MEDIA.ociManifest }],
      [MEDIA.dockerManifest, { ...image }],
      [MEDIA.dockerList, { ...untypedImage, manifests: [child] }],
    ];
    for (const [contentType, doc] of variants) {
      const file = join(work, 'manifest.json');
      await writeFile(file, JSON.stringify(doc));
      const res = await curl(`${wharf.url}/v2/quirks/single/manifests/ambiguous`, ['-X', 'PUT', '-H', `Content-Type: ${contentType}`, '--data-binary', `@${file}`]);
      assert.equal(res.status, 400, `${contentType}: ${JSON.stringify(doc).slice(0, 120)}`);
      assert.equal(errorCode(res), 'MANIFEST_INVALID');
    }
    const tag = await curl(`${wharf.url}/v2/quirks/single/manifests/ambiguous`);
    assert.equal(tag.status, 404, 'nothing was stored under the tag');
  });
});

describe('podman and skopeo without credentials in htpasswd mode with anonymous rules', () => {
  let wharf: TestWharf;
  let image: BuiltImage;
  const alice = { user: 'alice', password: 'alice-Pw-1' };

  before(async () => {
    await requireCommand('skopeo', 'skopeo');
    await requireCommand('podman', 'podman');
    await requireCommand('htpasswd', 'apache2-utils');
    const htpasswd = join(work, 'htpasswd');
    await run('htpasswd', ['-B', '-b', '-c', htpasswd, alice.user, alice.password]);
    wharf = await startTestWharf({
      env: { WHARF_AUTH_HTPASSWD_PATH: htpasswd },
      configure: (c) => {
        c.auth.access = [
          { subjects: ['alice'], repositories: ['**'], actions: ['*'] },
          { subjects: ['anonymous'], repositories: ['public/**'], actions: ['pull'] },
        ];
      },
    });
    image = await platformImage('amd64');
    await run('skopeo', ['copy', '--dest-tls-verify=false', '--dest-creds', `${alice.user}:${alice.password}`, `oci:${await ociLayoutOf(image)}:img`, `docker://${wharf.hostPort}/public/app:1`]);
    await run('skopeo', ['copy', '--dest-tls-verify=false', '--dest-creds', `${alice.user}:${alice.password}`, `oci:${await ociLayoutOf(image)}:img`, `docker://${wharf.hostPort}/private/app:1`]);
  });

  after(async () => {
    await wharf?.destroy();
  });

  /** An empty auth file: the client has no credentials for the registry. */
  async function noCredentials(): Promise<Record<string, string>> {
    const authfile = join(work, 'auth.json');
    await writeFile(authfile, '{}');
    return { REGISTRY_AUTH_FILE: authfile, DOCKER_CONFIG: join(work, 'no-docker-config') };
  }

  test('`Authorization: Basic Og==` is no credentials: curl with it pulls where anonymous may, and is challenged elsewhere', async () => {
    const ok = await curl(`${wharf.url}/v2/public/app/manifests/1`, ['-H', 'Authorization: Basic Og==', '-H', `Accept: ${image.mediaType}`]);
    assert.equal(ok.status, 200);
    assert.equal(ok.headers['docker-content-digest'], image.manifestDigest);
    const denied = await curl(`${wharf.url}/v2/private/app/manifests/1`, ['-H', 'Authorization: Basic Og==']);
    assert.equal(denied.status, 401);
    assert.match(denied.headers['www-authenticate'] ?? '', /^Basic realm=/);
  });

  test('skopeo inspects and copies an anonymously pullable image with no credentials', async () => {
    const env = await noCredentials();
    const raw = await run('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${wharf.hostPort}/public/app:1`], { env });
    assert.equal(sha256(Buffer.from(raw)), image.manifestDigest);
    await run('skopeo', ['copy', '--src-tls-verify=false', `docker://${wharf.hostPort}/public/app:1`, `oci:${join(work, 'copied')}:app`], { env });
    await assert.rejects(run('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${wharf.hostPort}/private/app:1`], { env }), /unauthorized|authentication required|401/i);
  });

  test('podman pulls an anonymously pullable image with no credentials', async () => {
    const env = await noCredentials();
    const storage = join(work, 'podman');
    const podman = ['--root', join(storage, 'root'), '--runroot', join(storage, 'run'), '--storage-driver', 'vfs'];
    try {
      await run('podman', [...podman, 'pull', '--tls-verify=false', `${wharf.hostPort}/public/app:1`], { env });
      const id = (await run('podman', [...podman, 'images', '--quiet', '--no-trunc', `${wharf.hostPort}/public/app:1`], { env })).trim();
      // podman names an image by its config's digest.
      assert.equal(id, image.configDigest);
      await assert.rejects(run('podman', [...podman, 'pull', '--tls-verify=false', `${wharf.hostPort}/private/app:1`], { env }), /unauthorized|authentication required|401/i);
    } finally {
      await run('podman', [...podman, 'system', 'reset', '--force'], { env }).catch(() => undefined);
      await rm(storage, { recursive: true, force: true });
    }
  });
});

/** An OCI layout holding `image` (in a one-image index) under the name "img", for skopeo to push from. */
async function ociLayoutOf(image: BuiltImage): Promise<string> {
  const dir = join(work, `layout-${image.manifestDigest.slice(7, 19)}`);
  await writeOciLayout(dir, buildIndex([image]), 'img');
  return dir;
}
