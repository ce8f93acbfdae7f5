/**
 * The `wharf` bin's shebang starts node without NODE_EXTRA_CA_CERTS (bin/v8-flags.ts): the
 * client verbs never use TLS, and node parses the bundles the variable names before any of
 * our code runs. Node warns on stderr when the file it names cannot be read, which tells
 * whether a node process loaded it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { restoreExtraCaCerts } from './v8-flags.js';

// dist/bin/extra-ca.test.js -> dist/bin/wharf.js (npm run build makes it executable)
const BIN = fileURLToPath(new URL('./wharf.js', import.meta.url));
const MISSING = '/nonexistent/wharf-test-extra-ca.pem';
const LOADED = /Ignoring extra certs from `\/nonexistent\/wharf-test-extra-ca\.pem`/;

function wharf(args: string[], viaNode = false): { status: number | null; stdout: string; stderr: string } {
  const { WHARF_NODE_EXTRA_CA_CERTS: _, ...env } = process.env;
  const r = spawnSync(viaNode ? process.execPath : BIN, viaNode ? [BIN, ...args] : args, { env: { ...env, NODE_EXTRA_CA_CERTS: MISSING }, encoding: 'utf8' });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('a client verb run as the wharf command: its node starts without NODE_EXTRA_CA_CERTS', () => {
  const r = wharf(['--version']);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout.trim(), '0.1.0');
  assert.doesNotMatch(r.stderr, LOADED);
  const fail = wharf(['-H', 'unix:///nonexistent/wharf.sock', 'ps']);
  assert.equal(fail.status, 1, fail.stderr);
  assert.doesNotMatch(fail.stderr, LOADED);
  assert.match(fail.stderr, /Cannot connect to the Wharf daemon/);
});

test('started as node dist/bin/wharf.js, node reads the variable itself (the probe works)', () => {
  const r = wharf(['--version'], true);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, LOADED);
});

test('the verbs that use TLS themselves restart so that node loads it: serve, daemon, gc, import, export', () => {
  for (const verb of ['serve', 'daemon', 'gc', 'import', 'export']) {
    const r = wharf([verb, '--help']);
    assert.equal(r.status, 0, `${verb}: ${r.stderr}`);
    assert.match(r.stdout, new RegExp(`Usage: wharf ${verb}`), verb);
    assert.equal(r.stderr.match(new RegExp(LOADED.source, 'g'))?.length, 1, `${verb} loads it once: ${r.stderr}`);
  }
});

test('restoreExtraCaCerts: the value the shebang handed over goes back, as the user set it', () => {
  const set: NodeJS.ProcessEnv = { WHARF_NODE_EXTRA_CA_CERTS: '/etc/ca.pem' };
  assert.equal(restoreExtraCaCerts(set), true);
  assert.deepEqual(set, { NODE_EXTRA_CA_CERTS: '/etc/ca.pem' });
  const unset: NodeJS.ProcessEnv = { WHARF_NODE_EXTRA_CA_CERTS: '' };
  assert.equal(restoreExtraCaCerts(unset), false, 'the variable was not set: nothing to load');
  assert.deepEqual(unset, {});
  const direct: NodeJS.ProcessEnv = { NODE_EXTRA_CA_CERTS: '/etc/ca.pem' };
  assert.equal(restoreExtraCaCerts(direct), false, 'not started by the shebang: node read it');
  assert.deepEqual(direct, { NODE_EXTRA_CA_CERTS: '/etc/ca.pem' });
});
