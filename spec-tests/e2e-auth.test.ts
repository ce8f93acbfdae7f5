/**
 * Access control end to end with the real Docker engine and skopeo, in both auth modes
 * (htpasswd Basic, and token auth through the built-in token server), over the same
 * access rules:
 *   alice  (group admins)  everything everywhere
 *   bob                    pull on team/**
 *   anonymous              pull on public/**
 * `docker login`, push, pull; a pull-only user's push is denied and leaves no tag;
 * anonymous pull works only where the rules allow it; skopeo copies with --dest-creds;
 * `_catalog` lists only what the caller may pull. Every login is undone in cleanup
 * (~/.docker/config.json is shared with other tests).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { copyFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { compileStatic } from './support/images.js';
import { ensureDockerd, requireCommand, run } from './support/peers.js';
import { startTestWharf, type TestWharf } from './support/wharf.js';

const HELLO_C = `
#include <stdio.h>
int main(void) { printf("hello from an access-controlled wharf\\n"); return 0; }
`;
const USERS = { alice: 'alice-Pw-1', bob: 'bob-Pw-2' } as const;
const RULES = {
  groups: { admins: ['alice'] },
  access: [
    { subjects: ['group:admins'], repositories: ['**'], actions: ['*'] },
    { subjects: ['bob'], repositories: ['team/**'], actions: ['pull'] },
    { subjects: ['anonymous'], repositories: ['public/**'], actions: ['pull'] },
  ],
};
const MANIFEST_ACCEPT = 'application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json';

let work: string;
let htpasswdPath: string;
let sourceImage: string;
let archive: string;

/** Run with `input` on stdin (docker login --password-stdin). */
function runWithInput(command: string, args: string[], input: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`${command} ${args.join(' ')} exited ${code}:\n${err}${out}`))));
    child.stdin.end(input);
  });
}

before(async () => {
  await ensureDockerd();
  await requireCommand('skopeo', 'skopeo');
  await requireCommand('curl', 'curl');
  await requireCommand('htpasswd', 'apache2-utils');
  work = await mkdtemp(join(tmpdir(), 'wharf-e2e-auth-'));
  htpasswdPath = join(work, 'htpasswd');
  await run('htpasswd', ['-B', '-b', '-c', htpasswdPath, 'alice', USERS.alice]);
  await run('htpasswd', ['-B', '-b', htpasswdPath, 'bob', USERS.bob]);

  const buildDir = join(work, 'build');
  await run('mkdir', ['-p', buildDir]);
  await copyFile(await compileStatic(HELLO_C, 'hello'), join(buildDir, 'hello'));
  await writeFile(join(buildDir, 'Dockerfile'), 'FROM scratch\nCOPY hello /hello\nENTRYPOINT ["/hello"]\n');
  sourceImage = `wharf-e2e-auth-src:${process.pid}`;
  await run('docker', ['build', '-q', '-t', sourceImage, buildDir], { env: { DOCKER_BUILDKIT: '0' } });
  archive = join(work, 'image.tar');
  await run('docker', ['save', '-o', archive, sourceImage]);
});

after(async () => {
  if (sourceImage) await run('docker', ['rmi', '-f', sourceImage]).catch(() => undefined);
  if (work) await rm(work, { recursive: true, force: true });
});

for (const mode of ['htpasswd', 'token'] as const) {
  describe(`${mode} mode`, () => {
    let wharf: TestWharf;
    const tagged: string[] = [];
    const ref = (repo: string, tag = 'v1') => {
      const r = `${wharf.hostPort}/${repo}:${tag}`;
      if (!tagged.includes(r)) tagged.push(r);
      return r;
    };
    const login = (user: keyof typeof USERS) => runWithInput('docker', ['login', '-u', user, '--password-stdin', wharf.hostPort], USERS[user]);
    const logout = () => run('docker', ['logout', wharf.hostPort]);
    const basic = (user: keyof typeof USERS) => `Basic ${Buffer.from(`${user}:${USERS[user]}`).toString('base64')}`;

    /** An Authorization header value for `user` (undefined: anonymous) to do `scopes`. */
    async function authorization(user: keyof typeof USERS | undefined, scopes: string[]): Promise<string | undefined> {
      if (mode === 'htpasswd') return user && basic(user);
      const query = new URLSearchParams([['service', 'wharf'], ...scopes.map((s): [string, string] => ['scope', s])]);
      const res = await fetch(`${wharf.url}/auth/token?${query}`, { headers: user ? { authorization: basic(user) } : {} });
      assert.equal(res.status, 200);
      return `Bearer ${((await res.json()) as { token: string }).token}`;
    }

    /** The digest under repo:tag as alice (who may pull everything) sees it, or undefined. */
    async function manifestDigest(repo: string, tag: string): Promise<string | undefined> {
      const auth = await authorization('alice', [`repository:${repo}:pull`]);
      const res = await fetch(`${wharf.url}/v2/${repo}/manifests/${tag}`, { method: 'HEAD', headers: { accept: MANIFEST_ACCEPT, authorization: auth! } });
      if (res.status === 404) return undefined;
      assert.equal(res.status, 200, `HEAD ${repo}:${tag}`);
      return res.headers.get('docker-content-digest') ?? undefined;
    }

    async function pushAs(user: keyof typeof USERS, repo: string, tag = 'v1'): Promise<string> {
      await login(user);
      await run('docker', ['tag', sourceImage, ref(repo, tag)]);
      const out = await run('docker', ['push', ref(repo, tag)]);
      const digest = /digest: (sha256:[a-f0-9]{64})/.exec(out)?.[1];
      assert.ok(digest, out);
      return digest;
    }

    before(async () => {
      const file = join(work, `${mode}.yml`);
      const auth = mode === 'htpasswd' ? { htpasswd: { path: htpasswdPath }, ...RULES } : { htpasswd: { path: htpasswdPath }, token: { enabled: true }, ...RULES };
      await writeFile(file, JSON.stringify({ auth }));
      wharf = await startTestWharf({ configFile: file });
    });

    after(async () => {
      await logout().catch(() => undefined);
      for (const r of tagged) await run('docker', ['rmi', '-f', r]).catch(() => undefined);
      await wharf?.destroy();
    });

    test('without credentials the registry challenges; docker login with a wrong password fails', async () => {
      const res = await fetch(`${wharf.url}/v2/team/app/tags/list`);
      assert.equal(res.status, 401);
      const challenge = res.headers.get('www-authenticate') ?? '';
      if (mode === 'htpasswd') assert.equal(challenge, 'Basic realm="wharf"');
      else assert.equal(challenge, `Bearer realm="${wharf.url}/auth/token",service="wharf",scope="repository:team/app:pull"`);
      await assert.rejects(runWithInput('docker', ['login', '-u', 'alice', '--password-stdin', wharf.hostPort], 'wrong'), /unauthorized|401|incorrect/i);
    });

    test('docker login, push, rmi, pull and run', async () => {
      const digest = await pushAs('alice', 'team/app');
      assert.equal(await manifestDigest('team/app', 'v1'), digest);
      await run('docker', ['rmi', ref('team/app')]);
      const pulled = await run('docker', ['pull', ref('team/app')]);
      assert.match(pulled, new RegExp(`Digest: ${digest}`));
      assert.equal(await run('docker', ['run', '--rm', '--network', 'none', ref('team/app')]), 'hello from an access-controlled wharf\n');
    });

    test('a user allowed only to pull can pull but his docker push is denied and leaves no tag', async () => {
      await pushAs('alice', 'team/app');
      await login('bob');
      await run('docker', ['rmi', '-f', ref('team/app')]);
      await run('docker', ['pull', ref('team/app')]);

      await run('docker', ['tag', sourceImage, ref('team/app', 'by-bob')]);
      await assert.rejects(run('docker', ['push', ref('team/app', 'by-bob')]), /denied|unauthorized|authentication required/i);
      assert.equal(await manifestDigest('team/app', 'by-bob'), undefined, 'the denied push must not create the tag');
      await run('docker', ['tag', sourceImage, ref('bob/own', 'v1')]);
      await assert.rejects(run('docker', ['push', ref('bob/own', 'v1')]), /denied|unauthorized|authentication required/i);
      assert.equal(await manifestDigest('bob/own', 'v1'), undefined);
    });

    test('skopeo copy --dest-creds into Wharf; wrong creds and a pull-only user are refused', async () => {
      const dest = `docker://${wharf.hostPort}/team/skopeo:v1`;
      await run('skopeo', ['copy', '--dest-tls-verify=false', '--dest-creds', `alice:${USERS.alice}`, `docker-archive:${archive}`, dest]);
      assert.ok(await manifestDigest('team/skopeo', 'v1'));
      const inspected = JSON.parse(await run('skopeo', ['inspect', '--tls-verify=false', '--creds', `bob:${USERS.bob}`, dest])) as { Name: string };
      assert.equal(inspected.Name, `${wharf.hostPort}/team/skopeo`);

      const other = `docker://${wharf.hostPort}/team/skopeo:v2`;
      await assert.rejects(run('skopeo', ['copy', '--dest-tls-verify=false', '--dest-creds', 'alice:wrong', `docker-archive:${archive}`, other]));
      await assert.rejects(run('skopeo', ['copy', '--dest-tls-verify=false', '--dest-creds', `bob:${USERS.bob}`, `docker-archive:${archive}`, other]));
      await assert.rejects(run('skopeo', ['copy', '--dest-tls-verify=false', `docker-archive:${archive}`, other]));
      assert.equal(await manifestDigest('team/skopeo', 'v2'), undefined);
    });

    test('anonymous pull works only where the rules allow it', async () => {
      const publicDigest = await pushAs('alice', 'public/x');
      await pushAs('alice', 'private/y');
      await logout();
      await run('docker', ['rmi', '-f', ref('public/x'), ref('private/y')]);

      // Any client without credentials (curl): public/** yes, the rest no.
      const anonymousManifest = async (repo: string) => {
        const auth = await authorization(undefined, [`repository:${repo}:pull`]);
        const args = ['-sS', '-o', '/dev/null', '-w', '%{http_code}', '-H', `Accept: ${MANIFEST_ACCEPT}`, ...(auth ? ['-H', `Authorization: ${auth}`] : [])];
        return run('curl', [...args, `${wharf.url}/v2/${repo}/manifests/v1`]);
      };
      assert.equal(await anonymousManifest('public/x'), '200');
      assert.equal(await anonymousManifest('private/y'), '401');

      if (mode === 'token') {
        // docker, logged out: the token server hands it an anonymous token for public/** only.
        const pulled = await run('docker', ['pull', ref('public/x')]);
        assert.match(pulled, new RegExp(`Digest: ${publicDigest}`));
      }
      // (htpasswd mode: GET /v2/ must challenge for docker login to work, and docker answers a Basic
      // challenge only with credentials, so a logged-out docker cannot pull there; use token mode.)
      await assert.rejects(run('docker', ['pull', ref('private/y')]), /denied|unauthorized|authentication required|credentials/i);
      await assert.rejects(run('docker', ['image', 'inspect', ref('private/y')]));
      // Anonymous may not push even where it may pull.
      await run('docker', ['tag', sourceImage, ref('public/x', 'anon')]);
      await assert.rejects(run('docker', ['push', ref('public/x', 'anon')]), /denied|unauthorized|authentication required|credentials/i);
      assert.equal(await manifestDigest('public/x', 'anon'), undefined);

      // A logged-in user keeps what anonymous may do: bob has no rule of his own for public/**.
      await login('bob');
      await run('docker', ['rmi', '-f', ref('public/x')]);
      assert.match(await run('docker', ['pull', ref('public/x')]), new RegExp(`Digest: ${publicDigest}`));
      await assert.rejects(run('docker', ['pull', ref('private/y')]), /denied|unauthorized|authentication required/i);
    });

    test('_catalog lists only the repositories the caller may pull', async () => {
      for (const repo of ['team/app', 'public/x', 'private/y']) {
        if (!(await manifestDigest(repo, 'v1'))) await pushAs('alice', repo);
      }
      const catalog = async (user: keyof typeof USERS | undefined) => {
        const auth = await authorization(user, ['registry:catalog:*']);
        const out = await run('curl', ['-sS', '-f', ...(auth ? ['-H', `Authorization: ${auth}`] : []), `${wharf.url}/v2/_catalog`]);
        return (JSON.parse(out) as { repositories: string[] }).repositories;
      };
      const all = await catalog('alice');
      for (const repo of ['team/app', 'public/x', 'private/y', 'team/skopeo']) assert.ok(all.includes(repo), `${repo} in ${all}`);
      const bobs = await catalog('bob');
      assert.ok(bobs.includes('team/app') && bobs.includes('public/x'), String(bobs));
      assert.deepEqual(bobs.filter((r) => !r.startsWith('team/') && !r.startsWith('public/')), [], 'bob sees only team/** and public/**');
      assert.deepEqual(await catalog(undefined), all.filter((r) => r.startsWith('public/')));
    });
  });
}
