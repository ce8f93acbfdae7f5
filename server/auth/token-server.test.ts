/**
 * The built-in token server and the Bearer/Basic modes, over real HTTP against a real
 * registry in a temp dir: scopes parsed, the intersection of asked and allowed granted
 * (never more), OAuth2 POST grants, and the registry honouring exactly what was granted.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createLocalJWKSet, decodeJwt, jwtVerify } from 'jose';
import { loadConfig, type AccessRule } from '../../config/config.js';
import { startRegistry, type RunningRegistry } from '../index.js';
import type { Registry } from '../../storage/registry.js';
import { manifestReference, repositoryName } from '../http/request-parsing.js';
import { parseScope } from './token-server.js';

/** A repository with one tag: an empty OCI index needs no blobs. */
async function pushEmptyImage(registry: Registry, name: string): Promise<void> {
  const body = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: [] }));
  await registry.putManifest(repositoryName(name), manifestReference('v1'), body, 'application/vnd.oci.image.index.v1+json');
}

const dir = mkdtempSync(join(tmpdir(), 'wharf-token-server-'));
const htpasswd = join(dir, 'htpasswd');
writeFileSync(
  htpasswd,
  ['alice', 'bob', 'carol'].map((u) => execFileSync('htpasswd', ['-n', '-b', '-B', '-C', '5', u, `${u}-pw`], { encoding: 'utf8' }).trim()).join('\n') + '\n',
);

const ACCESS: AccessRule[] = [
  { subjects: ['group:devs'], repositories: ['team/**'], actions: ['pull', 'push'] },
  { subjects: ['bob'], repositories: ['team/**'], actions: ['pull'] },
  { subjects: ['alice'], repositories: ['alice/*'], actions: ['*'] },
  { subjects: ['anonymous'], repositories: ['public/**'], actions: ['pull'] },
];

async function start(name: string, auth: Record<string, unknown>): Promise<RunningRegistry> {
  const file = join(dir, `${name}.yml`);
  // YAML is a superset of JSON: the config goes through the same loader and validation.
  writeFileSync(file, JSON.stringify({ auth }));
  const config = loadConfig(file, { WHARF_HTTP_ADDR: '127.0.0.1:0', WHARF_STORAGE_ROOT: join(dir, name), WHARF_LOG_LEVEL: 'silent' });
  return startRegistry(config);
}

const basic = (user: string, password = `${user}-pw`) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

interface TokenBody {
  token: string;
  access_token: string;
  expires_in: number;
  issued_at: string;
  refresh_token?: string;
}

after(() => rmSync(dir, { recursive: true, force: true }));

test('parseScope: type, name (which may hold colons) and actions', () => {
  assert.deepEqual(parseScope('repository:team/app:pull,push'), { type: 'repository', name: 'team/app', actions: ['pull', 'push'] });
  assert.deepEqual(parseScope('repository:localhost:5000/app:pull'), { type: 'repository', name: 'localhost:5000/app', actions: ['pull'] });
  assert.deepEqual(parseScope('registry:catalog:*'), { type: 'registry', name: 'catalog', actions: ['*'] });
  assert.deepEqual(parseScope('repository(plugin):vieux/sshfs:pull'), { type: 'repository', name: 'vieux/sshfs', actions: ['pull'] });
  assert.deepEqual(parseScope('repository:a:pull,,push,'), { type: 'repository', name: 'a', actions: ['pull', 'push'] });
  for (const bad of ['', 'repository', 'repository:app', ':app:pull', 'repository::pull', 'repository:app:', 'repository:app:,']) {
    assert.equal(parseScope(bad), undefined, bad);
  }
});

describe('token mode with the built-in token server', () => {
  let wharf: RunningRegistry;
  before(async () => {
    wharf = await start('token', { htpasswd: { path: htpasswd }, token: { enabled: true, service: 'wharf-test' }, groups: { devs: ['alice'] }, access: ACCESS });
  });
  after(() => wharf.close());

  async function token(scopes: string[], authorization?: string, extra = ''): Promise<TokenBody> {
    const q = scopes.map((s) => `&scope=${encodeURIComponent(s)}`).join('');
    const res = await fetch(`${wharf.url}/auth/token?service=wharf-test${q}${extra}`, { headers: authorization ? { authorization } : {} });
    assert.equal(res.status, 200, await res.clone().text());
    assert.equal(res.headers.get('cache-control'), 'no-store');
    return (await res.json()) as TokenBody;
  }
  const accessOf = (t: TokenBody) => decodeJwt(t.token).access;

  test('the answer has token, access_token, expires_in and issued_at; the token is signed by /auth/jwks.json', async () => {
    const t = await token(['repository:team/app:pull'], basic('alice'));
    assert.equal(t.token, t.access_token);
    assert.equal(t.expires_in, 300);
    assert.ok(Math.abs(Date.parse(t.issued_at) - Date.now()) < 60_000);
    assert.equal(t.refresh_token, undefined, 'no refresh token unless offline_token=true');
    const jwks = (await (await fetch(`${wharf.url}/auth/jwks.json`)).json()) as { keys: Record<string, unknown>[] };
    assert.equal(jwks.keys.length, 1);
    assert.equal(jwks.keys[0]!.d, undefined, 'the private key must not be published');
    const { payload, protectedHeader } = await jwtVerify(t.token, createLocalJWKSet(jwks as never), { issuer: 'wharf', audience: 'wharf-test' });
    assert.equal(protectedHeader.alg, 'ES256');
    assert.equal(protectedHeader.kid, jwks.keys[0]!.kid);
    assert.equal(payload.sub, 'alice');
  });

  test('grants the intersection of asked and allowed, never more', async () => {
    // alice (group devs): pull+push on team/**, everything on alice/*.
    assert.deepEqual(accessOf(await token(['repository:team/app:pull,push,delete'], basic('alice'))), [
      { type: 'repository', name: 'team/app', actions: ['pull', 'push'] },
    ]);
    assert.deepEqual(accessOf(await token(['repository:team/app:pull'], basic('alice'))), [{ type: 'repository', name: 'team/app', actions: ['pull'] }]);
    // bob may only pull team/**.
    assert.deepEqual(accessOf(await token(['repository:team/app:pull,push'], basic('bob'))), [{ type: 'repository', name: 'team/app', actions: ['pull'] }]);
    // carol has no rule: nothing at all, not even an empty entry.
    assert.deepEqual(accessOf(await token(['repository:team/app:pull,push'], basic('carol'))), []);
    // `*` asked: only what is allowed; unknown actions are never granted.
    assert.deepEqual(accessOf(await token(['repository:alice/x:*'], basic('alice'))), [
      { type: 'repository', name: 'alice/x', actions: ['pull', 'push', 'delete'] },
    ]);
    assert.deepEqual(accessOf(await token(['repository:team/app:*'], basic('bob'))), [{ type: 'repository', name: 'team/app', actions: ['pull'] }]);
    assert.deepEqual(accessOf(await token(['repository:alice/x:admin,pull'], basic('alice'))), [{ type: 'repository', name: 'alice/x', actions: ['pull'] }]);
    // `alice/*` does not reach alice/x/y.
    assert.deepEqual(accessOf(await token(['repository:alice/x/y:pull'], basic('alice'))), []);
    // Unknown resource types and malformed scopes grant nothing.
    assert.deepEqual(accessOf(await token(['registry:other:*', 'repository:team/app', 'garbage'], basic('alice'))), []);
  });

  test('several scopes, as repeated parameters and space-separated, each decided on its own', async () => {
    const t = await token(['repository:team/app:pull,push', 'repository:public/base:pull repository:private/x:pull'], basic('bob'));
    assert.deepEqual(accessOf(t), [
      { type: 'repository', name: 'team/app', actions: ['pull'] },
      { type: 'repository', name: 'public/base', actions: ['pull'] },
    ]);
  });

  test('anonymous: a token with only what the anonymous rules allow', async () => {
    const t = await token(['repository:public/base:pull,push', 'repository:team/app:pull']);
    assert.equal(decodeJwt(t.token).sub, '');
    assert.deepEqual(accessOf(t), [{ type: 'repository', name: 'public/base', actions: ['pull'] }]);
    assert.equal((await token([], undefined, '&offline_token=true')).refresh_token, undefined, 'no refresh token for anonymous');
  });

  test('the catalog scope is granted only as asked (`*`), never widened', async () => {
    assert.deepEqual(accessOf(await token(['registry:catalog:*'], basic('carol'))), [{ type: 'registry', name: 'catalog', actions: ['*'] }]);
    assert.deepEqual(accessOf(await token(['registry:catalog:pull'], basic('carol'))), []);
  });

  test('wrong password, unknown user, malformed Basic: 401 with a Basic challenge; wrong service: 400', async () => {
    for (const authorization of [basic('alice', 'wrong'), basic('mallory', 'x'), 'Basic %%%']) {
      const res = await fetch(`${wharf.url}/auth/token?service=wharf-test&scope=repository:team/app:pull`, { headers: { authorization } });
      assert.equal(res.status, 401, authorization);
      assert.match(res.headers.get('www-authenticate') ?? '', /^Basic realm=/);
      assert.equal(((await res.json()) as { errors: { code: string }[] }).errors[0]!.code, 'UNAUTHORIZED');
    }
    const res = await fetch(`${wharf.url}/auth/token?service=another&scope=repository:team/app:pull`, { headers: { authorization: basic('alice') } });
    assert.equal(res.status, 400);
  });

  test('offline_token=true returns a refresh token; the OAuth2 POST trades password and refresh token', async () => {
    const withRefresh = await token(['repository:team/app:pull'], basic('alice'), '&offline_token=true');
    assert.ok(withRefresh.refresh_token);

    const post = (form: Record<string, string>) =>
      fetch(`${wharf.url}/auth/token`, { method: 'POST', body: new URLSearchParams({ service: 'wharf-test', client_id: 'docker', ...form }) });

    let res = await post({ grant_type: 'password', username: 'alice', password: 'alice-pw', scope: 'repository:team/app:pull,push,delete' });
    assert.equal(res.status, 200);
    const byPassword = (await res.json()) as TokenBody;
    assert.deepEqual(decodeJwt(byPassword.access_token).access, [{ type: 'repository', name: 'team/app', actions: ['pull', 'push'] }]);
    assert.ok(byPassword.refresh_token);

    res = await post({ grant_type: 'refresh_token', refresh_token: byPassword.refresh_token!, scope: 'repository:alice/x:pull' });
    assert.equal(res.status, 200);
    const byRefresh = (await res.json()) as TokenBody;
    assert.equal(decodeJwt(byRefresh.access_token).sub, 'alice');
    assert.deepEqual(decodeJwt(byRefresh.access_token).access, [{ type: 'repository', name: 'alice/x', actions: ['pull'] }]);

    // An access token is not a refresh token; a wrong password is refused; unknown grants are refused.
    assert.equal((await post({ grant_type: 'refresh_token', refresh_token: byPassword.access_token })).status, 401);
    assert.equal((await post({ grant_type: 'password', username: 'alice', password: 'nope' })).status, 401);
    assert.equal((await post({ grant_type: 'password', username: 'alice' })).status, 401);
    assert.equal((await post({ grant_type: 'client_credentials' })).status, 400);
  });

  test('the registry challenges with the scope it needs and honours exactly the granted access', async () => {
    let res = await fetch(`${wharf.url}/v2/team/app/tags/list`);
    assert.equal(res.status, 401);
    assert.equal(
      res.headers.get('www-authenticate'),
      `Bearer realm="${wharf.url}/auth/token",service="wharf-test",scope="repository:team/app:pull"`,
    );
    res = await fetch(`${wharf.url}/v2/team/app/blobs/uploads/`, { method: 'POST' });
    assert.match(res.headers.get('www-authenticate') ?? '', /scope="repository:team\/app:pull,push"/);
    res = await fetch(`${wharf.url}/v2/_catalog`);
    assert.match(res.headers.get('www-authenticate') ?? '', /scope="registry:catalog:\*"/);

    const bob = (await token(['repository:team/app:pull,push'], basic('bob'))).token;
    const asBob = (path: string, method = 'GET') => fetch(`${wharf.url}${path}`, { method, headers: { authorization: `Bearer ${bob}` } });
    assert.equal((await asBob('/v2/')).status, 200);
    assert.equal((await asBob('/v2/team/app/tags/list')).status, 404, 'pull granted: the repository just does not exist');
    res = await asBob('/v2/team/app/blobs/uploads/', 'POST');
    assert.equal(res.status, 401, 'push not granted');
    assert.match(res.headers.get('www-authenticate') ?? '', /error="insufficient_scope"/);
    assert.equal((await asBob('/v2/team/other/tags/list')).status, 401, 'a token for team/app does not open team/other');

    const alice = (await token(['repository:team/app:pull,push'], basic('alice'))).token;
    res = await fetch(`${wharf.url}/v2/team/app/blobs/uploads/`, { method: 'POST', headers: { authorization: `Bearer ${alice}` } });
    assert.equal(res.status, 202);

    res = await fetch(`${wharf.url}/v2/team/app/tags/list`, { headers: { authorization: `Bearer ${alice}x` } });
    assert.equal(res.status, 401);
    assert.match(res.headers.get('www-authenticate') ?? '', /error="invalid_token"/);
  });
});

describe('htpasswd mode (Basic)', () => {
  let wharf: RunningRegistry;
  before(async () => {
    wharf = await start('basic', { htpasswd: { path: htpasswd, realm: 'Wharf Test' }, groups: { devs: ['alice'] }, access: ACCESS });
  });
  after(() => wharf.close());

  const get = (path: string, authorization?: string, method = 'GET') =>
    fetch(`${wharf.url}${path}`, { method, headers: authorization ? { authorization } : {} });

  test('without credentials: 401, a Basic challenge and the UNAUTHORIZED body', async () => {
    const res = await get('/v2/team/app/tags/list');
    assert.equal(res.status, 401);
    assert.equal(res.headers.get('www-authenticate'), 'Basic realm="Wharf Test"');
    assert.equal(((await res.json()) as { errors: { code: string }[] }).errors[0]!.code, 'UNAUTHORIZED');
  });

  test('the catalog lists only what the caller may pull; anonymous sees the anonymous repositories', async () => {
    for (const name of ['team/app', 'alice/x', 'public/base', 'private/y']) await pushEmptyImage(wharf.registry, name);
    const list = async (authorization?: string) => {
      const res = await get('/v2/_catalog', authorization);
      assert.equal(res.status, 200);
      return ((await res.json()) as { repositories: string[] }).repositories;
    };
    assert.deepEqual(await list(basic('alice')), ['alice/x', 'public/base', 'team/app']);
    assert.deepEqual(await list(basic('bob')), ['public/base', 'team/app']);
    assert.deepEqual(await list(basic('carol')), ['public/base']);
    assert.deepEqual(await list(), ['public/base']);
    assert.equal((await get('/v2/_catalog', basic('carol', 'bad'))).status, 401);
  });

  test('anonymous may pull only where a rule allows; GET /v2/ still challenges (docker discovers auth there)', async () => {
    const res = await get('/v2/');
    assert.equal(res.status, 401);
    assert.equal(res.headers.get('www-authenticate'), 'Basic realm="Wharf Test"');
    assert.equal((await get('/v2/', basic('carol'))).status, 200);
    assert.equal((await get('/v2/', basic('carol', 'wrong'))).status, 401);
    assert.equal((await get('/v2/public/none/tags/list')).status, 404);
    assert.equal((await get('/v2/private/none/tags/list')).status, 401);
    assert.equal((await get('/v2/public/base/blobs/uploads/', undefined, 'POST')).status, 401);
  });

  test('wrong password: 401; a known user beyond the rules: 403 DENIED', async () => {
    assert.equal((await get('/v2/team/app/tags/list', basic('alice', 'bad'))).status, 401);
    assert.equal((await get('/v2/team/app/tags/list', 'Basic !!')).status, 401);
    assert.equal((await get('/v2/team/none/tags/list', basic('bob'))).status, 404);
    const res = await get('/v2/team/app/blobs/uploads/', basic('bob'), 'POST');
    assert.equal(res.status, 403);
    assert.equal(((await res.json()) as { errors: { code: string }[] }).errors[0]!.code, 'DENIED');
    assert.equal((await get('/v2/team/app/blobs/uploads/', basic('alice'), 'POST')).status, 202);
  });
});

describe('htpasswd mode without anonymous rules', () => {
  let wharf: RunningRegistry;
  before(async () => {
    wharf = await start('closed', { htpasswd: { path: htpasswd } });
  });
  after(() => wharf.close());

  test('every endpoint, GET /v2/ and the catalog included, needs credentials; then everything is allowed', async () => {
    for (const [path, method] of [['/v2/', 'GET'], ['/v2/_catalog', 'GET'], ['/v2/a/tags/list', 'GET'], ['/v2/a/blobs/uploads/', 'POST']] as const) {
      const res = await fetch(`${wharf.url}${path}`, { method });
      assert.equal(res.status, 401, `${method} ${path}`);
      assert.equal(res.headers.get('www-authenticate'), 'Basic realm="wharf"');
    }
    assert.equal((await fetch(`${wharf.url}/v2/_catalog`, { headers: { authorization: basic('carol') } })).status, 200);
    assert.equal((await fetch(`${wharf.url}/v2/a/blobs/uploads/`, { method: 'POST', headers: { authorization: basic('carol') } })).status, 202);
  });
});
