/**
 * Acknowledged data survives a crash: a `wharf serve` process is killed with SIGKILL
 * (no shutdown, no flush) right after it acknowledged a push and a chunk of an upload,
 * and a new process over the same data directory serves all of it; the upload continues
 * where the acknowledged bytes end.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';
import { buildImage, buildLayer, pushImage, sha256, type BuiltImage } from './support/images.js';
import { freePort } from './support/registry.js';

const WHARF = join(dirname(fileURLToPath(import.meta.url)), '..', 'bin', 'wharf.js');

let root: string;
let port: number;
let proc: ChildProcess | undefined;
const url = () => `http://127.0.0.1:${port}`;

async function serve(): Promise<void> {
  proc = spawn(process.execPath, [WHARF, 'serve', '--addr', `127.0.0.1:${port}`, '--root', root], {
    stdio: 'ignore',
    env: { ...process.env, WHARF_LOG_LEVEL: 'silent' },
  });
  for (let i = 0; i < 200; i++) {
    try {
      if ((await fetch(`${url()}/healthz`)).status === 200) return;
    } catch {
      /* not up yet */
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('wharf serve did not come up');
}

async function crash(): Promise<void> {
  const p = proc!;
  const exited = new Promise((r) => p.once('exit', r));
  p.kill('SIGKILL');
  await exited;
  proc = undefined;
}

let image: BuiltImage;

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'wharf-crash-'));
  port = await freePort();
  image = buildImage([await buildLayer([{ type: 'file', path: 'data', content: 'x'.repeat(100_000) }])]);
  await serve();
});

after(async () => {
  if (proc) await crash();
  await rm(root, { recursive: true, force: true });
});

test('a push and an upload chunk acknowledged before SIGKILL are there after the restart', async () => {
  await pushImage(url(), 'crash/app', 'v1', image);
  const post = await fetch(`${url()}/v2/crash/app/blobs/uploads/`, { method: 'POST' });
  assert.equal(post.status, 202);
  const location = new URL(post.headers.get('location')!, url());
  const head = Buffer.from('first half, ');
  const patch = await fetch(location, {
    method: 'PATCH',
    headers: { 'content-type': 'application/octet-stream', 'content-range': `0-${head.length - 1}` },
    body: head,
  });
  assert.equal(patch.status, 202);

  await crash();
  await serve();

  const manifest = await fetch(`${url()}/v2/crash/app/manifests/v1`, { headers: { accept: image.mediaType } });
  assert.equal(manifest.status, 200);
  assert.ok(Buffer.from(await manifest.arrayBuffer()).equals(image.manifest));
  for (const blob of [image.layers[0]!.blob, image.config]) {
    const res = await fetch(`${url()}/v2/crash/app/blobs/${sha256(blob)}`);
    assert.equal(res.status, 200);
    assert.ok(Buffer.from(await res.arrayBuffer()).equals(blob));
  }
  assert.deepEqual(((await (await fetch(`${url()}/v2/crash/app/tags/list`)).json()) as { tags: string[] }).tags, ['v1']);

  // The upload resumes from what was acknowledged (its hash state rebuilt from the file).
  const status = await fetch(location);
  assert.equal(status.status, 204);
  assert.equal(status.headers.get('range'), `0-${head.length - 1}`);
  const tail = Buffer.from('second half');
  const digest = `sha256:${createHash('sha256').update(Buffer.concat([head, tail])).digest('hex')}`;
  const put = new URL(location);
  put.searchParams.set('digest', digest);
  const done = await fetch(put, {
    method: 'PUT',
    headers: { 'content-type': 'application/octet-stream', 'content-range': `${head.length}-${head.length + tail.length - 1}` },
    body: tail,
  });
  assert.equal(done.status, 201);
  const blob = await fetch(`${url()}/v2/crash/app/blobs/${digest}`);
  assert.equal(Buffer.from(await blob.arrayBuffer()).toString(), 'first half, second half');
  assert.deepEqual(await readdir(join(root, 'uploads')), [], 'no upload leftovers');
});
