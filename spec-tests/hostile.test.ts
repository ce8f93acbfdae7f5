/**
 * Hostile input (issue 4): hundreds of distinct bad requests thrown at a real Wharf over
 * real sockets, each answered with the exact status and error code; afterwards the
 * server is healthy and nothing it stores has changed. Three registries: open (the API
 * surface), token mode (forged and misused JWTs, the token endpoint), htpasswd mode
 * (Basic credentials); and one with short timeouts for slow clients.
 */
import assert from 'node:assert/strict';
import { createPrivateKey, createPublicKey, sign as cryptoSign, type KeyObject } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import bcrypt from 'bcryptjs';
import { exportJWK, generateKeyPair, SignJWT, type JWK } from 'jose';
import { loadConfig } from '../config/config.js';
import { startRegistry, type RunningRegistry } from '../server/index.js';
import {
  BASE,
  FIXTURE_BLOBS,
  MANIFEST,
  OCI_MANIFEST,
  OPEN_FIXTURE,
  OTHER,
  SESSION_BYTES,
  openModeCases,
  wireCases,
  type HostileCase,
  type HostileFixture,
} from './support/hostile-cases.js';
import { apiSnapshot, assertAnswer, send, sha256, treeOf, type Expectation, type WireRequest } from './support/hostile-wire.js';
import { startTestWharf, type TestWharf } from './support/wharf.js';

// ---- plain clients for setup and the health checks (fetch is fine for well-formed requests)

async function pushBlob(url: string, repo: string, bytes: Buffer, headers: Record<string, string> = {}): Promise<void> {
  const res = await fetch(`${url}/v2/${repo}/blobs/uploads/?digest=${sha256(bytes)}`, { method: 'POST', headers: { ...headers, 'Content-Type': 'application/octet-stream' }, body: bytes });
  assert.equal(res.status, 201, `push blob to ${repo}: ${res.status} ${await res.text()}`);
}

async function putManifest(url: string, repo: string, ref: string, bytes: Buffer, headers: Record<string, string> = {}): Promise<void> {
  const res = await fetch(`${url}/v2/${repo}/manifests/${ref}`, { method: 'PUT', headers: { ...headers, 'Content-Type': OCI_MANIFEST }, body: bytes });
  assert.equal(res.status, 201, `put manifest ${repo}:${ref}: ${res.status} ${await res.text()}`);
}

async function pushFixture(url: string, headers: Record<string, string> = {}): Promise<void> {
  for (const { repo, blobs, tags } of OPEN_FIXTURE) {
    for (const b of blobs) await pushBlob(url, repo, b, headers);
    for (const [tag, m] of tags) await putManifest(url, repo, tag, m, headers);
  }
}

/** A push of a brand-new image and a pull of every byte of it back. */
async function pushAndPull(url: string, repo: string, headers: Record<string, string> = {}): Promise<void> {
  const layer = Buffer.from(`after the attack ${Date.now()}`);
  const config = Buffer.from('{"architecture":"amd64","os":"linux"}');
  const manifest = Buffer.from(JSON.stringify({
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha256(config), size: config.length },
    layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: sha256(layer), size: layer.length }],
  }));
  // Chunked this time: POST, PATCH, PUT.
  const post = await fetch(`${url}/v2/${repo}/blobs/uploads/`, { method: 'POST', headers });
  assert.equal(post.status, 202);
  const location = new URL(post.headers.get('location')!, url);
  const patch = await fetch(location, { method: 'PATCH', headers: { ...headers, 'Content-Range': `0-${layer.length - 1}`, 'Content-Type': 'application/octet-stream' }, body: layer });
  assert.equal(patch.status, 202);
  const done = new URL(patch.headers.get('location')!, url);
  done.searchParams.set('digest', sha256(layer));
  assert.equal((await fetch(done, { method: 'PUT', headers })).status, 201);
  await pushBlob(url, repo, config, headers);
  await putManifest(url, repo, 'fresh', manifest, headers);
  const got = await fetch(`${url}/v2/${repo}/manifests/fresh`, { headers: { ...headers, Accept: OCI_MANIFEST } });
  assert.equal(got.status, 200);
  assert.deepEqual(Buffer.from(await got.arrayBuffer()), manifest);
  const blob = await fetch(`${url}/v2/${repo}/blobs/${sha256(layer)}`, { headers });
  assert.equal(blob.status, 200);
  assert.deepEqual(Buffer.from(await blob.arrayBuffer()), layer);
}

function caseTests(cases: HostileCase[], port: () => number, fixture: () => HostileFixture): void {
  const names = new Set<string>();
  for (const c of cases) {
    assert.ok(!names.has(c.name), `duplicate case name: ${c.name}`);
    names.add(c.name);
    test(c.name, async () => {
      const r = await c.request(fixture());
      assertAnswer(await send(port(), r), c.expect, r.method);
    });
  }
}

/** Everything hostile cases may not change, and the upload dir's leftovers. */
async function dataSnapshot(root: string, url: string, headers: Record<string, string> = {}): Promise<unknown> {
  return {
    blobs: await treeOf(join(root, 'blobs')),
    api: await apiSnapshot(url, [BASE, OTHER, 'hostile/nowhere'], FIXTURE_BLOBS, headers),
  };
}

/** A throw outside any request (a crash in production): no hostile request may cause one. */
const uncaught: unknown[] = [];
process.on('uncaughtException', (err) => uncaught.push(err));
const assertNoCrash = () => assert.deepEqual(uncaught.map(String), []);

const OPEN_CASES = openModeCases();
const WIRE_CASES = wireCases();

describe('hostile input: the API surface (open mode)', () => {
  let wharf: TestWharf;
  let sessionId = '';
  const fresh: string[] = [];
  let before_: unknown;
  const fixture: HostileFixture = {
    get sessionId() {
      return sessionId;
    },
    async freshUpload(initial?: Buffer) {
      const post = await fetch(`${wharf.url}/v2/${BASE}/blobs/uploads/`, { method: 'POST' });
      assert.equal(post.status, 202);
      const path = post.headers.get('location')!;
      fresh.push(path);
      if (initial) {
        const patch = await fetch(`${wharf.url}${path}`, { method: 'PATCH', headers: { 'Content-Range': `0-${initial.length - 1}` }, body: initial });
        assert.equal(patch.status, 202);
      }
      return path;
    },
  };

  before(async () => {
    wharf = await startTestWharf();
    await pushFixture(wharf.url);
    const post = await fetch(`${wharf.url}/v2/${BASE}/blobs/uploads/`, { method: 'POST' });
    sessionId = post.headers.get('docker-upload-uuid')!;
    const patch = await fetch(`${wharf.url}/v2/${BASE}/blobs/uploads/${sessionId}`, { method: 'PATCH', headers: { 'Content-Range': '0-9' }, body: SESSION_BYTES });
    assert.equal(patch.status, 202);
    before_ = await dataSnapshot(wharf.root, wharf.url);
  });
  after(() => wharf?.destroy());

  test('the suite throws at least 200 distinct requests at Wharf', () => {
    // Counted: requests whose answer carries an error code (the wire-level refusals come on top).
    const total = OPEN_CASES.length + TOKEN_CASE_COUNT + TOKEN_ENDPOINT_CASE_COUNT + BASIC_CASE_COUNT;
    assert.ok(total >= 200, `only ${total} cases`);
  });

  caseTests(OPEN_CASES, () => wharf.port, () => fixture);
  caseTests(WIRE_CASES, () => wharf.port, () => fixture);

  test('afterwards: the live upload still holds exactly its 10 bytes', async () => {
    const res = await send(wharf.port, { method: 'GET', path: `/v2/${BASE}/blobs/uploads/${sessionId}` });
    assert.equal(res.status, 204);
    assert.equal(res.headers.range, '0-9');
    assert.equal((await stat(join(wharf.root, 'uploads', sessionId))).size, 10);
    assert.deepEqual(await readFile(join(wharf.root, 'uploads', sessionId)), SESSION_BYTES);
  });

  test('afterwards: no stored data changed (blobs/ tree, catalog, tags, manifests, blob links)', async () => {
    assert.deepEqual(await dataSnapshot(wharf.root, wharf.url), before_);
  });

  test('afterwards: no upload or temp file is left behind', async () => {
    for (const path of fresh) await fetch(`${wharf.url}${path}`, { method: 'DELETE' });
    assert.deepEqual(await readdir(join(wharf.root, 'uploads')), [sessionId]);
  });

  test('afterwards: the server is healthy and a normal push and pull work', async () => {
    assertNoCrash();
    assert.equal((await fetch(`${wharf.url}/healthz`)).status, 200);
    await pushAndPull(wharf.url, 'hostile/after');
  });
});

// ---- auth modes

const PASSWORDS = { alice: 'alice-secret', bob: 'bob-secret' } as const;

async function startAuthWharf(mode: 'token' | 'htpasswd'): Promise<TestWharf> {
  const root = await mkdtemp(join(tmpdir(), `wharf-hostile-${mode}-`));
  const htpasswd = join(root, 'htpasswd');
  await writeFile(htpasswd, Object.entries(PASSWORDS).map(([u, p]) => `${u}:${bcrypt.hashSync(p, 4)}\n`).join(''));
  const configFile = join(root, 'config.yml');
  // alice may do anything; bob may only pull hostile/**.
  await writeFile(configFile, [
    'auth:',
    `  htpasswd: { path: ${JSON.stringify(htpasswd)} }`,
    `  token: { enabled: ${mode === 'token'} }`,
    '  access:',
    '    - { subjects: [alice], repositories: ["**"], actions: ["*"] }',
    '    - { subjects: [bob], repositories: ["hostile/**"], actions: [pull] }',
    '',
  ].join('\n'));
  const data = join(root, 'data');
  const running: RunningRegistry = await startRegistry(loadConfig(configFile, { WHARF_HTTP_ADDR: '127.0.0.1:0', WHARF_STORAGE_ROOT: data, WHARF_LOG_LEVEL: 'silent' }));
  return {
    ...running,
    root: data,
    hostPort: `127.0.0.1:${running.port}`,
    async destroy() {
      await running.close();
      await rm(root, { recursive: true, force: true });
    },
  };
}

const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
const b64url = (v: unknown) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');

interface TokenKit {
  /** the registry's own signing key, read from its data dir: forged tokens it must still refuse */
  realKey: KeyObject;
  kid: string;
  publicJwk: JWK;
  publicPem: string;
  /** an access token for alice from the token endpoint */
  issued(scope: string, authorization?: string): Promise<string>;
  refreshToken: string;
}

/** Claims of a token that would be accepted, with `over` applied (undefined deletes). */
function claims(over: Record<string, unknown> = {}): Record<string, unknown> {
  const now = Math.floor(Date.now() / 1000);
  const base: Record<string, unknown> = {
    iss: 'wharf',
    aud: 'wharf',
    sub: 'alice',
    iat: now,
    nbf: now,
    exp: now + 300,
    jti: `hostile-${Math.random()}`,
    access: [{ type: 'repository', name: BASE, actions: ['pull', 'push', 'delete'] }],
  };
  for (const [k, v] of Object.entries(over)) {
    if (v === undefined) delete base[k];
    else base[k] = v;
  }
  return base;
}

/** An ES256 JWS over exactly these header and payload bytes, signed with `key`. */
function signRaw(header: unknown, payload: unknown, key: KeyObject): string {
  const input = `${b64url(header)}.${b64url(payload)}`;
  const sig = cryptoSign('sha256', Buffer.from(input), { key, dsaEncoding: 'ieee-p1363' });
  return `${input}.${sig.toString('base64url')}`;
}

interface TokenCase {
  name: string;
  authorization: (kit: TokenKit) => Promise<string | undefined> | string | undefined;
  request?: WireRequest;
  tokenError?: 'invalid_token' | 'insufficient_scope';
}

const MANIFEST_GET: WireRequest = { method: 'GET', path: `/v2/${BASE}/manifests/v1` };

function tokenCases(): TokenCase[] {
  const realSigned = (over: Record<string, unknown>, header: Record<string, unknown> = {}) => (k: TokenKit) =>
    `Bearer ${signRaw({ alg: 'ES256', typ: 'JWT', kid: k.kid, ...header }, claims(over), k.realKey)}`;
  const attacker = async (alg: string, header: Record<string, unknown> = {}, over: Record<string, unknown> = {}) => {
    const { privateKey, publicKey } = await generateKeyPair(alg, alg === 'EdDSA' ? { crv: 'Ed25519' } : {});
    const extra = header.jwk === true ? { jwk: await exportJWK(publicKey) } : {};
    return `Bearer ${await new SignJWT(claims(over)).setProtectedHeader({ alg, ...header, ...extra }).sign(privateKey)}`;
  };
  const invalid = (name: string, authorization: TokenCase['authorization'], request?: WireRequest): TokenCase =>
    request ? { name, authorization, request, tokenError: 'invalid_token' } : { name, authorization, tokenError: 'invalid_token' };
  const scope = (name: string, authorization: TokenCase['authorization'], request?: WireRequest): TokenCase =>
    request ? { name, authorization, request, tokenError: 'insufficient_scope' } : { name, authorization, tokenError: 'insufficient_scope' };
  return [
    { name: 'no Authorization header', authorization: () => undefined },
    { name: 'the word Bearer without a token', authorization: () => 'Bearer' },
    { name: 'Basic credentials where a Bearer token is needed', authorization: () => basic('alice', PASSWORDS.alice) },
    { name: 'the token in the query string instead of the header', authorization: () => undefined, request: { method: 'GET', path: `/v2/${BASE}/manifests/v1?access_token=x` } },
    invalid('an empty quoted token', () => 'Bearer ""'),
    invalid('a garbage token', () => 'Bearer not-a-jwt'),
    invalid('three empty JWT parts', () => 'Bearer ..'),
    invalid('a.b.c', () => 'Bearer a.b.c'),
    invalid('8 KiB of base64', () => `Bearer ${'A'.repeat(8192)}`),
    invalid('two tokens in one header', async (k) => `Bearer ${(await k.issued(`repository:${BASE}:pull`)).slice(0)}, Bearer x`),
    invalid('alg none, unsigned', () => `Bearer ${b64url({ alg: 'none', typ: 'JWT' })}.${b64url(claims())}.`),
    invalid('alg "None", unsigned', () => `Bearer ${b64url({ alg: 'None', typ: 'JWT' })}.${b64url(claims())}.`),
    invalid('alg none carrying a real signature', async (k) => {
      const real = await k.issued(`repository:${BASE}:pull`);
      return `Bearer ${b64url({ alg: 'none' })}.${real.split('.')[1]}.${real.split('.')[2]}`;
    }),
    invalid('HS256 with the public JWK as the HMAC secret', async (k) => `Bearer ${await new SignJWT(claims()).setProtectedHeader({ alg: 'HS256', kid: k.kid }).sign(new TextEncoder().encode(JSON.stringify(k.publicJwk)))}`),
    invalid('HS256 with the public key PEM as the HMAC secret', async (k) => `Bearer ${await new SignJWT(claims()).setProtectedHeader({ alg: 'HS256', kid: k.kid }).sign(new TextEncoder().encode(k.publicPem))}`),
    invalid('HS512 with the public key PEM as the HMAC secret', async (k) => `Bearer ${await new SignJWT(claims()).setProtectedHeader({ alg: 'HS512' }).sign(new TextEncoder().encode(k.publicPem))}`),
    invalid('ES256 by another key under the real kid', async (k) => attacker('ES256', { kid: k.kid })),
    invalid('ES384 by another key', () => attacker('ES384')),
    invalid('RS256 by another key', () => attacker('RS256')),
    invalid('PS256 by another key', () => attacker('PS256')),
    invalid('EdDSA by another key', () => attacker('EdDSA')),
    invalid('the attacker key embedded as a jwk header', () => attacker('ES256', { jwk: true })),
    invalid('a jku header pointing at an attacker JWKS', async (k) => attacker('ES256', { jku: 'http://127.0.0.1:9/jwks.json', kid: k.kid })),
    invalid('a kid with a path traversal to the key file', () => attacker('ES256', { kid: '../../auth/token-signing-key.jwk' })),
    invalid('an unknown crit header (real key)', realSigned({}, { crit: ['wharf-hostile'], 'wharf-hostile': true })),
    invalid('expired an hour ago (real key)', realSigned({ exp: Math.floor(Date.now() / 1000) - 3600, iat: Math.floor(Date.now() / 1000) - 7200, nbf: Math.floor(Date.now() / 1000) - 7200 })),
    invalid('expired beyond the clock skew (real key)', realSigned({ exp: Math.floor(Date.now() / 1000) - 300 })),
    invalid('not valid for another hour (real key)', realSigned({ nbf: Math.floor(Date.now() / 1000) + 3600 })),
    invalid('without exp (real key)', realSigned({ exp: undefined })),
    invalid('exp as a string (real key)', realSigned({ exp: String(Math.floor(Date.now() / 1000) + 300) })),
    invalid('for another audience (real key)', realSigned({ aud: 'someone-else' })),
    invalid('with an audience list without ours (real key)', realSigned({ aud: ['a', 'b'] })),
    invalid('without an audience (real key)', realSigned({ aud: undefined })),
    invalid('from another issuer (real key)', realSigned({ iss: 'evil' })),
    invalid('without an issuer (real key)', realSigned({ iss: undefined })),
    invalid('a payload that is not JSON (real key)', (k) => {
      const input = `${b64url({ alg: 'ES256', kid: k.kid })}.${b64url('garbage')}`;
      return `Bearer ${input}.${cryptoSign('sha256', Buffer.from(input), { key: k.realKey, dsaEncoding: 'ieee-p1363' }).toString('base64url')}`;
    }),
    invalid('a tampered payload (another repository rewritten to ours)', async (k) => {
      const [h, p, s] = (await k.issued(`repository:${OTHER}:pull`)).split('.');
      const payload = JSON.parse(Buffer.from(p!, 'base64url').toString()) as Record<string, unknown>;
      payload.access = [{ type: 'repository', name: BASE, actions: ['pull', 'push'] }];
      return `Bearer ${h}.${b64url(payload)}.${s}`;
    }),
    invalid('a tampered header (kid changed)', async (k) => {
      const [, p, s] = (await k.issued(`repository:${BASE}:pull`)).split('.');
      return `Bearer ${b64url({ alg: 'ES256', typ: 'JWT', kid: 'other' })}.${p}.${s}`;
    }),
    invalid('the signature stripped', async (k) => `Bearer ${(await k.issued(`repository:${BASE}:pull`)).split('.').slice(0, 2).join('.')}.`),
    invalid('the signature truncated', async (k) => `Bearer ${(await k.issued(`repository:${BASE}:pull`)).slice(0, -4)}`),
    invalid('a refresh token used as an access token', (k) => `Bearer ${k.refreshToken}`),
    invalid('a refresh token used to log in at /v2/', (k) => `Bearer ${k.refreshToken}`, { method: 'GET', path: '/v2/' }),
    invalid('a garbage token on the catalog', () => 'Bearer x.y.z', { method: 'GET', path: '/v2/_catalog' }),
    invalid('an expired token on an upload (real key)', realSigned({ exp: Math.floor(Date.now() / 1000) - 3600 }), { method: 'POST', path: `/v2/${BASE}/blobs/uploads/`, headers: { 'Content-Length': 0 } }),
    scope('a valid token for another repository', async (k) => `Bearer ${await k.issued(`repository:${OTHER}:pull,push`)}`),
    scope('a valid pull-only token used to push', async (k) => `Bearer ${await k.issued(`repository:${BASE}:pull`)}`, { method: 'POST', path: `/v2/${BASE}/blobs/uploads/`, headers: { 'Content-Length': 0 } }),
    scope('a valid pull-only token used to delete', async (k) => `Bearer ${await k.issued(`repository:${BASE}:pull`)}`, { method: 'DELETE', path: `/v2/${BASE}/manifests/${sha256(MANIFEST)}` }),
    scope("bob's token, where the endpoint granted only pull, used to push a manifest", async (k) => `Bearer ${await k.issued(`repository:${BASE}:pull,push`, basic('bob', PASSWORDS.bob))}`, { method: 'PUT', path: `/v2/${BASE}/manifests/v9`, headers: { 'Content-Type': OCI_MANIFEST }, body: MANIFEST }),
    scope('an anonymous token (nothing granted)', async (k) => `Bearer ${await k.issued(`repository:${BASE}:pull`, '')}`),
    scope('a repository token used on the catalog', async (k) => `Bearer ${await k.issued(`repository:${BASE}:pull`)}`, { method: 'GET', path: '/v2/_catalog' }),
    scope('a real-key token granting a glob (hostile/*)', realSigned({ access: [{ type: 'repository', name: 'hostile/*', actions: ['*'] }] })),
    scope('a real-key token granting ** ', realSigned({ access: [{ type: 'repository', name: '**', actions: ['*'] }] })),
    scope('a real-key token granting the name with another type', realSigned({ access: [{ type: 'registry', name: BASE, actions: ['*'] }] })),
    scope('a real-key token whose access claim is a string', realSigned({ access: `repository:${BASE}:*` })),
    scope('a real-key token granting an upper-case variant of the name', realSigned({ access: [{ type: 'repository', name: BASE.toUpperCase(), actions: ['pull'] }] })),
    scope('a real-key token granting a misspelt action', realSigned({ access: [{ type: 'repository', name: BASE, actions: ['pul'] }] })),
  ];
}
const TOKEN_CASE_COUNT = tokenCases().length;

/** The built-in token endpoint itself. */
function tokenEndpointCases(kitRef: () => TokenKit): [string, () => WireRequest | Promise<WireRequest>, Expectation][] {
  const q = `service=wharf&scope=repository:${BASE}:pull`;
  const form = (body: string, type = 'application/x-www-form-urlencoded') => (): WireRequest => ({ method: 'POST', path: '/auth/token', headers: { 'Content-Type': type }, body });
  const unauthorized: Expectation = { status: 401, code: 'UNAUTHORIZED', challenge: 'Basic' };
  return [
    ['GET with a wrong password', () => ({ method: 'GET', path: `/auth/token?${q}`, headers: { Authorization: basic('alice', 'wrong') } }), unauthorized],
    ['GET with an unknown user', () => ({ method: 'GET', path: `/auth/token?${q}`, headers: { Authorization: basic('mallory', 'x') } }), unauthorized],
    ['GET with malformed Basic credentials', () => ({ method: 'GET', path: `/auth/token?${q}`, headers: { Authorization: 'Basic !!!' } }), unauthorized],
    ['GET with Basic credentials lacking a colon', () => ({ method: 'GET', path: `/auth/token?${q}`, headers: { Authorization: `Basic ${Buffer.from('alice').toString('base64')}` } }), unauthorized],
    ['GET for another service', () => ({ method: 'GET', path: `/auth/token?service=evil&scope=repository:${BASE}:pull`, headers: { Authorization: basic('alice', PASSWORDS.alice) } }), { status: 400, code: 'DENIED' }],
    ['GET with service given twice', () => ({ method: 'GET', path: `/auth/token?service=wharf&service=wharf&scope=repository:${BASE}:pull` }), { status: 400, code: 'DENIED' }],
    ['POST with an unknown grant_type', form('grant_type=client_credentials&service=wharf'), { status: 400, code: 'UNSUPPORTED' }],
    ['POST without a grant_type', form('service=wharf&username=alice&password=alice-secret'), { status: 400, code: 'UNSUPPORTED' }],
    ['POST as JSON instead of a form', form(JSON.stringify({ grant_type: 'password', username: 'alice', password: PASSWORDS.alice }), 'application/json'), { status: 400, code: 'UNSUPPORTED' }],
    ['POST password grant without a password', form('grant_type=password&service=wharf&username=alice'), unauthorized],
    ['POST password grant with a wrong password', form('grant_type=password&service=wharf&username=alice&password=nope'), unauthorized],
    ['POST password grant for an unknown user', form('grant_type=password&service=wharf&username=mallory&password=x'), unauthorized],
    ['POST password grant with username given twice', form('grant_type=password&service=wharf&username=alice&username=bob&password=alice-secret'), unauthorized],
    ['POST password grant for another service', form('grant_type=password&service=evil&username=alice&password=alice-secret'), { status: 400, code: 'DENIED' }],
    ['POST refresh grant without a token', form('grant_type=refresh_token&service=wharf'), unauthorized],
    ['POST refresh grant with garbage', form('grant_type=refresh_token&service=wharf&refresh_token=garbage'), unauthorized],
    ['POST refresh grant with an access token', async () => form(`grant_type=refresh_token&service=wharf&refresh_token=${await kitRef().issued(`repository:${BASE}:pull`)}`)(), unauthorized],
    ['POST refresh grant with a refresh token of another key', async () => {
      const { privateKey } = await generateKeyPair('ES256');
      const t = await new SignJWT(claims({ token_use: 'refresh', access: undefined })).setProtectedHeader({ alg: 'ES256', kid: kitRef().kid }).sign(privateKey);
      return form(`grant_type=refresh_token&service=wharf&refresh_token=${t}`)();
    }, unauthorized],
    ['POST refresh grant with an expired refresh token (real key)', () => {
      const k = kitRef();
      const t = signRaw({ alg: 'ES256', kid: k.kid }, claims({ token_use: 'refresh', access: undefined, exp: Math.floor(Date.now() / 1000) - 3600 }), k.realKey);
      return form(`grant_type=refresh_token&service=wharf&refresh_token=${t}`)();
    }, unauthorized],
    ['POST refresh grant for a user not in htpasswd (real key)', () => {
      const k = kitRef();
      const t = signRaw({ alg: 'ES256', kid: k.kid }, claims({ token_use: 'refresh', access: undefined, sub: 'mallory' }), k.realKey);
      return form(`grant_type=refresh_token&service=wharf&refresh_token=${t}`)();
    }, unauthorized],
    ['POST with a form body over 16 KiB', form(`grant_type=password&service=wharf&username=alice&password=${'x'.repeat(20_000)}`), { status: 413, code: 'UNSUPPORTED' }],
    ['PUT on the token endpoint', () => ({ method: 'PUT', path: '/auth/token', headers: { 'Content-Length': 0 } }), { status: 404, code: 'NOT_FOUND' }],
    ['GET a traversal under /auth', () => ({ method: 'GET', path: '/auth/../auth/../v2/x/tags/list' }), { status: 404, code: 'NOT_FOUND' }],
  ];
}
const TOKEN_ENDPOINT_CASE_COUNT = 23;

describe('hostile input: token auth', () => {
  let wharf: TestWharf;
  let kit: TokenKit;
  let before_: unknown;
  let aliceHeaders: Record<string, string> = {};

  const issued = async (scope: string, authorization = basic('alice', PASSWORDS.alice)): Promise<string> => {
    const res = await fetch(`${wharf.url}/auth/token?service=wharf&scope=${encodeURIComponent(scope)}`, { headers: authorization ? { Authorization: authorization } : {} });
    assert.equal(res.status, 200, await res.clone().text());
    return ((await res.json()) as { token: string }).token;
  };

  before(async () => {
    wharf = await startAuthWharf('token');
    const jwk = JSON.parse(await readFile(join(wharf.root, 'auth', 'token-signing-key.jwk'), 'utf8')) as JWK;
    const { d: _d, ...pub } = jwk;
    const jwks = (await (await fetch(`${wharf.url}/auth/jwks.json`)).json()) as { keys: JWK[] };
    const publicKey = createPublicKey({ key: pub as never, format: 'jwk' });
    const login = await fetch(`${wharf.url}/auth/token`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: `grant_type=password&service=wharf&username=alice&password=${PASSWORDS.alice}`,
    });
    assert.equal(login.status, 200);
    kit = {
      realKey: createPrivateKey({ key: jwk as never, format: 'jwk' }),
      kid: jwks.keys[0]!.kid!,
      publicJwk: jwks.keys[0]!,
      publicPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
      issued,
      refreshToken: ((await login.json()) as { refresh_token: string }).refresh_token,
    };
    const all = await issued(`repository:${BASE}:pull,push repository:${OTHER}:pull,push registry:catalog:* repository:hostile/nowhere:pull`);
    aliceHeaders = { Authorization: `Bearer ${all}` };
    await pushFixture(wharf.url, aliceHeaders);
    before_ = await dataSnapshot(wharf.root, wharf.url, aliceHeaders);
  });
  after(() => wharf?.destroy());

  test('control: a token the endpoint issued, and one forged with the real key, are both accepted', async () => {
    const issuedRes = await send(wharf.port, { ...MANIFEST_GET, headers: { Authorization: `Bearer ${await issued(`repository:${BASE}:pull`)}` } });
    assert.equal(issuedRes.status, 200);
    const forged = signRaw({ alg: 'ES256', typ: 'JWT', kid: kit.kid }, claims(), kit.realKey);
    assert.equal((await send(wharf.port, { ...MANIFEST_GET, headers: { Authorization: `Bearer ${forged}` } })).status, 200);
  });

  for (const c of tokenCases()) {
    test(`JWT: ${c.name} is 401 UNAUTHORIZED with a Bearer challenge`, async () => {
      const authorization = await c.authorization(kit);
      const r = c.request ?? MANIFEST_GET;
      const res = await send(wharf.port, { ...r, headers: { ...r.headers, ...(authorization === undefined ? {} : { Authorization: authorization }) } });
      const want: Expectation = { status: 401, code: 'UNAUTHORIZED', challenge: 'Bearer' };
      if (c.tokenError) want.tokenError = c.tokenError;
      assertAnswer(res, want, r.method);
      // The challenge names the scope this request needs, so a client can ask for exactly that.
      if (r.path.startsWith(`/v2/${BASE}/`)) assert.match(String(res.headers['www-authenticate']), new RegExp(`scope="repository:${BASE}:`));
    });
  }

  const endpoint = tokenEndpointCases(() => kit);
  test('the token endpoint case count is as declared', () => assert.equal(endpoint.length, TOKEN_ENDPOINT_CASE_COUNT));
  for (const [name, request, want] of endpoint) {
    test(`token endpoint: ${name} is ${want.status} ${want.code}`, async () => {
      const r = await request();
      assertAnswer(await send(wharf.port, r), want, r.method);
    });
  }

  test('afterwards: no stored data changed, and the server is healthy', async () => {
    assert.deepEqual(await dataSnapshot(wharf.root, wharf.url, aliceHeaders), before_);
    assert.deepEqual(await readdir(join(wharf.root, 'uploads')), []);
    assertNoCrash();
    assert.equal((await fetch(`${wharf.url}/healthz`)).status, 200);
    const t = await issued('repository:hostile/after-token:pull,push');
    await pushAndPull(wharf.url, 'hostile/after-token', { Authorization: `Bearer ${t}` });
  });
});

function basicCases(): [string, WireRequest, Expectation][] {
  const unauthorized: Expectation = { status: 401, code: 'UNAUTHORIZED', challenge: 'Basic' };
  const get = (authorization?: string, path = `/v2/${BASE}/manifests/v1`): WireRequest => ({ method: 'GET', path, headers: authorization === undefined ? {} : { Authorization: authorization } });
  const b64 = (s: string | Buffer) => `Basic ${Buffer.from(s).toString('base64')}`;
  const denied: Expectation = { status: 403, code: 'DENIED' };
  const bob = basic('bob', PASSWORDS.bob);
  return [
    ['no credentials', get(), unauthorized],
    ['a wrong password', get(basic('alice', 'wrong')), unauthorized],
    ['an unknown user', get(basic('mallory', 'alice-secret')), unauthorized],
    ["another user's password", get(basic('bob', PASSWORDS.alice)), unauthorized],
    ['an empty password', get(basic('alice', '')), unauthorized],
    ['an empty user name', get(basic('', PASSWORDS.alice)), unauthorized],
    ['the password missing its last character', get(basic('alice', PASSWORDS.alice.slice(0, -1))), unauthorized],
    ['the password with a character added', get(basic('alice', `${PASSWORDS.alice}!`)), unauthorized],
    ['the password with a trailing newline', get(basic('alice', `${PASSWORDS.alice}\n`)), unauthorized],
    ['the user name in upper case', get(basic('ALICE', PASSWORDS.alice)), unauthorized],
    ['a NUL after the user name', get(basic('alice\0', PASSWORDS.alice)), unauthorized],
    ['malformed base64', get('Basic !!!'), unauthorized],
    ['only padding', get('Basic ===='), unauthorized],
    ['base64 without a colon', get(b64('alice')), unauthorized],
    ['the scheme without credentials', get('Basic'), unauthorized],
    ['base64 with an inner space', get(`Basic ${Buffer.from(`alice:${PASSWORDS.alice}`).toString('base64').replace(/^(.{4})/, '$1 ')}`), unauthorized],
    ['latin1 bytes that are not UTF-8', get(b64(Buffer.from([0xe9, 0x3a, 0xff]))), unauthorized],
    ['10 KiB of credentials', get(basic('alice', 'x'.repeat(10_000))), unauthorized],
    ['a Bearer token instead', get('Bearer abc.def.ghi'), unauthorized],
    ['the Digest scheme', get('Digest username="alice", realm="wharf", nonce="x", uri="/v2/", response="y"'), unauthorized],
    ['a wrong password at /v2/', get(basic('alice', 'wrong'), '/v2/'), unauthorized],
    ['an unknown user at the catalog', get(basic('mallory', 'x'), '/v2/_catalog'), unauthorized],
    ['a wrong password on an upload', { method: 'POST', path: `/v2/${BASE}/blobs/uploads/`, headers: { Authorization: basic('alice', 'wrong'), 'Content-Length': 0 } }, unauthorized],
    ['pull-only bob starting an upload', { method: 'POST', path: `/v2/${BASE}/blobs/uploads/`, headers: { Authorization: bob, 'Content-Length': 0 } }, denied],
    ['pull-only bob pushing a manifest', { method: 'PUT', path: `/v2/${BASE}/manifests/v9`, headers: { Authorization: bob, 'Content-Type': OCI_MANIFEST }, body: MANIFEST }, denied],
    ['pull-only bob deleting a manifest', { method: 'DELETE', path: `/v2/${BASE}/manifests/${sha256(MANIFEST)}`, headers: { Authorization: bob } }, denied],
    ['pull-only bob deleting a blob', { method: 'DELETE', path: `/v2/${BASE}/blobs/${sha256(MANIFEST)}`, headers: { Authorization: bob } }, denied],
    ['bob pulling outside hostile/**', get(bob, '/v2/private/thing/tags/list'), denied],
    ['bob pulling a look-alike of hostile/**', get(bob, '/v2/hostilex/base/tags/list'), denied],
  ];
}
const BASIC_CASE_COUNT = basicCases().length;

describe('hostile input: htpasswd Basic auth', () => {
  let wharf: TestWharf;
  let before_: unknown;
  const alice = { Authorization: basic('alice', PASSWORDS.alice) };

  before(async () => {
    wharf = await startAuthWharf('htpasswd');
    await pushFixture(wharf.url, alice);
    before_ = await dataSnapshot(wharf.root, wharf.url, alice);
  });
  after(() => wharf?.destroy());

  test('control: alice with her password is served, and bob may pull', async () => {
    assert.equal((await send(wharf.port, { ...MANIFEST_GET, headers: alice })).status, 200);
    assert.equal((await send(wharf.port, { ...MANIFEST_GET, headers: { Authorization: `basic ${Buffer.from(`bob:${PASSWORDS.bob}`).toString('base64')}` } })).status, 200);
  });

  for (const [name, r, want] of basicCases()) {
    test(`Basic: ${name} is ${want.status} ${want.code}`, async () => {
      assertAnswer(await send(wharf.port, r), want, r.method);
    });
  }

  test('afterwards: no stored data changed, and the server is healthy', async () => {
    assert.deepEqual(await dataSnapshot(wharf.root, wharf.url, alice), before_);
    assert.deepEqual(await readdir(join(wharf.root, 'uploads')), []);
    assertNoCrash();
    assert.equal((await fetch(`${wharf.url}/healthz`)).status, 200);
    await pushAndPull(wharf.url, 'hostile/after-basic', alice);
  });
});

// ---- slow clients

const DISCONNECT_WITHIN_MS = 20_000;

/** Resolves with how long the server took to close `socket`; rejects after DISCONNECT_WITHIN_MS. */
function closedWithin(socket: Socket, what: string): Promise<number> {
  const start = Date.now();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`${what}: the server kept the connection open for ${DISCONNECT_WITHIN_MS} ms`));
    }, DISCONNECT_WITHIN_MS);
    // Read whatever the server says (a 408, say): a paused socket would never see the FIN.
    socket.resume();
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(Date.now() - start);
    });
  });
}

function openSocket(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1', () => resolve(s));
    s.on('error', () => undefined);
    s.once('error', reject);
  });
}

/** A normal client asking again and again while `until` is pending; every answer must be right. */
async function serveMeanwhile(url: string, until: Promise<unknown>): Promise<number> {
  let done = false;
  void until.finally(() => (done = true)).catch(() => undefined);
  let served = 0;
  while (!done) {
    const health = await fetch(`${url}/healthz`);
    assert.equal(health.status, 200);
    const tags = await fetch(`${url}/v2/${BASE}/tags/list`);
    assert.equal(tags.status, 200);
    assert.deepEqual(((await tags.json()) as { tags: string[] }).tags, ['v1']);
    served += 2;
    await new Promise((r) => setTimeout(r, 100));
  }
  return served;
}

describe('hostile input: slow clients (headers timeout 1 s, idle timeout 1.5 s)', () => {
  let wharf: TestWharf;

  before(async () => {
    wharf = await startTestWharf({ env: { WHARF_HTTP_HEADERS_TIMEOUT: '1000', WHARF_HTTP_IDLE_TIMEOUT: '1500' } });
    await pushFixture(wharf.url);
  });
  after(() => wharf?.destroy());

  const uploadWith = async (bytes: Buffer): Promise<string> => {
    const post = await fetch(`${wharf.url}/v2/${BASE}/blobs/uploads/`, { method: 'POST' });
    const path = post.headers.get('location')!;
    const patch = await fetch(`${wharf.url}${path}`, { method: 'PATCH', headers: { 'Content-Range': `0-${bytes.length - 1}` }, body: bytes });
    assert.equal(patch.status, 202);
    return path;
  };

  /** Once the stalled request is gone, the upload must be exactly as before and take the next chunk. */
  const assertUploadUnchanged = async (path: string, held: Buffer): Promise<void> => {
    const status = await send(wharf.port, { method: 'GET', path });
    assert.equal(status.status, 204);
    assert.equal(status.headers.range, `0-${held.length - 1}`);
    const id = path.split('/').pop()!;
    // The failed chunk is truncated away once its stream errors; give that a moment.
    for (let i = 0; i < 50 && (await stat(join(wharf.root, 'uploads', id))).size !== held.length; i++) await new Promise((r) => setTimeout(r, 100));
    assert.equal((await stat(join(wharf.root, 'uploads', id))).size, held.length);
    const next = Buffer.from('-and-more');
    let patch: Response | undefined;
    for (let i = 0; i < 50; i++) {
      patch = await fetch(`${wharf.url}${path}`, { method: 'PATCH', headers: { 'Content-Range': `${held.length}-${held.length + next.length - 1}` }, body: next });
      if (patch.status !== 400) break; // BLOB_UPLOAD_INVALID while the dead request still unwinds
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(patch!.status, 202, await patch!.text());
    const all = Buffer.concat([held, next]);
    const put = await fetch(`${wharf.url}${path}?digest=${sha256(all)}`, { method: 'PUT' });
    assert.equal(put.status, 201);
  };

  test('slowloris: 20 clients sending headers byte by byte are all disconnected; a normal client is served meanwhile', async () => {
    const sockets = await Promise.all(Array.from({ length: 20 }, () => openSocket(wharf.port)));
    const line = `GET /v2/ HTTP/1.1\r\nHost: x\r\nX-Slow: ${'s'.repeat(10_000)}`;
    const timers = sockets.map((s) => {
      let i = 0;
      return setInterval(() => s.writable && s.write(line[i++ % line.length]!), 200);
    });
    const closed = Promise.all(sockets.map((s, i) => closedWithin(s, `slowloris ${i}`)));
    try {
      const served = await serveMeanwhile(wharf.url, closed);
      assert.ok(served > 0);
      for (const ms of await closed) assert.ok(ms < DISCONNECT_WITHIN_MS);
    } finally {
      timers.forEach(clearInterval);
      sockets.forEach((s) => s.destroy());
    }
  });

  test('a client that opens a connection and says nothing is disconnected', async () => {
    const s = await openSocket(wharf.port);
    await closedWithin(s, 'silent client');
  });

  test('a PATCH that stalls mid-body (Content-Length and Content-Range) is disconnected; the upload is unchanged', async () => {
    const held = Buffer.from('0123456789');
    const path = await uploadWith(held);
    const s = await openSocket(wharf.port);
    s.write(`PATCH ${path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\nContent-Range: 10-1009\r\nContent-Length: 1000\r\n\r\n`);
    s.write(Buffer.alloc(100, 0x41));
    const closed = closedWithin(s, 'stalled PATCH');
    await serveMeanwhile(wharf.url, closed);
    await closed;
    await assertUploadUnchanged(path, held);
  });

  test('a chunked PATCH that stalls mid-body is disconnected; the upload is unchanged', async () => {
    const held = Buffer.from('abcdefghij');
    const path = await uploadWith(held);
    const s = await openSocket(wharf.port);
    s.write(`PATCH ${path} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n`);
    s.write('40\r\n' + 'B'.repeat(64) + '\r\n');
    const closed = closedWithin(s, 'stalled chunked PATCH');
    await serveMeanwhile(wharf.url, closed);
    await closed;
    await assertUploadUnchanged(path, held);
  });

  test('a manifest PUT that stalls mid-body is disconnected and stores nothing', async () => {
    const s = await openSocket(wharf.port);
    s.write(`PUT /v2/${BASE}/manifests/stalled HTTP/1.1\r\nHost: x\r\nContent-Type: ${OCI_MANIFEST}\r\nContent-Length: ${MANIFEST.length}\r\n\r\n`);
    s.write(MANIFEST.subarray(0, 20));
    await closedWithin(s, 'stalled manifest PUT');
    const res = await fetch(`${wharf.url}/v2/${BASE}/manifests/stalled`);
    assert.equal(res.status, 404);
    assert.equal(((await res.json()) as { errors: { code: string }[] }).errors[0]!.code, 'MANIFEST_UNKNOWN');
  });

  test('afterwards: the server is healthy and a normal push and pull work', async () => {
    assertNoCrash();
    assert.equal((await fetch(`${wharf.url}/healthz`)).status, 200);
    await pushAndPull(wharf.url, 'hostile/after-slow');
  });
});
