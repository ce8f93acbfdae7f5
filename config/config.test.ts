import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { ConfigError, loadConfig } from './config.js';

const dir = mkdtempSync(join(tmpdir(), 'wharf-config-'));
const file = (name: string, text: string): string => {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
};

test('defaults: localhost:5000, ./data, deletes on', () => {
  const c = loadConfig(undefined, {});
  assert.equal(c.http.addr, '127.0.0.1:5000');
  assert.equal(c.storage.root, './data');
  assert.equal(c.storage.delete.enabled, true);
});

test('the documented example loads and equals the defaults', () => {
  const example = fileURLToPath(new URL('../../config/example.yml', import.meta.url));
  assert.deepEqual(loadConfig(example, {}), loadConfig(undefined, {}));
});

test('YAML values apply and env overrides win', () => {
  const p = file('a.yml', 'http:\n  addr: 0.0.0.0:6000\nstorage:\n  root: /srv/wharf\n  delete:\n    enabled: false\n');
  const c = loadConfig(p, { WHARF_HTTP_ADDR: '127.0.0.1:7000' });
  assert.equal(c.http.addr, '127.0.0.1:7000');
  assert.equal(c.storage.root, '/srv/wharf');
  assert.equal(c.storage.delete.enabled, false);
  assert.equal(loadConfig(p, { WHARF_STORAGE_DELETE_ENABLED: 'true' }).storage.delete.enabled, true);
});

test('an unknown key is refused, naming it', () => {
  const p = file('b.yml', 'storage:\n  rooot: /x\n');
  assert.throws(() => loadConfig(p, {}), (e: unknown) => e instanceof ConfigError && /storage\.rooot/.test(e.message));
});

test('a wrong type is refused, naming the key', () => {
  const p = file('c.yml', 'storage:\n  delete:\n    enabled: "yes"\n');
  assert.throws(() => loadConfig(p, {}), /storage\.delete\.enabled/);
  assert.throws(() => loadConfig(undefined, { WHARF_STORAGE_DELETE_ENABLED: 'maybe' }), /WHARF_STORAGE_DELETE_ENABLED/);
});

test('a bad listen address and bad YAML say what is wrong', () => {
  assert.throws(() => loadConfig(undefined, { WHARF_HTTP_ADDR: 'localhost' }), /http\.addr/);
  assert.throws(() => loadConfig(file('d.yml', 'http: [\n'), {}), /not valid YAML/);
  assert.throws(() => loadConfig(join(dir, 'missing.yml'), {}), /cannot read config file/);
});

test('proxy upstreams and gc: durations and sizes as written, env overrides, defaults filled in', () => {
  const pw = file('pw', 'secret\n');
  const p = file(
    'proxy.yml',
    [
      'proxy:',
      '  upstreams:',
      '    - name: docker.io',
      '      url: https://registry-1.docker.io/',
      '      revalidate: 5m',
      '    - name: ghcr.io',
      '      url: http://127.0.0.1:5001',
      '      username: bot',
      `      passwordFile: ${pw}`,
      '      revalidate: 0',
      '  default: docker.io',
      '  maxBytes: 50GiB',
      'gc:',
      '  interval: 0',
      '  uploadLease: 90s',
      '  untaggedAfter: 24h',
      '  retention:',
      '    - repositories: ["ci/**"]',
      '      keepTags: 3',
      '      untaggedAfter: 1h',
      '',
    ].join('\n'),
  );
  const c = loadConfig(p, { WHARF_GC_INTERVAL: '2h' });
  assert.deepEqual(c.proxy.upstreams[0], {
    name: 'docker.io', url: 'https://registry-1.docker.io', username: '', password: '', passwordFile: '', revalidate: 300_000, ca: '', tokenRealm: '',
  });
  assert.equal(c.proxy.upstreams[1]!.password, 'secret');
  assert.equal(c.proxy.upstreams[1]!.revalidate, 0);
  assert.equal(c.proxy.default, 'docker.io');
  assert.equal(c.proxy.maxBytes, 50 * 2 ** 30);
  assert.deepEqual(c.gc, { interval: 7_200_000, uploadLease: 90_000, untaggedAfter: 86_400_000, retention: [{ repositories: ['ci/**'], keepTags: 3, untaggedAfter: 3_600_000 }] });
  const env = loadConfig(undefined, { WHARF_PROXY_UPSTREAMS: '[{"name":"quay.io","url":"https://quay.io"}]', WHARF_PROXY_DEFAULT: 'quay.io', WHARF_PROXY_MAX_BYTES: '1GB' });
  assert.equal(env.proxy.upstreams[0]!.name, 'quay.io');
  assert.equal(env.proxy.maxBytes, 1e9);
});

test('proxy and gc mistakes are refused, naming the key', () => {
  const bad = (yml: string, re: RegExp) => assert.throws(() => loadConfig(file('bad-proxy.yml', yml), {}), (e: unknown) => e instanceof ConfigError && re.test(e.message));
  bad('proxy:\n  upstreams:\n    - name: docker.io\n      url: ftp://x\n', /proxy\.upstreams\[0\]\.url/);
  bad('proxy:\n  upstreams:\n    - name: Docker Hub\n      url: https://x\n', /proxy\.upstreams\[0\]\.name/);
  bad('proxy:\n  upstreams:\n    - name: a.io\n      url: https://x\n      revalidte: 1m\n', /proxy\.upstreams\[0\]\.revalidte/);
  bad('proxy:\n  default: docker.io\n', /proxy\.default/);
  bad('proxy:\n  maxBytes: lots\n', /proxy\.maxBytes/);
  bad('gc:\n  interval: soon\n', /gc\.interval/);
  assert.throws(() => loadConfig(undefined, { WHARF_GC_UPLOAD_LEASE: 'x' }), /WHARF_GC_UPLOAD_LEASE/);
});
