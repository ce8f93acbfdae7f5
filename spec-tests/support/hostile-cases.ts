/**
 * The hostile requests, as tables: name -> request -> the exact status and error code
 * the spec (and server/http/errors.ts) ask for. Requests are built from a fixture that the
 * suite pushes first (see OPEN_FIXTURE); a request that needs a live upload asks the
 * fixture for one.
 */
import { createHash } from 'node:crypto';
import type { Expectation, WireRequest } from './hostile-wire.js';
import { sha256 } from './hostile-wire.js';

export interface HostileCase {
  name: string;
  request: (fx: HostileFixture) => WireRequest | Promise<WireRequest>;
  expect: Expectation;
}

export interface HostileFixture {
  /** a live upload session in BASE holding SESSION_BYTES */
  sessionId: string;
  /** a new upload session in BASE holding `initial`; returns its path */
  freshUpload(initial?: Buffer): Promise<string>;
}

// ---- what the suite pushes before the attack

export const BASE = 'hostile/base';
export const OTHER = 'hostile/other';
export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
export const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
export const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';
export const OCI_LAYER = 'application/vnd.oci.image.layer.v1.tar';
export const DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json';

export const LAYER = Buffer.from('hostile suite: a layer both repositories hold\n');
export const CONFIG = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] } }));
/** linked in OTHER only: BASE must never reach it */
export const OTHER_ONLY = Buffer.from('hostile suite: a blob only hostile/other holds\n');
export const SESSION_BYTES = Buffer.from('0123456789');
export const NEVER_PUSHED = sha256('hostile suite: never pushed anywhere');

export const desc = (mediaType: string, bytes: Buffer) => ({ mediaType, digest: sha256(bytes), size: bytes.length });

export const MANIFEST = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: desc(OCI_CONFIG, CONFIG), layers: [desc(OCI_LAYER, LAYER)] }));
export const OTHER_MANIFEST = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: desc(OCI_CONFIG, OTHER_ONLY), layers: [desc(OCI_LAYER, LAYER)] }));

/** What the suite pushes: repo -> blobs, then manifests by tag. */
export const OPEN_FIXTURE: { repo: string; blobs: Buffer[]; tags: [string, Buffer][] }[] = [
  { repo: BASE, blobs: [LAYER, CONFIG], tags: [['v1', MANIFEST]] },
  { repo: OTHER, blobs: [LAYER, OTHER_ONLY], tags: [['v1', OTHER_MANIFEST]] },
];
export const FIXTURE_BLOBS: [string, string][] = [
  [BASE, sha256(LAYER)],
  [BASE, sha256(CONFIG)],
  [BASE, sha256(MANIFEST)],
  [OTHER, sha256(LAYER)],
  [OTHER, sha256(OTHER_ONLY)],
  [OTHER, sha256(OTHER_MANIFEST)],
  [BASE, sha256(OTHER_ONLY)],
  [BASE, NEVER_PUSHED],
];

const hex = (n: number, c = 'a') => c.repeat(n);
const json = (v: unknown) => Buffer.from(JSON.stringify(v));
const err = (status: number, code: string, extra: Partial<Expectation> = {}): Expectation => ({ status, code, ...extra });
const plain = (method: string, path: string, extra: Omit<WireRequest, 'method' | 'path'> = {}) => (): WireRequest => ({ method, path, ...extra });

// ---- names: traversal, encodings, case, length

/** Raw name segments (as they appear in the path) that are not repository names. */
const BAD_NAMES: [string, string][] = [
  ['dot-dot alone', '..'],
  ['dot-dot in the middle', `hostile/../base`],
  ['leading dot-dot', '../hostile/base'],
  ['trailing dot-dot', 'hostile/base/..'],
  ['single dot component', 'hostile/./base'],
  ['single dot alone', '.'],
  ['encoded dot-dot alone', '%2e%2e'],
  ['encoded dot-dot component', 'hostile/%2e%2e/base'],
  ['upper-case encoded dot-dot', 'hostile/%2E%2E/base'],
  ['half-encoded dot-dot (.%2e)', 'hostile/.%2e/base'],
  ['half-encoded dot-dot (%2e.)', 'hostile/%2e./base'],
  ['double-encoded dot-dot', 'hostile/%252e%252e/base'],
  ['encoded slash', 'hostile%2fbase'],
  ['upper-case encoded slash', 'hostile%2Fbase'],
  ['encoded traversal to metadata', '%2e%2e%2f%2e%2e%2fmetadata'],
  ['encoded backslash', 'hostile%5cbase'],
  ['raw backslash', 'hostile\\base'],
  ['backslash traversal', '..\\..\\hostile'],
  ['trailing NUL', 'hostile/base%00'],
  ['NUL in a component', 'hostile%00/base'],
  ['NUL alone', '%00'],
  ['non-ASCII letter (UTF-8 encoded)', 'hostile/b%C3%A4se'],
  ['fullwidth solidus', 'hostile/%EF%BC%8Fbase'],
  ['zero-width space', 'hostile/ba%E2%80%8Bse'],
  ['overlong UTF-8 dots', 'hostile/%C0%AE%C0%AE'],
  ['upper case throughout', 'Hostile/Base'],
  ['upper case shouting', 'HOSTILE'],
  ['one upper-case component', 'hostile/Base'],
  ['empty component', 'hostile//base'],
  ['leading slash', '/hostile/base'],
  ['trailing slash', 'hostile/base/'],
  ['component starting with a dash', 'hostile/-base'],
  ['component ending with a dash', 'hostile/base-'],
  ['three underscores', 'hostile/base___x'],
  ['component starting with a dot', 'hostile/.base'],
  ['component ending with a dot', 'hostile/base.'],
  ['trailing underscore', 'hostile/base_'],
  ['encoded space', 'hostile/ba%20se'],
  ['plus sign', 'hostile/ba+se'],
  ['semicolon', 'hostile/base;x'],
  ['colon', 'hostile/base:x'],
  ['at sign', 'hostile/base@x'],
  ['encoded CRLF header injection', 'hostile/ba%0d%0aX-Injected:%20yes/base'],
  ['encoded tab', 'hostile/base%09'],
  ['leading underscore (_catalog)', '_catalog'],
  ['256 characters', `hostile/${'n'.repeat(248)}`],
  ['1000 characters', Array.from({ length: 100 }, () => 'abcdefghi').join('/')],
];

/** Where a name goes: every endpoint that takes one. */
const NAME_ENDPOINTS: [string, (n: string, fx: HostileFixture) => WireRequest][] = [
  ['GET tags', (n) => ({ method: 'GET', path: `/v2/${n}/tags/list` })],
  ['GET manifest', (n) => ({ method: 'GET', path: `/v2/${n}/manifests/v1` })],
  ['POST upload', (n) => ({ method: 'POST', path: `/v2/${n}/blobs/uploads/`, headers: { 'Content-Length': 0 } })],
  ['PUT manifest', (n) => ({ method: 'PUT', path: `/v2/${n}/manifests/v1`, headers: { 'Content-Type': OCI_MANIFEST }, body: MANIFEST })],
  ['GET blob', (n) => ({ method: 'GET', path: `/v2/${n}/blobs/${sha256(LAYER)}` })],
  ['DELETE manifest', (n) => ({ method: 'DELETE', path: `/v2/${n}/manifests/${sha256(MANIFEST)}` })],
  ['GET referrers', (n) => ({ method: 'GET', path: `/v2/${n}/referrers/${sha256(MANIFEST)}` })],
  // A name that normalised to BASE would append to the live session: it must not.
  ['PATCH live session', (n, fx) => ({ method: 'PATCH', path: `/v2/${n}/blobs/uploads/${fx.sessionId}`, headers: { 'Content-Range': '10-12' }, body: 'abc' })],
  ['POST monolithic', (n) => ({ method: 'POST', path: `/v2/${n}/blobs/uploads/?digest=${sha256(LAYER)}`, body: LAYER })],
];

export function nameCases(): HostileCase[] {
  const cases: HostileCase[] = [];
  BAD_NAMES.forEach(([why, name], i) => {
    for (let k = 0; k < 3; k++) {
      const [where, build] = NAME_ENDPOINTS[(i + k * 3) % NAME_ENDPOINTS.length]!;
      cases.push({ name: `name with ${why}: ${where} is 400 NAME_INVALID`, request: (fx) => build(name, fx), expect: err(400, 'NAME_INVALID') });
    }
  });
  // Boundaries: the longest valid name is merely unknown; a `#` ends the path before the tail.
  const longest = `hostile/${'n'.repeat(247)}`;
  cases.push({ name: 'name of exactly 255 characters is 404 NAME_UNKNOWN', request: plain('GET', `/v2/${longest}/tags/list`), expect: err(404, 'NAME_UNKNOWN') });
  cases.push({ name: 'name cut short by a raw # is 404 NOT_FOUND', request: plain('GET', `/v2/hostile/base#x/tags/list`), expect: err(404, 'NOT_FOUND') });
  return cases;
}

// ---- tags

export function tagCases(): HostileCase[] {
  const bad: [string, string][] = [
    ['129 characters', 'a'.repeat(129)],
    ['1000 characters', 't'.repeat(1000)],
    ['a leading dot', '.hidden'],
    ['a leading dash', '-dash'],
    ['dot-dot', '..'],
    ['encoded dot-dot', '%2e%2e'],
    ['an encoded slash', 'v1%2fx'],
    ['a NUL', 'v1%00'],
    ['a non-ASCII letter', 't%C3%A4g'],
    ['encoded CRLF', 'v1%0d%0a%0d%0a%3Chtml%3E'],
    ['a semicolon', 'v1;rm'],
    ['an encoded space', 'v1%20'],
  ];
  const cases: HostileCase[] = bad.map(([why, tag]) => ({
    name: `tag with ${why}: GET manifest is 404 MANIFEST_UNKNOWN (a tag that cannot exist is unknown)`,
    request: plain('GET', `/v2/${BASE}/manifests/${tag}`),
    expect: err(404, 'MANIFEST_UNKNOWN'),
  }));
  cases.push(
    { name: 'tag of 129 characters: PUT manifest is 400 TAG_INVALID', request: plain('PUT', `/v2/${BASE}/manifests/${'a'.repeat(129)}`, { headers: { 'Content-Type': OCI_MANIFEST }, body: MANIFEST }), expect: err(400, 'TAG_INVALID') },
    { name: 'tag dot-dot: PUT manifest is 400 TAG_INVALID', request: plain('PUT', `/v2/${BASE}/manifests/..`, { headers: { 'Content-Type': OCI_MANIFEST }, body: MANIFEST }), expect: err(400, 'TAG_INVALID') },
    { name: 'tag with a leading dash: DELETE is 400 TAG_INVALID', request: plain('DELETE', `/v2/${BASE}/manifests/-v1`), expect: err(400, 'TAG_INVALID') },
    { name: 'tag of 128 characters is valid and merely unknown: 404 MANIFEST_UNKNOWN', request: plain('GET', `/v2/${BASE}/manifests/${'a'.repeat(128)}`), expect: err(404, 'MANIFEST_UNKNOWN') },
    // A colon makes a reference a digest (tags have none), so this injection is refused as one.
    { name: 'reference with an encoded CRLF header injection: GET is 404 MANIFEST_UNKNOWN', request: plain('GET', `/v2/${BASE}/manifests/v1%0d%0aX-Injected:%20yes`), expect: err(404, 'MANIFEST_UNKNOWN') },
    { name: 'reference with an encoded CRLF header injection: PUT is 400 DIGEST_INVALID', request: plain('PUT', `/v2/${BASE}/manifests/v1%0d%0aX-Injected:%20yes`, { headers: { 'Content-Type': OCI_MANIFEST }, body: MANIFEST }), expect: err(400, 'DIGEST_INVALID') },
    { name: 'empty reference is 404 NOT_FOUND', request: plain('GET', `/v2/${BASE}/manifests/`), expect: err(404, 'NOT_FOUND') },
    { name: "OTHER's tag is unknown to BASE after a delete attempt: DELETE tag of an unknown repo is 404 MANIFEST_UNKNOWN", request: plain('DELETE', `/v2/hostile/nowhere/manifests/v1`), expect: err(404, 'MANIFEST_UNKNOWN') },
  );
  return cases;
}

// ---- digests

const BAD_DIGESTS: [string, string][] = [
  ['md5', `md5:${hex(32)}`],
  ['sha1', `sha1:${hex(40)}`],
  ['sha256 with 63 hex', `sha256:${hex(63)}`],
  ['sha256 with 65 hex', `sha256:${hex(65)}`],
  ['sha256 with upper-case hex', `sha256:${hex(64, 'A')}`],
  ['sha256 with non-hex', `sha256:${hex(64, 'g')}`],
  ['empty sha256', 'sha256:'],
  ['sha512 with 64 hex', `sha512:${hex(64)}`],
  ['upper-case algorithm', `SHA256:${hex(64)}`],
  ['a trailing NUL', `sha256:${hex(64)}%00`],
  ['an encoded traversal', 'sha256:%2e%2e%2f%2e%2e%2fetc%2fpasswd'],
  ['dot-dot hex', 'sha256:..'],
  ['no algorithm', `:${hex(64)}`],
  ['a double colon', `sha256::${hex(64)}`],
  ['encoded CRLF header injection', `sha256:${hex(64)}%0d%0aX-Injected:%20yes`],
  ['sha384', `sha384:${hex(96)}`],
  ['an algorithm with a suffix', `sha256+b64:${hex(43)}`],
  ['no colon at all', hex(64)],
];

const DIGEST_ENDPOINTS: [string, string, (d: string, fx: HostileFixture) => WireRequest][] = [
  ['GET blob', 'GET', (d) => ({ method: 'GET', path: `/v2/${BASE}/blobs/${d}` })],
  ['DELETE blob', 'DELETE', (d) => ({ method: 'DELETE', path: `/v2/${BASE}/blobs/${d}` })],
  ['GET manifest by digest', 'GET', (d) => ({ method: 'GET', path: `/v2/${BASE}/manifests/${d}` })],
  ['GET referrers', 'GET', (d) => ({ method: 'GET', path: `/v2/${BASE}/referrers/${d}` })],
  ['POST ?digest=', 'POST', (d) => ({ method: 'POST', path: `/v2/${BASE}/blobs/uploads/?digest=${d}`, body: LAYER })],
  ['POST ?mount=', 'POST', (d) => ({ method: 'POST', path: `/v2/${BASE}/blobs/uploads/?mount=${d}&from=${OTHER}`, headers: { 'Content-Length': 0 } })],
  // The live session stays as it was: the digest is refused before any byte is taken.
  ['PUT live session ?digest=', 'PUT', (d, fx) => ({ method: 'PUT', path: `/v2/${BASE}/blobs/uploads/${fx.sessionId}?digest=${d}`, headers: { 'Content-Range': '10-12' }, body: 'abc' })],
  ['HEAD blob', 'HEAD', (d) => ({ method: 'HEAD', path: `/v2/${BASE}/blobs/${d}` })],
];

export function digestCases(): HostileCase[] {
  const cases: HostileCase[] = [];
  BAD_DIGESTS.forEach(([why, d], i) => {
    for (let k = 0; k < 3; k++) {
      const [where, , build] = DIGEST_ENDPOINTS[(i + k * 3) % DIGEST_ENDPOINTS.length]!;
      // "no colon at all" is a tag on the manifest endpoint (a valid one): skip that pairing.
      if (why === 'no colon at all' && where === 'GET manifest by digest') continue;
      // A manifest GET by a reference that cannot name anything is merely unknown (as registry:2 and zot).
      if (where === 'GET manifest by digest') {
        cases.push({ name: `digest with ${why}: ${where} is 404 MANIFEST_UNKNOWN`, request: (fx) => build(d, fx), expect: err(404, 'MANIFEST_UNKNOWN') });
        continue;
      }
      cases.push({ name: `digest with ${why}: ${where} is 400 DIGEST_INVALID`, request: (fx) => build(d, fx), expect: err(400, 'DIGEST_INVALID') });
    }
  });
  const missing = sha256(Buffer.from('not the layer'));
  cases.push(
    { name: 'valid but unknown digest: GET blob is 404 BLOB_UNKNOWN', request: plain('GET', `/v2/${BASE}/blobs/${NEVER_PUSHED}`), expect: err(404, 'BLOB_UNKNOWN') },
    { name: 'valid but unknown sha512 digest: GET blob is 404 BLOB_UNKNOWN', request: plain('GET', `/v2/${BASE}/blobs/sha512:${hex(128, 'b')}`), expect: err(404, 'BLOB_UNKNOWN') },
    { name: "a blob only OTHER holds: GET through BASE is 404 BLOB_UNKNOWN", request: plain('GET', `/v2/${BASE}/blobs/${sha256(OTHER_ONLY)}`), expect: err(404, 'BLOB_UNKNOWN') },
    { name: "a blob only OTHER holds: DELETE through BASE is 404 BLOB_UNKNOWN", request: plain('DELETE', `/v2/${BASE}/blobs/${sha256(OTHER_ONLY)}`), expect: err(404, 'BLOB_UNKNOWN') },
    { name: "OTHER's manifest: GET through BASE is 404 MANIFEST_UNKNOWN", request: plain('GET', `/v2/${BASE}/manifests/${sha256(OTHER_MANIFEST)}`), expect: err(404, 'MANIFEST_UNKNOWN') },
    { name: "OTHER's manifest: DELETE through BASE is 404 MANIFEST_UNKNOWN", request: plain('DELETE', `/v2/${BASE}/manifests/${sha256(OTHER_MANIFEST)}`), expect: err(404, 'MANIFEST_UNKNOWN') },
    { name: 'unknown blob in an unknown repository: DELETE is 404 BLOB_UNKNOWN', request: plain('DELETE', `/v2/hostile/nowhere/blobs/${missing}`), expect: err(404, 'BLOB_UNKNOWN') },
    { name: 'Range past the end of a blob is 416 RANGE_INVALID', request: plain('GET', `/v2/${BASE}/blobs/${sha256(LAYER)}`, { headers: { Range: 'bytes=999999-' } }), expect: err(416, 'RANGE_INVALID', { headers: { 'Content-Range': new RegExp(`^bytes \\*/${LAYER.length}$`) } }) },
    { name: 'Range of a zero-length suffix is 416 RANGE_INVALID', request: plain('GET', `/v2/${BASE}/blobs/${sha256(LAYER)}`, { headers: { Range: 'bytes=-0' } }), expect: err(416, 'RANGE_INVALID') },
    { name: 'Range starting exactly at the end is 416 RANGE_INVALID', request: plain('GET', `/v2/${BASE}/blobs/${sha256(LAYER)}`, { headers: { Range: `bytes=${LAYER.length}-` } }), expect: err(416, 'RANGE_INVALID') },
    { name: 'mount from a traversal name is 400 NAME_INVALID', request: plain('POST', `/v2/${BASE}/blobs/uploads/?mount=${sha256(OTHER_ONLY)}&from=hostile/../other`, { headers: { 'Content-Length': 0 } }), expect: err(400, 'NAME_INVALID') },
    { name: 'mount from an encoded-slash name is 400 NAME_INVALID', request: plain('POST', `/v2/${BASE}/blobs/uploads/?mount=${sha256(OTHER_ONLY)}&from=hostile%252fother`, { headers: { 'Content-Length': 0 } }), expect: err(400, 'NAME_INVALID') },
  );
  return cases;
}

// ---- uploads: Content-Range lies, bodies longer than declared, unknown ids

const RANGE_416 = { headers: { Range: /^0-9$/ } };

export function uploadCases(): HostileCase[] {
  const live = (fx: HostileFixture) => `/v2/${BASE}/blobs/uploads/${fx.sessionId}`;
  const patch = (range: string, body: Buffer | string, extra: Record<string, string | number> = {}) => (fx: HostileFixture): WireRequest => ({
    method: 'PATCH',
    path: live(fx),
    headers: { 'Content-Range': range, ...extra },
    body,
  });
  const five = Buffer.from('ABCDE');
  const cases: HostileCase[] = [
    { name: 'PATCH Content-Range restarting at 0 (upload holds 10) is 416 RANGE_INVALID with Range 0-9', request: patch('0-4', five), expect: err(416, 'RANGE_INVALID', RANGE_416) },
    { name: 'PATCH Content-Range skipping ahead (11-15) is 416 RANGE_INVALID', request: patch('11-15', five), expect: err(416, 'RANGE_INVALID', RANGE_416) },
    { name: 'PATCH Content-Range overlapping the last byte (9-13) is 416 RANGE_INVALID', request: patch('9-13', five), expect: err(416, 'RANGE_INVALID', RANGE_416) },
    { name: 'PATCH Content-Range far beyond the upload (1000000-1000004) is 416 RANGE_INVALID', request: patch('1000000-1000004', five), expect: err(416, 'RANGE_INVALID', RANGE_416) },
    { name: 'PATCH Content-Range with end before start is 416 RANGE_INVALID', request: patch('15-10', 'ABCDEF'), expect: err(416, 'RANGE_INVALID') },
    { name: 'PATCH Content-Range longer than Content-Length is 416 RANGE_INVALID', request: patch('10-19', five), expect: err(416, 'RANGE_INVALID') },
    { name: 'PATCH Content-Range shorter than Content-Length is 416 RANGE_INVALID', request: patch('10-14', Buffer.from('ABCDEFGHIJ')), expect: err(416, 'RANGE_INVALID') },
    { name: 'PATCH Content-Range garbage is 416 RANGE_INVALID', request: patch('abc', five), expect: err(416, 'RANGE_INVALID') },
    { name: 'PATCH Content-Range without an end is 416 RANGE_INVALID', request: patch('10-', five), expect: err(416, 'RANGE_INVALID') },
    { name: 'PATCH Content-Range without a start is 416 RANGE_INVALID', request: patch('-14', five), expect: err(416, 'RANGE_INVALID') },
    { name: 'PATCH Content-Range with a garbage total is 416 RANGE_INVALID', request: patch('10-14/abc', five), expect: err(416, 'RANGE_INVALID') },
    { name: 'PATCH Content-Range with two ranges is 416 RANGE_INVALID', request: patch('10-14,15-19', five), expect: err(416, 'RANGE_INVALID') },
    { name: 'PATCH Content-Range in hex is 416 RANGE_INVALID', request: patch('0xa-0xe', five), expect: err(416, 'RANGE_INVALID') },
    { name: 'PATCH Content-Range in exponent notation is 416 RANGE_INVALID', request: patch('1e1-14', five), expect: err(416, 'RANGE_INVALID') },
    { name: 'PATCH Content-Range with a sign is 416 RANGE_INVALID', request: patch('+10-14', five), expect: err(416, 'RANGE_INVALID') },
    { name: 'PATCH Content-Range with spaces around the dash is 416 RANGE_INVALID', request: patch('10 - 14', five), expect: err(416, 'RANGE_INVALID') },
    { name: 'PATCH Content-Range of 16 digits is 416 RANGE_INVALID', request: patch('10-1000000000000000', five), expect: err(416, 'RANGE_INVALID') },
    { name: 'PATCH Content-Range with a negative start is 416 RANGE_INVALID', request: patch('-1-3', five), expect: err(416, 'RANGE_INVALID') },
    {
      name: 'PATCH with Content-Range sent twice is 416 RANGE_INVALID',
      request: (fx) => ({ method: 'PATCH', path: live(fx), headers: { 'Content-Range': ['10-14', '10-14'] }, body: five }),
      expect: err(416, 'RANGE_INVALID'),
    },
    {
      name: 'PATCH chunked body of 20 bytes under Content-Range 10-14 is 400 SIZE_INVALID',
      request: (fx) => ({ method: 'PATCH', path: live(fx), headers: { 'Content-Range': '10-14' }, chunks: [Buffer.alloc(10, 1), Buffer.alloc(10, 2)] }),
      expect: err(400, 'SIZE_INVALID'),
    },
    {
      name: 'PATCH chunked body of 5 bytes under Content-Range 10-19 (shorter than declared) is 400 SIZE_INVALID',
      request: (fx) => ({ method: 'PATCH', path: live(fx), headers: { 'Content-Range': '10-19' }, chunks: [Buffer.from('ab'), Buffer.from('cde')] }),
      expect: err(400, 'SIZE_INVALID'),
    },
    {
      name: 'PATCH chunked body of 2 bytes under a 1-byte Content-Range is 400 SIZE_INVALID',
      request: (fx) => ({ method: 'PATCH', path: live(fx), headers: { 'Content-Range': '10-10' }, chunks: [Buffer.from('x'), Buffer.from('y')] }),
      expect: err(400, 'SIZE_INVALID'),
    },
    {
      name: 'PATCH chunked body of 1 MiB + 1 under Content-Range of 1 MiB is 400 SIZE_INVALID',
      request: (fx) => ({ method: 'PATCH', path: live(fx), headers: { 'Content-Range': `10-${10 + (1 << 20) - 1}` }, chunks: [Buffer.alloc(1 << 20, 7), Buffer.from('!')] }),
      expect: err(400, 'SIZE_INVALID'),
    },
    // The final PUT may carry a chunk: the same lies there (a failed completion cancels that upload, as in registry:2).
    {
      name: 'final PUT with Content-Range restarting at 0 is 416 RANGE_INVALID',
      request: async (fx) => ({ method: 'PUT', path: `${await fx.freshUpload(SESSION_BYTES)}?digest=${sha256('0123456789ABCDE')}`, headers: { 'Content-Range': '0-4' }, body: 'ABCDE' }),
      expect: err(416, 'RANGE_INVALID'),
    },
    {
      name: 'final PUT with a chunked body longer than its Content-Range is 400 SIZE_INVALID',
      request: async (fx) => ({ method: 'PUT', path: `${await fx.freshUpload(SESSION_BYTES)}?digest=${sha256('0123456789ABCDE')}`, headers: { 'Content-Range': '10-14' }, chunks: [Buffer.from('ABCDE'), Buffer.from('FGHIJ')] }),
      expect: err(400, 'SIZE_INVALID'),
    },
    {
      name: 'final PUT whose bytes do not hash to ?digest= is 400 DIGEST_INVALID',
      request: async (fx) => ({ method: 'PUT', path: `${await fx.freshUpload(SESSION_BYTES)}?digest=${sha256('something else')}`, body: 'ABCDE' }),
      expect: err(400, 'DIGEST_INVALID'),
    },
    {
      name: 'final PUT with a sha512 ?digest= of other bytes is 400 DIGEST_INVALID',
      request: async (fx) => ({ method: 'PUT', path: `${await fx.freshUpload(SESSION_BYTES)}?digest=sha512:${createHash('sha512').update('x').digest('hex')}`, headers: { 'Content-Length': 0 } }),
      expect: err(400, 'DIGEST_INVALID'),
    },
    {
      name: 'final PUT without ?digest= is 400 DIGEST_INVALID',
      request: async (fx) => ({ method: 'PUT', path: await fx.freshUpload(SESSION_BYTES), headers: { 'Content-Length': 0 } }),
      expect: err(400, 'DIGEST_INVALID'),
    },
    {
      name: 'final PUT with ?digest= given twice is 400 UNSUPPORTED',
      request: (fx) => ({ method: 'PUT', path: `${live(fx)}?digest=${sha256('a')}&digest=${sha256('b')}`, headers: { 'Content-Length': 0 } }),
      expect: err(400, 'UNSUPPORTED'),
    },
    { name: 'monolithic POST whose body does not hash to ?digest= is 400 DIGEST_INVALID', request: plain('POST', `/v2/${BASE}/blobs/uploads/?digest=${sha256('declared')}`, { body: 'actual' }), expect: err(400, 'DIGEST_INVALID') },
    { name: 'monolithic POST, chunked, not matching ?digest= is 400 DIGEST_INVALID', request: plain('POST', `/v2/${BASE}/blobs/uploads/?digest=${sha256('declared')}`, { chunks: [Buffer.from('act'), Buffer.from('ual')] }), expect: err(400, 'DIGEST_INVALID') },
    { name: 'monolithic POST with an empty ?digest= is 400 DIGEST_INVALID', request: plain('POST', `/v2/${BASE}/blobs/uploads/?digest=`, { body: 'x' }), expect: err(400, 'DIGEST_INVALID') },
    { name: 'monolithic POST with ?digest= given twice is 400 UNSUPPORTED', request: plain('POST', `/v2/${BASE}/blobs/uploads/?digest=${sha256('x')}&digest=${sha256('x')}`, { body: 'x' }), expect: err(400, 'UNSUPPORTED') },
    { name: 'POST with ?mount= given twice is 400 UNSUPPORTED', request: plain('POST', `/v2/${BASE}/blobs/uploads/?mount=${sha256(LAYER)}&mount=${sha256(LAYER)}`, { headers: { 'Content-Length': 0 } }), expect: err(400, 'UNSUPPORTED') },
    { name: 'POST with ?from= given twice is 400 UNSUPPORTED', request: plain('POST', `/v2/${BASE}/blobs/uploads/?mount=${sha256(OTHER_ONLY)}&from=${OTHER}&from=${OTHER}`, { headers: { 'Content-Length': 0 } }), expect: err(400, 'UNSUPPORTED') },
  ];

  // Upload ids that are not a live session of this repository.
  const badIds: [string, (fx: HostileFixture) => string][] = [
    ['not a UUID', () => 'abc'],
    ['dot-dot', () => '..'],
    ['encoded dot-dot', () => '%2e%2e'],
    ['the nil UUID', () => '00000000-0000-0000-0000-000000000000'],
    ['the live id in upper case', (fx) => fx.sessionId.toUpperCase()],
    ['the live id with a NUL', (fx) => `${fx.sessionId}%00`],
    ['the live id with a suffix', (fx) => `${fx.sessionId}x`],
    ['the live id without dashes', (fx) => fx.sessionId.replace(/-/g, '')],
    ['the live id with encoded dashes', (fx) => fx.sessionId.replace(/-/g, '%2D')],
    ['an encoded traversal to LevelDB', () => '..%2f..%2fmetadata%2fCURRENT'],
    ['a put- temp file name', (fx) => `put-${fx.sessionId}`],
    ['an encoded traversal to a blob', () => `..%2f..%2fblobs%2fsha256%2f${sha256(LAYER).slice(7, 9)}%2f${sha256(LAYER).slice(7)}`],
  ];
  const methods: [string, (path: string) => WireRequest][] = [
    ['GET', (p) => ({ method: 'GET', path: p })],
    ['PATCH', (p) => ({ method: 'PATCH', path: p, headers: { 'Content-Range': '10-12' }, body: 'abc' })],
    ['PUT', (p) => ({ method: 'PUT', path: `${p}?digest=${sha256('abc')}`, body: 'abc' })],
    ['DELETE', (p) => ({ method: 'DELETE', path: p })],
  ];
  badIds.forEach(([why, id], i) => {
    for (let k = 0; k < 2; k++) {
      const [m, build] = methods[(i + k) % methods.length]!;
      cases.push({ name: `upload id ${why}: ${m} is 404 BLOB_UPLOAD_UNKNOWN`, request: (fx) => build(`/v2/${BASE}/blobs/uploads/${id(fx)}`), expect: err(404, 'BLOB_UPLOAD_UNKNOWN') });
    }
  });
  // The live session through another repository: unknown there, and untouched (checked after the attack).
  for (const [m, build] of methods) {
    cases.push({ name: `the live upload through ${OTHER}: ${m} is 404 BLOB_UPLOAD_UNKNOWN`, request: (fx) => build(`/v2/${OTHER}/blobs/uploads/${fx.sessionId}`), expect: err(404, 'BLOB_UPLOAD_UNKNOWN') });
  }
  cases.push({ name: 'the live upload through an unknown repository: DELETE is 404 BLOB_UPLOAD_UNKNOWN', request: (fx) => ({ method: 'DELETE', path: `/v2/hostile/nowhere/blobs/uploads/${fx.sessionId}` }), expect: err(404, 'BLOB_UPLOAD_UNKNOWN') });
  return cases;
}

// ---- manifests

export function manifestCases(): HostileCase[] {
  const put = (body: Buffer | string, contentType: string | undefined = OCI_MANIFEST, reference = 'hostile') => (): WireRequest => ({
    method: 'PUT',
    path: `/v2/${BASE}/manifests/${reference}`,
    headers: contentType === undefined ? {} : { 'Content-Type': contentType },
    body,
  });
  const cfg = desc(OCI_CONFIG, CONFIG);
  const layer = desc(OCI_LAYER, LAYER);
  const image = (over: Record<string, unknown>) => json({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: cfg, layers: [layer], ...over });
  const invalid: [string, Buffer | string, string | undefined][] = [
    ['an unterminated object', '{', OCI_MANIFEST],
    ['plain text', 'not json at all', OCI_MANIFEST],
    ['an empty body', '', OCI_MANIFEST],
    ['JSON null', 'null', OCI_MANIFEST],
    ['a JSON array', '[]', OCI_MANIFEST],
    ['a JSON string', '"manifest"', OCI_MANIFEST],
    ['a JSON number', '123', OCI_MANIFEST],
    ['JSON true', 'true', OCI_MANIFEST],
    ['a byte-order mark before the JSON', Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), MANIFEST]), OCI_MANIFEST],
    ['invalid UTF-8', Buffer.from([0xff, 0xfe, 0x7b, 0x7d]), OCI_MANIFEST],
    ['trailing garbage after the JSON', Buffer.concat([MANIFEST, Buffer.from('x')]), OCI_MANIFEST],
    ['50,000 nested arrays', '['.repeat(50_000) + ']'.repeat(50_000), OCI_MANIFEST],
    ['a schema 1 signed Content-Type', image({ mediaType: undefined }), 'application/vnd.docker.distribution.manifest.v1+prettyjws'],
    ['a schema 1 mediaType in the body', json({ schemaVersion: 1, mediaType: 'application/vnd.docker.distribution.manifest.v1+json', name: BASE, tag: 'x', fsLayers: [], history: [] }), undefined],
    ['schemaVersion 1 with an OCI Content-Type', image({ schemaVersion: 1 }), OCI_MANIFEST],
    ['schemaVersion 3', image({ schemaVersion: 3 }), OCI_MANIFEST],
    ['schemaVersion as a string', image({ schemaVersion: '2' }), OCI_MANIFEST],
    ['no schemaVersion', image({ schemaVersion: undefined }), OCI_MANIFEST],
    ['a body mediaType (index) contradicting the Content-Type', image({ mediaType: OCI_INDEX }), OCI_MANIFEST],
    ['a body mediaType (docker) contradicting the Content-Type', image({}), DOCKER_MANIFEST],
    ['an unknown body mediaType and no Content-Type', image({ mediaType: 'application/x-evil' }), undefined],
    ['an HTML body mediaType under application/json', image({ mediaType: 'text/html' }), 'application/json'],
    ['no config', image({ config: undefined }), OCI_MANIFEST],
    ['config as a string', image({ config: 'sha256:abc' }), OCI_MANIFEST],
    ['a config digest that is not a digest', image({ config: { ...cfg, digest: 'sha256:zz' } }), OCI_MANIFEST],
    ['an md5 config digest', image({ config: { ...cfg, digest: `md5:${hex(32)}` } }), OCI_MANIFEST],
    ['an upper-case config digest', image({ config: { ...cfg, digest: cfg.digest.toUpperCase() } }), OCI_MANIFEST],
    ['a negative config size', image({ config: { ...cfg, size: -1 } }), OCI_MANIFEST],
    ['a config size as a string', image({ config: { ...cfg, size: String(cfg.size) } }), OCI_MANIFEST],
    ['a fractional config size', image({ config: { ...cfg, size: 1.5 } }), OCI_MANIFEST],
    ['a config size beyond 2^53', image({ config: { ...cfg, size: 2 ** 60 } }), OCI_MANIFEST],
    ['an empty config mediaType', image({ config: { ...cfg, mediaType: '' } }), OCI_MANIFEST],
    ['layers as an object', image({ layers: { 0: layer } }), OCI_MANIFEST],
    ['a null layer', image({ layers: [null] }), OCI_MANIFEST],
    ['a layer digest with a traversal', image({ layers: [{ ...layer, digest: 'sha256:../../../etc/passwd' }] }), OCI_MANIFEST],
    ['a negative layer size', image({ layers: [{ ...layer, size: -100 }] }), OCI_MANIFEST],
    ['annotations that are not strings', image({ annotations: { a: 1 } }), OCI_MANIFEST],
    ['an artifactType that is a number', image({ artifactType: 5 }), OCI_MANIFEST],
    ['a subject with a bad digest', image({ subject: { mediaType: OCI_MANIFEST, digest: 'sha256:nope', size: 1 } }), OCI_MANIFEST],
    ['an index whose manifests is not an array', json({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: 'all of them' }), OCI_INDEX],
    ['an index child with a negative size', json({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [{ ...desc(OCI_MANIFEST, MANIFEST), size: -1 }] }), OCI_INDEX],
  ];
  const cases: HostileCase[] = invalid.map(([why, body, type]) => ({
    name: `manifest with ${why} is 400 MANIFEST_INVALID`,
    request: put(body, type),
    expect: err(400, 'MANIFEST_INVALID'),
  }));

  const big = (4 << 20) + 1;
  const paddedValid = image({ annotations: { pad: 'p'.repeat(big) } });
  cases.push(
    { name: 'manifest of 4 MiB + 1 with Content-Length is 413 MANIFEST_INVALID', request: put(Buffer.alloc(big, 0x20)), expect: err(413, 'MANIFEST_INVALID') },
    { name: 'manifest of 4 MiB + 1, chunked, is 413 MANIFEST_INVALID', request: () => ({ method: 'PUT', path: `/v2/${BASE}/manifests/hostile`, headers: { 'Content-Type': OCI_MANIFEST }, chunks: [Buffer.alloc(4 << 20, 0x20), Buffer.from(' ')] }), expect: err(413, 'MANIFEST_INVALID') },
    { name: 'well-formed manifest padded past 4 MiB with annotations is 413 MANIFEST_INVALID', request: put(paddedValid), expect: err(413, 'MANIFEST_INVALID') },
    { name: 'manifest whose config was never pushed is 400 MANIFEST_BLOB_UNKNOWN', request: put(image({ config: { ...cfg, digest: NEVER_PUSHED } })), expect: err(400, 'MANIFEST_BLOB_UNKNOWN') },
    { name: 'manifest whose layer was never pushed is 400 MANIFEST_BLOB_UNKNOWN', request: put(image({ layers: [layer, { ...layer, digest: NEVER_PUSHED }] })), expect: err(400, 'MANIFEST_BLOB_UNKNOWN') },
    { name: 'manifest whose config only OTHER holds is 400 MANIFEST_BLOB_UNKNOWN', request: put(image({ config: desc(OCI_CONFIG, OTHER_ONLY) })), expect: err(400, 'MANIFEST_BLOB_UNKNOWN') },
    { name: 'manifest whose layer is a sha512 never pushed is 400 MANIFEST_BLOB_UNKNOWN', request: put(image({ layers: [{ ...layer, digest: `sha512:${hex(128, 'c')}` }] })), expect: err(400, 'MANIFEST_BLOB_UNKNOWN') },
    { name: 'index whose child manifest was never pushed is 400 MANIFEST_BLOB_UNKNOWN', request: put(json({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [{ mediaType: OCI_MANIFEST, digest: NEVER_PUSHED, size: 10 }] }), OCI_INDEX), expect: err(400, 'MANIFEST_BLOB_UNKNOWN') },
    { name: "index whose child is OTHER's manifest is 400 MANIFEST_BLOB_UNKNOWN", request: put(json({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [desc(OCI_MANIFEST, OTHER_MANIFEST)] }), OCI_INDEX), expect: err(400, 'MANIFEST_BLOB_UNKNOWN') },
    { name: 'manifest PUT by a digest of other bytes is 400 DIGEST_INVALID', request: put(MANIFEST, OCI_MANIFEST, sha256(OTHER_MANIFEST)), expect: err(400, 'DIGEST_INVALID') },
    { name: 'manifest PUT by a sha512 digest of other bytes is 400 DIGEST_INVALID', request: put(MANIFEST, OCI_MANIFEST, `sha512:${hex(128, 'd')}`), expect: err(400, 'DIGEST_INVALID') },
    { name: 'manifest PUT by its digest with a trailing space added is 400 DIGEST_INVALID', request: put(Buffer.concat([MANIFEST, Buffer.from(' ')]), OCI_MANIFEST, sha256(MANIFEST)), expect: err(400, 'DIGEST_INVALID') },
    { name: 'manifest PUT by a malformed digest is 400 DIGEST_INVALID', request: put(MANIFEST, OCI_MANIFEST, `sha256:${hex(10)}`), expect: err(400, 'DIGEST_INVALID') },
  );
  return cases;
}

// ---- query strings, methods, endpoints

export function queryCases(): HostileCase[] {
  const pagination: [string, string][] = [
    ['n=-1', 'n=-1'],
    ['n=abc', 'n=abc'],
    ['n=1.5', 'n=1.5'],
    ['n=1e3', 'n=1e3'],
    ['an empty n', 'n='],
    ['n=0x10', 'n=0x10'],
    ['n of ten digits', 'n=9999999999'],
    ['an encoded minus', 'n=%2D1'],
    ['n=NUL', 'n=%00'],
  ];
  const cases: HostileCase[] = [];
  for (const [why, q] of pagination) {
    cases.push({ name: `tag list with ${why} is 400 PAGINATION_NUMBER_INVALID`, request: plain('GET', `/v2/${BASE}/tags/list?${q}`), expect: err(400, 'PAGINATION_NUMBER_INVALID') });
  }
  for (const [why, q] of pagination.slice(0, 4)) {
    cases.push({ name: `catalog with ${why} is 400 PAGINATION_NUMBER_INVALID`, request: plain('GET', `/v2/_catalog?${q}`), expect: err(400, 'PAGINATION_NUMBER_INVALID') });
  }
  cases.push(
    { name: 'tag list with n given twice is 400 UNSUPPORTED', request: plain('GET', `/v2/${BASE}/tags/list?n=1&n=2`), expect: err(400, 'UNSUPPORTED') },
    { name: 'tag list with last given twice is 400 UNSUPPORTED', request: plain('GET', `/v2/${BASE}/tags/list?last=a&last=b`), expect: err(400, 'UNSUPPORTED') },
    { name: 'catalog with n given twice is 400 UNSUPPORTED', request: plain('GET', '/v2/_catalog?n=1&n=1'), expect: err(400, 'UNSUPPORTED') },
    { name: 'catalog with last given twice is 400 UNSUPPORTED', request: plain('GET', '/v2/_catalog?last=a&last=b'), expect: err(400, 'UNSUPPORTED') },
    { name: 'referrers with artifactType given twice is 400 UNSUPPORTED', request: plain('GET', `/v2/${BASE}/referrers/${sha256(MANIFEST)}?artifactType=a&artifactType=b`), expect: err(400, 'UNSUPPORTED') },
    { name: 'tag list of an unknown repository is 404 NAME_UNKNOWN', request: plain('GET', '/v2/hostile/nowhere/tags/list'), expect: err(404, 'NAME_UNKNOWN') },
  );
  return cases;
}

export function methodCases(): HostileCase[] {
  const d = sha256(LAYER);
  const m = sha256(MANIFEST);
  const wrong: [string, string | ((fx: HostileFixture) => string)][] = [
    ['POST', '/v2/'],
    ['PUT', '/v2/'],
    ['DELETE', '/v2/'],
    ['OPTIONS', '/v2/'],
    ['TRACE', '/v2/'],
    ['POST', '/v2/_catalog'],
    ['DELETE', '/v2/_catalog'],
    ['PUT', `/v2/${BASE}/tags/list`],
    ['DELETE', `/v2/${BASE}/tags/list`],
    ['PROPFIND', `/v2/${BASE}/tags/list`],
    ['POST', `/v2/${BASE}/manifests/v1`],
    ['PATCH', `/v2/${BASE}/manifests/v1`],
    ['PUT', `/v2/${BASE}/blobs/${d}`],
    ['POST', `/v2/${BASE}/blobs/${d}`],
    ['PATCH', `/v2/${BASE}/blobs/${d}`],
    ['GET', `/v2/${BASE}/blobs/uploads/`],
    ['PUT', `/v2/${BASE}/blobs/uploads/`],
    ['DELETE', `/v2/${BASE}/blobs/uploads/`],
    ['POST', (fx) => `/v2/${BASE}/blobs/uploads/${fx.sessionId}`],
    ['PUT', `/v2/${BASE}/referrers/${m}`],
    ['DELETE', `/v2/${BASE}/referrers/${m}`],
    ['MKCOL', `/v2/${BASE}/manifests/v1`],
  ];
  const cases: HostileCase[] = wrong.map(([method, path]) => ({
    name: `${method} ${typeof path === 'string' ? path : `/v2/${BASE}/blobs/uploads/<live>`} is 405 UNSUPPORTED with Allow`,
    request: (fx) => ({ method, path: typeof path === 'string' ? path : path(fx), headers: { 'Content-Length': 0 } }),
    expect: err(405, 'UNSUPPORTED'),
  }));
  const nowhere = [
    `/v2/${BASE}`,
    `/v2/${BASE}/`,
    `/v2/${BASE}/blobs/`,
    `/v2/${BASE}/manifests/v1/extra`,
    `/v2/${BASE}/tags`,
    `/v2/${BASE}/tags/list/x`,
    `/v2/${BASE}/referrers/`,
    '/v2x',
    '/v3/',
    '/foo',
    '/../etc/passwd',
    '/%2e%2e/%2e%2e/etc/passwd',
    '/auth/token',
    '/healthz/..',
  ];
  for (const path of nowhere) cases.push({ name: `GET ${path} is 404 NOT_FOUND`, request: plain('GET', path), expect: err(404, 'NOT_FOUND') });
  return cases;
}

/** Requests Node's HTTP parser refuses before any handler runs: the error JSON (UNSUPPORTED with the parser's status), the connection closed. */
export function wireCases(): HostileCase[] {
  const req = (lines: string[], body = '') => lines.join('\r\n') + '\r\n\r\n' + body;
  const raw = (name: string, bytes: string | Buffer, status: number) => ({ name, request: () => ({ method: 'RAW', path: '', raw: bytes }), expect: { status, code: 'UNSUPPORTED', closes: true } });
  return [
    raw('request line with a raw space in the path is 400', req(['GET /v2/a b/tags/list HTTP/1.1', 'Host: x', 'Connection: close']), 400),
    raw('request line with raw UTF-8 in the path is 400', Buffer.concat([Buffer.from('GET /v2/hostile/b'), Buffer.from('äse', 'utf8'), Buffer.from('/tags/list HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')]), 400),
    raw('unknown method FOO is 400', req(['FOO /v2/ HTTP/1.1', 'Host: x', 'Connection: close']), 400),
    raw('missing Host header is 400', req(['GET /v2/ HTTP/1.1', 'Connection: close']), 400),
    raw('Content-Length together with Transfer-Encoding (smuggling) is 400', req([`PATCH /v2/${BASE}/blobs/uploads/x HTTP/1.1`, 'Host: x', 'Content-Length: 3', 'Transfer-Encoding: chunked', 'Connection: close'], '0\r\n\r\n'), 400),
    raw('two different Content-Length headers is 400', req([`PUT /v2/${BASE}/manifests/x HTTP/1.1`, 'Host: x', 'Content-Length: 3', 'Content-Length: 5', 'Connection: close'], 'abcde'), 400),
    raw('a negative Content-Length is 400', req([`PUT /v2/${BASE}/manifests/x HTTP/1.1`, 'Host: x', 'Content-Length: -1', 'Connection: close']), 400),
    raw('a non-numeric Content-Length is 400', req([`PUT /v2/${BASE}/manifests/x HTTP/1.1`, 'Host: x', 'Content-Length: abc', 'Connection: close']), 400),
    raw('a header name with a space is 400', req(['GET /v2/ HTTP/1.1', 'Host: x', 'Bad Header: x', 'Connection: close']), 400),
    raw('a header value with a bare LF injecting a header is 400', 'GET /v2/ HTTP/1.1\r\nHost: x\r\nX-A: a\nX-Injected: yes\r\nConnection: close\r\n\r\n', 400),
    raw('a header value with a NUL is 400', req(['GET /v2/ HTTP/1.1', 'Host: x', 'X-A: a\0b', 'Connection: close']), 400),
    raw('an obs-fold continuation line is 400', req(['GET /v2/ HTTP/1.1', 'Host: x', 'X-A: a', ' folded', 'Connection: close']), 400),
    raw('Transfer-Encoding other than chunked last (smuggling) is 400', req([`PATCH /v2/${BASE}/blobs/uploads/x HTTP/1.1`, 'Host: x', 'Transfer-Encoding: chunked, identity', 'Connection: close'], '0\r\n\r\n'), 400),
    raw('a chunk size that is not hex is 400', req([`PUT /v2/${BASE}/manifests/x HTTP/1.1`, 'Host: x', 'Transfer-Encoding: chunked', 'Connection: close'], 'zz\r\nabc\r\n0\r\n\r\n'), 400),
    raw('an unknown HTTP version is 505 or 400', req(['GET /v2/ HTTP/9.9', 'Host: x', 'Connection: close']), 400),
    raw('a path of 20,000 characters is 431', req([`GET /v2/${'a'.repeat(20_000)}/tags/list HTTP/1.1`, 'Host: x', 'Connection: close']), 431),
    raw('a header of 20,000 characters is 431', req(['GET /v2/ HTTP/1.1', 'Host: x', `X-Big: ${'b'.repeat(20_000)}`, 'Connection: close']), 431),
  ];
}

export function openModeCases(): HostileCase[] {
  return [...nameCases(), ...tagCases(), ...digestCases(), ...uploadCases(), ...manifestCases(), ...queryCases(), ...methodCases()];
}
