import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseReference, formatReference, manifestReference, InvalidReferenceError } from './reference.js';

const D = `sha256:${'a'.repeat(64)}`;

test('references resolve Docker style, against a configurable default registry', () => {
  const cases: Array<[string, string]> = [
    ['busybox', 'localhost:5000/busybox:latest'],
    ['team/app:1.2', 'localhost:5000/team/app:1.2'],
    ['registry.example.com/team/app', 'registry.example.com/team/app:latest'],
    ['localhost/app:v1', 'localhost/app:v1'],
    ['127.0.0.1:5000/app', '127.0.0.1:5000/app:latest'],
    ['host:5000/a/b/c:tag', 'host:5000/a/b/c:tag'],
    [`app@${D}`, `localhost:5000/app@${D}`],
    [`example.com:443/app:v2@${D}`, `example.com:443/app:v2@${D}`],
    // A first component without '.', ':' and not 'localhost' is a path component.
    ['myhost/app', 'localhost:5000/myhost/app:latest'],
  ];
  for (const [input, canonical] of cases) assert.equal(formatReference(parseReference(input)), canonical, input);
  assert.equal(formatReference(parseReference('app', { defaultRegistry: 'reg.internal:8443' })), 'reg.internal:8443/app:latest');
});

test('the digest is what a pull asks for when there is one', () => {
  assert.equal(manifestReference(parseReference(`a:t@${D}`)), D);
  assert.equal(manifestReference(parseReference('a:t')), 't');
  const r = parseReference(`a@${D}`);
  assert.equal(r.tag, undefined);
  assert.equal(r.digest, D);
});

test('malformed references are refused with a reason', () => {
  for (const bad of ['', 'UPPER/case', 'a:', 'a:-bad', 'a@sha256:xyz', 'a@md5:abc', '/a', 'a//b', 'host:notaport/a', `a@${D}@${D}`]) {
    assert.throws(() => parseReference(bad), InvalidReferenceError, bad);
  }
  assert.throws(() => parseReference('Upper'), /lower case/);
});
