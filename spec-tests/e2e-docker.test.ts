/**
 * End to end with the real Docker engine: an image built in the test from a static
 * binary is pushed to Wharf, removed locally, pulled back and run; curl lists it in the
 * catalog. Wharf runs on an ephemeral port; dockerd treats 127.0.0.1 as insecure.
 */
import assert from 'node:assert/strict';
import { mkdtemp, writeFile, copyFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { compileStatic } from './support/images.js';
import { ensureDockerd, requireCommand, run } from './support/peers.js';
import { startTestWharf, type TestWharf } from './support/wharf.js';

const HELLO_C = `
#include <stdio.h>
#include <string.h>
int main(int argc, char **argv) {
  if (argc > 1 && strcmp(argv[1], "fail") == 0) return 3;
  printf("hello from wharf");
  for (int i = 1; i < argc; i++) printf(" %s", argv[i]);
  printf("\\n");
  return 0;
}
`;

let wharf: TestWharf;
let image: string;
let buildDir: string;

before(async () => {
  await ensureDockerd();
  await requireCommand('curl', 'curl');
  wharf = await startTestWharf();
  image = `${wharf.hostPort}/e2e/hello:v1`;
  buildDir = await mkdtemp(join(tmpdir(), 'wharf-docker-build-'));
  await copyFile(await compileStatic(HELLO_C, 'hello'), join(buildDir, 'hello'));
  await writeFile(join(buildDir, 'Dockerfile'), 'FROM scratch\nCOPY hello /hello\nENTRYPOINT ["/hello"]\n');
});

after(async () => {
  await run('docker', ['rmi', '-f', image]).catch(() => undefined);
  await wharf?.destroy();
  if (buildDir) await rm(buildDir, { recursive: true, force: true });
});

test('docker push, rmi, pull and run an image through Wharf', async () => {
  await run('docker', ['build', '-q', '-t', image, buildDir], { env: { DOCKER_BUILDKIT: '0' } });

  const pushed = await run('docker', ['push', image]);
  const digest = /digest: (sha256:[a-f0-9]{64})/.exec(pushed)?.[1];
  assert.ok(digest, `docker push printed no digest:\n${pushed}`);

  // The registry holds exactly what docker says it pushed.
  const head = await fetch(`${wharf.url}/v2/e2e/hello/manifests/v1`, {
    method: 'HEAD',
    headers: { accept: 'application/vnd.docker.distribution.manifest.v2+json' },
  });
  assert.equal(head.status, 200);
  assert.equal(head.headers.get('docker-content-digest'), digest);

  await run('docker', ['rmi', image]);
  await assert.rejects(run('docker', ['image', 'inspect', image]), 'the image should be gone locally after rmi');

  const pulled = await run('docker', ['pull', image]);
  assert.match(pulled, new RegExp(`Digest: ${digest}`));
  const repoDigests = await run('docker', ['image', 'inspect', '--format', '{{json .RepoDigests}}', image]);
  assert.ok(repoDigests.includes(`${wharf.hostPort}/e2e/hello@${digest}`), repoDigests);

  const out = await run('docker', ['run', '--rm', '--network', 'none', image, 'a', 'b']);
  assert.equal(out, 'hello from wharf a b\n');
  await assert.rejects(run('docker', ['run', '--rm', '--network', 'none', image, 'fail']), /exit status 3|code 3|Command failed/);

  const catalog = JSON.parse(await run('curl', ['-sf', `${wharf.url}/v2/_catalog`])) as { repositories: string[] };
  assert.deepEqual(catalog.repositories, ['e2e/hello']);
  const tags = JSON.parse(await run('curl', ['-sf', `${wharf.url}/v2/e2e/hello/tags/list`])) as { tags: string[] };
  assert.deepEqual(tags.tags, ['v1']);
});

test('docker pull by digest, and a second tag pushed without re-sending layers', async () => {
  const digest = (await run('docker', ['image', 'inspect', '--format', '{{index .RepoDigests 0}}', image])).trim().split('@')[1]!;
  const byDigest = `${wharf.hostPort}/e2e/hello@${digest}`;
  await run('docker', ['pull', byDigest]);

  const other = `${wharf.hostPort}/e2e/other:v2`;
  await run('docker', ['tag', image, other]);
  const pushed = await run('docker', ['push', other]);
  // The layer is already in the registry: docker mounts it from e2e/hello instead of uploading.
  assert.match(pushed, /Mounted from e2e\/hello|Layer already exists/);
  await run('docker', ['rmi', other]);
  const catalog = (await (await fetch(`${wharf.url}/v2/_catalog`)).json()) as { repositories: string[] };
  assert.deepEqual(catalog.repositories, ['e2e/hello', 'e2e/other']);
});
