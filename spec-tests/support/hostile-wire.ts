/**
 * The wire side of the hostile-input suite: requests sent byte for byte over real
 * sockets (node:http with the path untouched, or node:net for what node:http refuses to
 * send), the check of an error answer, and a snapshot of everything a registry stores.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { connect } from 'node:net';
import { join } from 'node:path';

export interface WireRequest {
  method: string;
  /** sent as is: no URL parsing, no normalisation of `..` or percent-escapes */
  path: string;
  headers?: Record<string, string | number | string[]>;
  /** sent with Content-Length (unless headers say otherwise) */
  body?: Buffer | string;
  /** sent one write each, chunked unless a Content-Length header is given */
  chunks?: Buffer[];
  /** the whole request as bytes over node:net (for what node:http will not send) */
  raw?: Buffer | string;
}

export interface WireResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
  text: string;
}

export function sha256(bytes: Buffer | string): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

/** One request on its own connection; resolves with the answer even if the server closes while we still send. */
export function send(port: number, r: WireRequest): Promise<WireResponse> {
  if (r.raw !== undefined) return sendRaw(port, r.raw);
  return new Promise<WireResponse>((resolve, reject) => {
    let answered: WireResponse | undefined;
    const req = httpRequest({ host: '127.0.0.1', port, method: r.method, path: r.path, headers: r.headers ?? {}, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const body = Buffer.concat(chunks);
        answered = { status: res.statusCode ?? 0, headers: res.headers, body, text: body.toString('utf8') };
        resolve(answered);
      });
      res.on('error', (err) => (answered ? resolve(answered) : reject(err)));
    });
    // The server may answer and close before the whole body went out (EPIPE/ECONNRESET).
    req.on('error', (err) => setTimeout(() => (answered ? resolve(answered) : reject(err)), 50));
    if (r.body !== undefined) {
      req.end(r.body);
    } else {
      for (const c of r.chunks ?? []) req.write(c);
      req.end();
    }
  });
}

/** Raw bytes over a socket; the answer is read until the server closes (send `Connection: close`). */
export function sendRaw(port: number, bytes: Buffer | string): Promise<WireResponse> {
  return new Promise<WireResponse>((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      const all = Buffer.concat(chunks);
      const split = all.indexOf('\r\n\r\n');
      if (split < 0) return reject(new Error(`no HTTP answer: ${JSON.stringify(all.toString('latin1').slice(0, 200))}`));
      const [statusLine, ...lines] = all.subarray(0, split).toString('latin1').split('\r\n');
      const headers: IncomingHttpHeaders = {};
      for (const line of lines) {
        const colon = line.indexOf(':');
        headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
      }
      const body = all.subarray(split + 4);
      resolve({ status: Number(statusLine!.split(' ')[1]), headers, body, text: body.toString('utf8') });
    });
    socket.write(bytes);
  });
}

/**
 * What a hostile request must get back. `closes`: refused before express saw it (by
 * Node's HTTP parser), so the connection must be closed too. HEAD answers carry no body.
 */
export interface Expectation {
  status: number;
  code: string;
  closes?: boolean;
  /** the scheme of the WWW-Authenticate challenge a 401 must carry */
  challenge?: 'Basic' | 'Bearer';
  /** Bearer challenge error parameter */
  tokenError?: 'invalid_token' | 'insufficient_scope';
  headers?: Record<string, RegExp>;
}

export function assertAnswer(res: WireResponse, want: Expectation, method: string): void {
  const shown = `${res.status} ${JSON.stringify(res.headers)} ${res.text.slice(0, 400)}`;
  assert.equal(res.status, want.status, `expected ${want.status} ${want.code}, got ${shown}`);
  // Nothing a request carried may come back as a header of its own (CRLF injection).
  assert.equal(res.headers['x-injected'], undefined, `injected header echoed: ${shown}`);
  if (want.closes) assert.equal(res.headers.connection, 'close', `a refused request must close the connection: ${shown}`);
  if (method === 'HEAD') {
    assert.equal(res.body.length, 0);
    assert.match(String(res.headers['content-type']), /^application\/json/, shown);
  } else {
    assert.match(String(res.headers['content-type']), /^application\/json/, shown);
    const parsed = JSON.parse(res.text) as { errors?: { code?: unknown; message?: unknown }[] };
    assert.ok(Array.isArray(parsed.errors) && parsed.errors.length > 0, `no errors array: ${shown}`);
    for (const e of parsed.errors) {
      assert.equal(typeof e.code, 'string', shown);
      assert.equal(typeof e.message, 'string', shown);
    }
    assert.equal(parsed.errors[0]!.code, want.code, shown);
  }
  if (want.status === 405) assert.ok(res.headers.allow, `405 without Allow: ${shown}`);
  if (want.challenge) {
    const challenge = String(res.headers['www-authenticate'] ?? '');
    assert.ok(challenge.startsWith(`${want.challenge} realm="`), `expected a ${want.challenge} challenge, got "${challenge}"`);
    if (want.challenge === 'Bearer') assert.match(challenge, /,service="[^"]+"/);
    if (want.tokenError) assert.ok(challenge.includes(`error="${want.tokenError}"`), `expected error="${want.tokenError}" in "${challenge}"`);
  } else if (want.status === 401) {
    assert.fail('a 401 expectation must name its challenge');
  }
  for (const [name, re] of Object.entries(want.headers ?? {})) {
    assert.match(String(res.headers[name.toLowerCase()] ?? ''), re, `header ${name}: ${shown}`);
  }
}

/** Every file under `dir` (relative path -> size and sha256), sorted. */
export async function treeOf(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const walk = async (rel: string): Promise<void> => {
    let entries;
    try {
      entries = await readdir(join(dir, rel), { withFileTypes: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw err;
    }
    for (const e of entries.sort((a, b) => a.name.localeCompare(b.name))) {
      const p = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) await walk(p);
      else {
        const bytes = await readFile(join(dir, p));
        out[p] = `${bytes.length} ${sha256(bytes)}`;
      }
    }
  };
  await walk('');
  return out;
}

/**
 * What the registry stores, as its API shows it: the catalog, each repository's tags,
 * each tag's manifest (digest, type, body hash), and each named blob's HEAD answer.
 */
export async function apiSnapshot(
  url: string,
  repos: string[],
  blobs: [string, string][],
  headers: Record<string, string> = {},
): Promise<Record<string, unknown>> {
  const get = async (path: string, method = 'GET') => {
    const res = await fetch(`${url}${path}`, { method, headers: { ...headers, Accept: '*/*' } });
    const body = Buffer.from(await res.arrayBuffer());
    return { status: res.status, digest: res.headers.get('docker-content-digest'), type: res.headers.get('content-type'), body };
  };
  const snap: Record<string, unknown> = {};
  snap.catalog = JSON.parse((await get('/v2/_catalog')).body.toString());
  for (const repo of repos) {
    const tags = await get(`/v2/${repo}/tags/list`);
    snap[`tags ${repo}`] = tags.status === 200 ? JSON.parse(tags.body.toString()) : tags.status;
    for (const tag of tags.status === 200 ? ((JSON.parse(tags.body.toString()) as { tags: string[] }).tags ?? []) : []) {
      const m = await get(`/v2/${repo}/manifests/${tag}`);
      snap[`manifest ${repo}:${tag}`] = { status: m.status, digest: m.digest, type: m.type, body: sha256(m.body) };
    }
  }
  for (const [repo, digest] of blobs) {
    const b = await get(`/v2/${repo}/blobs/${digest}`, 'HEAD');
    snap[`blob ${repo}@${digest}`] = b.status;
  }
  return snap;
}
