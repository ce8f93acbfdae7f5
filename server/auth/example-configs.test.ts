/** The documented auth examples in config/ load, validate, and select the mode they describe. */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, test } from 'node:test';
import { loadConfig, type WharfConfig } from '../../config/config.js';
import { loadOrCreateSigningKey } from '../../storage/signing-key.js';
import { setupAuth } from './setup.js';

const example = (name: string) => fileURLToPath(new URL(`../../../config/${name}`, import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'wharf-auth-examples-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const htpasswd = join(dir, 'htpasswd');
writeFileSync(htpasswd, execFileSync('htpasswd', ['-n', '-b', '-B', 'alice', 'pw'], { encoding: 'utf8' }));

/** setupAuth over the example, with the files it points at replaced by real ones here. */
async function modeOf(config: WharfConfig): Promise<string> {
  const auth = structuredClone(config.auth);
  if (auth.htpasswd.path) auth.htpasswd.path = htpasswd;
  if (auth.token.jwks) {
    const key = await loadOrCreateSigningKey(join(dir, 'issuer'));
    auth.token.jwks = join(dir, 'jwks.json');
    writeFileSync(auth.token.jwks, JSON.stringify({ keys: [key.publicJwk] }));
  }
  return (await setupAuth(auth, join(dir, 'data'), 'https://registry.example.com')).mode;
}

test('config/auth-htpasswd.yml: htpasswd mode, groups, globbed rules, anonymous pull; plain HTTP on localhost, TLS left to the reader', async () => {
  const c = loadConfig(example('auth-htpasswd.yml'), {});
  assert.equal(c.auth.token.enabled, false);
  assert.equal(c.auth.htpasswd.path, '/etc/wharf/htpasswd');
  assert.deepEqual(c.auth.groups, { admins: ['alice'], ci: ['ci-bot'] });
  assert.ok(c.auth.access.some((r) => r.subjects.includes('anonymous') && r.repositories.includes('public/**')));
  // It runs as written on a test machine: no TLS files needed, and only localhost hears it.
  assert.equal(c.http.tls.certificate, '');
  assert.equal(c.http.addr, '127.0.0.1:5000');
  assert.equal(await modeOf(c), 'htpasswd');
});

test('config/auth-token.yml: token mode with the built-in token server', async () => {
  const c = loadConfig(example('auth-token.yml'), {});
  assert.equal(c.auth.token.enabled, true);
  assert.equal(c.auth.token.jwks, '');
  assert.equal(c.auth.token.rootcertbundle, '');
  assert.equal(c.auth.token.service, 'wharf');
  assert.equal(await modeOf(c), 'token');
});

test('config/auth-external-issuer.yml: token mode verifying an external issuer', async () => {
  const c = loadConfig(example('auth-external-issuer.yml'), {});
  assert.equal(c.auth.token.enabled, true);
  assert.equal(c.auth.token.realm, 'https://auth.example.com/token');
  assert.ok(c.auth.token.jwks);
  assert.equal(await modeOf(c), 'token-external');
});

test('the default config is open (the insecure localhost mode)', async () => {
  assert.equal(await modeOf(loadConfig(undefined, {})), 'none');
});
