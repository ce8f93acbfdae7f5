/**
 * Cross-repository mounts under access control: a mount reads its source, so it links a
 * blob only from a repository the caller may pull. A mount without `from` would link a
 * blob found by its digest alone, from any repository: with access rules in force it
 * falls back to an upload session (202), as the spec allows, and nothing is linked.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { startTestWharf, type TestWharf } from './support/wharf.js';

let dir: string;
let wharf: TestWharf;
const secret = Buffer.from('a layer only the owner may read');
const digest = `sha256:${createHash('sha256').update(secret).digest('hex')}`;
const basic = (user: string) => `Basic ${Buffer.from(`${user}:${user}-pw`).toString('base64')}`;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'wharf-auth-mount-'));
  const htpasswd = join(dir, 'htpasswd');
  const line = (u: string) => execFileSync('htpasswd', ['-n', '-b', '-B', '-C', '5', u, `${u}-pw`], { encoding: 'utf8' }).trim();
  await writeFile(htpasswd, `${line('owner')}\n${line('mallory')}\n`);
  wharf = await startTestWharf({
    configure: (c) => {
      c.auth.htpasswd.path = htpasswd;
      c.auth.access = [
        { subjects: ['owner'], repositories: ['private/**'], actions: ['*'] },
        { subjects: ['*'], repositories: ['scratch/**'], actions: ['pull', 'push'] },
      ];
    },
  });
  const post = await fetch(`${wharf.url}/v2/private/app/blobs/uploads/?digest=${digest}`, {
    method: 'POST',
    headers: { authorization: basic('owner'), 'content-type': 'application/octet-stream' },
    body: secret,
  });
  assert.equal(post.status, 201);
});

after(async () => {
  await wharf?.destroy();
  await rm(dir, { recursive: true, force: true });
});

async function mount(user: string, query: string): Promise<Response> {
  return fetch(`${wharf.url}/v2/scratch/${user}/blobs/uploads/?${query}`, { method: 'POST', headers: { authorization: basic(user) } });
}

test('a mount from a repository the caller may not pull falls back to an upload session', async () => {
  const res = await mount('mallory', `mount=${digest}&from=private/app`);
  assert.equal(res.status, 202);
  assert.match(res.headers.get('location') ?? '', /^\/v2\/scratch\/mallory\/blobs\/uploads\/[0-9a-f-]{36}$/);
  const head = await fetch(`${wharf.url}/v2/scratch/mallory/blobs/${digest}`, { method: 'HEAD', headers: { authorization: basic('mallory') } });
  assert.equal(head.status, 404, 'the secret blob was not linked');
});

test('a mount without from, under access rules, falls back to an upload session and links nothing', async () => {
  const res = await mount('mallory', `mount=${digest}`);
  assert.equal(res.status, 202);
  const head = await fetch(`${wharf.url}/v2/scratch/mallory/blobs/${digest}`, { method: 'HEAD', headers: { authorization: basic('mallory') } });
  assert.equal(head.status, 404);
});

test('the owner mounts from a repository it may pull (201, linked)', async () => {
  const res = await mount('owner', `mount=${digest}&from=private/app`);
  assert.equal(res.status, 201);
  assert.equal(res.headers.get('docker-content-digest'), digest);
  const head = await fetch(`${wharf.url}/v2/scratch/owner/blobs/${digest}`, { method: 'HEAD', headers: { authorization: basic('owner') } });
  assert.equal(head.status, 200);
});
