/**
 * Image archives with the real Docker engine: `docker save` of a 3-layer image (FROM
 * scratch, a gcc -static binary) -> `wharf import` -> `docker pull` from Wharf runs it;
 * the same archive gzip'd, as an OCI layout tar (skopeo) and through the UI's upload form;
 * `wharf export` -> `docker load`.
 */
import assert from 'node:assert/strict';
import { copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { compileStatic } from './support/images.js';
import { ensureDockerd, execFileP, requireCommand, run } from './support/peers.js';
import { startTestWharf, type TestWharf } from './support/wharf.js';

const WHARF = join(import.meta.dirname, '..', 'bin', 'wharf.js');
const HELLO_C = `
#include <stdio.h>
int main(void) {
  FILE *f = fopen("/data/a.txt", "r");
  char buf[64] = {0};
  if (f) { fgets(buf, sizeof buf, f); fclose(f); }
  printf("imported hello %s", buf);
  return 0;
}
`;

let wharf: TestWharf;
let dir: string;
let archive: string;
const local = 'wharf-import-test/hello:3layers';
const pulled: string[] = [];

async function wharfCli(args: string[]): Promise<{ stdout: string; stderr: string }> {
  return execFileP(process.execPath, [WHARF, ...args], { timeout: 120_000 });
}

before(async () => {
  await ensureDockerd();
  await requireCommand('skopeo', 'skopeo');
  await requireCommand('gzip', 'gzip');
  wharf = await startTestWharf();
  dir = await mkdtemp(join(tmpdir(), 'wharf-import-'));
  const build = join(dir, 'build');
  await run('mkdir', ['-p', build]);
  await copyFile(await compileStatic(HELLO_C, 'hello'), join(build, 'hello'));
  await writeFile(join(build, 'a.txt'), 'from layer two\n');
  await writeFile(join(build, 'b.txt'), 'layer three\n');
  await writeFile(
    join(build, 'Dockerfile'),
    'FROM scratch\nCOPY hello /hello\nCOPY a.txt /data/a.txt\nCOPY b.txt /data/b.txt\nLABEL org.opencontainers.image.description="imported in a test"\nENTRYPOINT ["/hello"]\n',
  );
  await run('docker', ['build', '-q', '-t', local, build], { env: { DOCKER_BUILDKIT: '0' } });
  archive = join(dir, 'hello.tar');
  await run('docker', ['save', '-o', archive, local]);
});

after(async () => {
  for (const image of [local, ...pulled]) await run('docker', ['rmi', '-f', image]).catch(() => undefined);
  await wharf?.destroy();
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function pullAndRun(reference: string): Promise<string> {
  pulled.push(reference);
  await run('docker', ['rmi', '-f', reference]).catch(() => undefined);
  await run('docker', ['pull', reference]);
  return run('docker', ['run', '--rm', '--network', 'none', reference]);
}

test('docker save of a 3-layer image -> wharf import -> docker pull from Wharf runs it', async () => {
  const layers = JSON.parse(await run('docker', ['image', 'inspect', '--format', '{{json .RootFS.Layers}}', local])) as string[];
  assert.equal(layers.length, 3, 'the test image has three layers');

  const { stdout, stderr } = await wharfCli(['import', archive, 'imported/hello:v1', '--registry', wharf.url]);
  assert.match(stdout, /imported imported\/hello:v1 \(sha256:[a-f0-9]{64}, linux\/amd64\)/);
  assert.match(stderr, /verified: 1 image\(s\), 4 blobs/);

  const manifest = (await (await fetch(`${wharf.url}/v2/imported/hello/manifests/v1`, { headers: { accept: 'application/vnd.docker.distribution.manifest.v2+json' } })).json()) as {
    layers: unknown[];
  };
  assert.equal(manifest.layers.length, 3);
  assert.equal(await pullAndRun(`${wharf.hostPort}/imported/hello:v1`), 'imported hello from layer two\n');
});

test('the same archive gzip-compressed, without a tag: the archive\'s own tag is kept', async () => {
  const gz = join(dir, 'hello.tar.gz');
  await run('sh', ['-c', `gzip -c ${archive} > ${gz}`]);
  const { stdout } = await wharfCli(['import', gz, 'imported/gz', '--registry', wharf.url]);
  assert.match(stdout, /imported imported\/gz:3layers /);
  const tags = (await (await fetch(`${wharf.url}/v2/imported/gz/tags/list`)).json()) as { tags: string[] };
  assert.deepEqual(tags.tags, ['3layers']);
  assert.equal(await pullAndRun(`${wharf.hostPort}/imported/gz:3layers`), 'imported hello from layer two\n');
});

test('an OCI layout tar (skopeo oci-archive) imports and runs', async () => {
  const oci = join(dir, 'hello-oci.tar');
  await run('skopeo', ['copy', '--quiet', `docker-archive:${archive}`, `oci-archive:${oci}:v2`]);
  const { stdout } = await wharfCli(['import', oci, 'imported/oci', '--registry', wharf.url]);
  assert.match(stdout, /imported imported\/oci:v2 \(sha256:/);
  assert.equal(await pullAndRun(`${wharf.hostPort}/imported/oci:v2`), 'imported hello from layer two\n');
});

test('wharf export writes a docker-archive that docker load reads and runs', async () => {
  const out = join(dir, 'exported.tar');
  const { stdout } = await wharfCli(['export', 'imported/hello:v1', '-o', out, '--registry', wharf.url]);
  assert.match(stdout, /exported imported\/hello:v1/);
  const name = `${wharf.hostPort}/imported/hello:v1`;
  pulled.push(name);
  await run('docker', ['rmi', '-f', name]).catch(() => undefined);
  const loaded = await run('docker', ['load', '-i', out]);
  assert.match(loaded, new RegExp(`Loaded image: ${name.replace(/[.]/g, '\\.')}`));
  assert.equal(await run('docker', ['run', '--rm', '--network', 'none', name]), 'imported hello from layer two\n');
  // And it is an OCI layout too: wharf import reads its own export back.
  const again = await wharfCli(['import', out, 'imported/roundtrip:r1', '--registry', wharf.url]);
  assert.match(again.stdout, /imported imported\/roundtrip:r1/);
});

test('the same docker save archive through the upload form (POST /ui/import) -> docker pull runs it', async () => {
  const page = await fetch(`${wharf.url}/ui/import`);
  const cookie = (page.headers.get('set-cookie') ?? '').split(';')[0]!;
  const csrf = /name="csrf" value="([^"]+)"/.exec(await page.text())?.[1];
  assert.ok(csrf, 'the form carries a CSRF token');
  const form = new FormData();
  form.append('csrf', csrf);
  form.append('repository', 'imported/form');
  form.append('tag', 'f1');
  form.append('archive', new Blob([await readFile(archive)]), 'hello.tar');
  const res = await fetch(`${wharf.url}/ui/import`, { method: 'POST', headers: { cookie, origin: wharf.url }, body: form });
  const text = await res.text();
  assert.equal(res.status, 200, text);
  assert.match(text, /Imported into imported\/form/);
  assert.match(text, /imported\/form:f1/);
  assert.equal(await pullAndRun(`${wharf.hostPort}/imported/form:f1`), 'imported hello from layer two\n');
});

test('wharf import and export have --help', async () => {
  for (const verb of ['import', 'export']) {
    const { stdout } = await wharfCli([verb, '--help']);
    assert.match(stdout, new RegExp(`Usage: wharf ${verb}`));
    assert.match(stdout, /--registry <url>/);
  }
});
