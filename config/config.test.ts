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
