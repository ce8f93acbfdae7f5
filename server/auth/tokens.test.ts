import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { decodeJwt, decodeProtectedHeader, importPKCS8, SignJWT, base64url } from 'jose';
import { loadOrCreateSigningKey, type SigningKey } from '../../storage/signing-key.js';
import { grants, InvalidTokenError, TokenSigner, TokenVerifier, type AccessEntry } from './tokens.js';

const dirs: string[] = [];
const tempDir = (): string => {
  const d = mkdtempSync(join(tmpdir(), 'wharf-tokens-'));
  dirs.push(d);
  return d;
};

let key: SigningKey;
let otherKey: SigningKey;
let root: string;
const ACCESS: AccessEntry[] = [{ type: 'repository', name: 'team/app', actions: ['pull', 'push'] }];

before(async () => {
  root = tempDir();
  key = await loadOrCreateSigningKey(root);
  otherKey = await loadOrCreateSigningKey(tempDir());
});
after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

const rejected = (p: Promise<unknown>, re?: RegExp) =>
  assert.rejects(p, (e: unknown) => e instanceof InvalidTokenError && (re === undefined || re.test((e as Error).message)));

/** A JWT signed by `k` with exactly these claims (for the cases the signer never produces). */
async function craft(k: SigningKey, claims: Record<string, unknown>, header: Record<string, unknown> = {}): Promise<string> {
  return new SignJWT(claims).setProtectedHeader({ alg: 'ES256', kid: k.kid, ...header }).sign(k.privateKey);
}
const now = () => Math.floor(Date.now() / 1000);

test('the signing key is generated once, kept with mode 0600, and reloaded with the same kid', async () => {
  const path = join(root, 'auth', 'token-signing-key.jwk');
  assert.equal(statSync(path).mode & 0o777, 0o600);
  const again = await loadOrCreateSigningKey(root);
  assert.equal(again.kid, key.kid);
  assert.notEqual(otherKey.kid, key.kid);
  assert.equal(key.publicJwk.d, undefined, 'the public JWK must not carry the private part');
  assert.ok(JSON.parse(readFileSync(path, 'utf8')).d, 'the stored key holds the private part');
});

test('an access token: ES256 with kid, iss/aud/sub/exp/nbf/iat/jti, and the access claim; it verifies', async () => {
  const signer = new TokenSigner(key, 'wharf-issuer', 'wharf-service');
  const { token, issuedAt } = await signer.accessToken('alice', ACCESS, 300);
  const header = decodeProtectedHeader(token);
  assert.equal(header.alg, 'ES256');
  assert.equal(header.kid, key.kid);
  const payload = decodeJwt(token);
  assert.equal(payload.iss, 'wharf-issuer');
  assert.equal(payload.aud, 'wharf-service');
  assert.equal(payload.sub, 'alice');
  assert.equal(payload.iat, Math.floor(issuedAt.getTime() / 1000));
  assert.equal(payload.exp, payload.iat! + 300);
  assert.equal(payload.nbf, payload.iat);
  assert.equal(typeof payload.jti, 'string');
  assert.deepEqual(payload.access, ACCESS);

  const claims = await TokenVerifier.forSigningKey(key, 'wharf-issuer', 'wharf-service').verify(token);
  assert.equal(claims.sub, 'alice');
  assert.deepEqual(claims.access, ACCESS);
  assert.ok(grants(claims, 'repository', 'team/app', 'push'));
  assert.ok(!grants(claims, 'repository', 'team/app', 'delete'));
  assert.ok(!grants(claims, 'repository', 'team/other', 'pull'));
  assert.ok(!grants(claims, 'registry', 'catalog', '*'));
});

test('an anonymous token has an empty subject', async () => {
  const { token } = await new TokenSigner(key, 'wharf', 'wharf').accessToken('', [], 60);
  const claims = await TokenVerifier.forSigningKey(key, 'wharf', 'wharf').verify(token);
  assert.equal(claims.sub, '');
  assert.deepEqual(claims.access, []);
});

test('expiry: expired beyond the clock skew is refused; within the skew it is accepted', async () => {
  const signer = new TokenSigner(key, 'wharf', 'wharf');
  const verifier = TokenVerifier.forSigningKey(key, 'wharf', 'wharf');
  await rejected(verifier.verify((await signer.accessToken('alice', ACCESS, -300)).token), /exp/);
  const slightly = await craft(key, { iss: 'wharf', aud: 'wharf', sub: 'alice', exp: now() - 10, access: ACCESS });
  assert.equal((await verifier.verify(slightly)).sub, 'alice');
  const noExp = await craft(key, { iss: 'wharf', aud: 'wharf', sub: 'alice', access: ACCESS });
  await rejected(verifier.verify(noExp), /exp/);
});

test('not before: a token from the future is refused', async () => {
  const verifier = TokenVerifier.forSigningKey(key, 'wharf', 'wharf');
  const future = await craft(key, { iss: 'wharf', aud: 'wharf', sub: 'alice', nbf: now() + 3600, exp: now() + 7200, access: ACCESS });
  await rejected(verifier.verify(future), /nbf/);
});

test('audience and issuer must match', async () => {
  const verifier = TokenVerifier.forSigningKey(key, 'wharf', 'wharf');
  await rejected(verifier.verify((await new TokenSigner(key, 'wharf', 'another-registry').accessToken('alice', ACCESS, 60)).token), /aud/);
  await rejected(verifier.verify((await new TokenSigner(key, 'evil', 'wharf').accessToken('alice', ACCESS, 60)).token), /iss/);
});

test('a token signed by another key, tampered, unsigned (alg none) or HMAC-signed is refused', async () => {
  const verifier = TokenVerifier.forSigningKey(key, 'wharf', 'wharf');
  await rejected(verifier.verify((await new TokenSigner(otherKey, 'wharf', 'wharf').accessToken('alice', ACCESS, 60)).token));

  const { token } = await new TokenSigner(key, 'wharf', 'wharf').accessToken('alice', [{ type: 'repository', name: 'team/app', actions: ['pull'] }], 60);
  const [h, p, s] = token.split('.');
  const payload = JSON.parse(new TextDecoder().decode(base64url.decode(p!)));
  payload.access[0].actions = ['pull', 'push', 'delete'];
  const tampered = `${h}.${base64url.encode(JSON.stringify(payload))}.${s}`;
  await rejected(verifier.verify(tampered));

  const none = `${base64url.encode(JSON.stringify({ alg: 'none', typ: 'JWT' }))}.${base64url.encode(JSON.stringify(payload))}.`;
  await rejected(verifier.verify(none));

  const hmac = await new SignJWT(payload)
    .setProtectedHeader({ alg: 'HS256' })
    .sign(new TextEncoder().encode(JSON.stringify(key.publicJwk)));
  await rejected(verifier.verify(hmac));
  await rejected(verifier.verify('not a jwt'));
  await rejected(verifier.verify(''));
});

test('a refresh token is not an access token, and an access token is not a refresh token', async () => {
  const signer = new TokenSigner(key, 'wharf', 'wharf');
  const verifier = TokenVerifier.forSigningKey(key, 'wharf', 'wharf');
  const refresh = await signer.refreshToken('alice', 3600);
  assert.equal(decodeJwt(refresh).token_use, 'refresh');
  assert.equal(decodeJwt(refresh).access, undefined);
  await rejected(verifier.verify(refresh), /refresh/);
  assert.equal(await signer.refreshSubject(refresh), 'alice');

  const { token } = await signer.accessToken('alice', ACCESS, 60);
  await rejected(signer.refreshSubject(token), /refresh/);
  // Another issuer's refresh token, an expired one, and an anonymous one are refused too.
  await rejected(new TokenSigner(otherKey, 'wharf', 'wharf').refreshSubject(refresh));
  await rejected(signer.refreshSubject(await signer.refreshToken('alice', -300)));
  await rejected(signer.refreshSubject(await craft(key, { iss: 'wharf', aud: 'wharf', sub: '', token_use: 'refresh', exp: now() + 60 })));
});

test('an access claim of the wrong shape grants nothing', async () => {
  const verifier = TokenVerifier.forSigningKey(key, 'wharf', 'wharf');
  const claims = await verifier.verify(
    await craft(key, {
      iss: 'wharf',
      aud: 'wharf',
      sub: 'alice',
      exp: now() + 60,
      access: [{ type: 'repository', name: 'a', actions: 'pull' }, { type: 'repository', actions: ['pull'] }, 'x', null],
    }),
  );
  assert.deepEqual(claims.access, []);
  assert.ok(!grants(claims, 'repository', 'a', 'pull'));
});

test('external issuer by JWKS: its keys verify, others do not', async () => {
  const verifier = TokenVerifier.forJwks({ keys: [otherKey.publicJwk as Record<string, unknown>] }, 'corp-auth', 'wharf');
  const good = await new TokenSigner(otherKey, 'corp-auth', 'wharf').accessToken('carol', ACCESS, 60);
  assert.equal((await verifier.verify(good.token)).sub, 'carol');
  await rejected(verifier.verify((await new TokenSigner(key, 'corp-auth', 'wharf').accessToken('carol', ACCESS, 60)).token));
  await rejected(verifier.verify((await new TokenSigner(otherKey, 'wharf', 'wharf').accessToken('carol', ACCESS, 60)).token), /iss/);
});

test('external issuer by certificate bundle (openssl): tokens signed by the certificate key verify', async () => {
  const dir = tempDir();
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1',
    '-subj', '/CN=corp token signer', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'),
  ], { stdio: 'ignore' });
  const pem = readFileSync(join(dir, 'cert.pem'), 'utf8');
  const privateKey = await importPKCS8(readFileSync(join(dir, 'key.pem'), 'utf8'), 'ES256');
  const verifier = TokenVerifier.forCertificates([pem], 'corp-auth', 'wharf');
  const token = await new SignJWT({ access: ACCESS })
    .setProtectedHeader({ alg: 'ES256' })
    .setIssuer('corp-auth')
    .setAudience('wharf')
    .setSubject('carol')
    .setExpirationTime(now() + 60)
    .sign(privateKey);
  const claims = await verifier.verify(token);
  assert.equal(claims.sub, 'carol');
  assert.deepEqual(claims.access, ACCESS);
  await rejected(verifier.verify((await new TokenSigner(key, 'corp-auth', 'wharf').accessToken('carol', ACCESS, 60)).token));
  const none = `${base64url.encode(JSON.stringify({ alg: 'none' }))}.${token.split('.')[1]}.`;
  await rejected(verifier.verify(none));
});
