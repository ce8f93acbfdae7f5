/**
 * A Distribution v2 (OCI distribution-spec) client for pulling: manifests and blobs, with
 * the registry auth challenge flow and digest verification of everything it returns.
 *
 * Auth (Docker token spec): a request answered 401 carries `WWW-Authenticate`.
 *   Bearer realm=..,service=..,scope=.. -> GET realm?service=&scope= (Basic credentials
 *                                          if given), retry with `Authorization: Bearer`
 *   Basic realm=..                      -> retry with `Authorization: Basic`
 * Tokens are cached per scope for the client's lifetime (a pull is short).
 */
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import type { Digest } from './names.js';
import { digestAlgorithm, digestHex, parseDigest } from './names.js';
import { DigestMismatchError, SizeMismatchError } from './errors.js';
import { MAX_CONFIG_BYTES, MAX_MANIFEST_BYTES } from './limits.js';
import { MANIFEST_ACCEPT, MediaTypes } from './media-types.js';

export { DigestMismatchError, SizeMismatchError } from './errors.js';

export interface Credentials {
  username: string;
  password: string;
}

export interface RegistryClientOptions {
  /** host[:port] */
  registry: string;
  /** default: http for localhost and loopback addresses (as Docker treats them insecure), else https */
  scheme?: 'http' | 'https';
  credentials?: Credentials;
  userAgent?: string;
}

export class RegistryError extends Error {
  override name = 'RegistryError';
  constructor(
    message: string,
    readonly status?: number,
    /** the spec's error code from the `{"errors":[…]}` body, when there is one */
    readonly code?: string,
  ) {
    super(message);
  }
}

export class UnauthorizedError extends RegistryError {
  override name = 'UnauthorizedError';
}

export interface FetchedManifest {
  bytes: Buffer;
  mediaType: string;
  /** sha256 of the bytes, verified against the requested digest or Docker-Content-Digest */
  digest: Digest;
}

export function defaultScheme(registry: string): 'http' | 'https' {
  const host = registry.replace(/:\d+$/, '').replace(/^\[|\]$/g, '');
  return host === 'localhost' || host.startsWith('127.') || host === '::1' ? 'http' : 'https';
}

interface Challenge {
  scheme: string;
  params: Record<string, string>;
}

/** Parse `WWW-Authenticate: Bearer realm="…",service="…"` (one challenge; the first). */
export function parseChallenge(header: string): Challenge | undefined {
  const m = /^\s*([A-Za-z]+)\s*(.*)$/.exec(header);
  if (!m) return undefined;
  const params: Record<string, string> = {};
  const re = /([A-Za-z_]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))/g;
  for (const p of m[2]!.matchAll(re)) params[p[1]!.toLowerCase()] = p[2] !== undefined ? p[2].replace(/\\(.)/g, '$1') : p[3]!;
  return { scheme: m[1]!.toLowerCase(), params };
}

/**
 * Check digest and size of a stream as it passes; fails at the end (or as soon as it is
 * too long). A generator, so nothing is read (and no error raised) before a consumer pulls.
 */
export async function* verifyDigest(
  source: AsyncIterable<Uint8Array>,
  digest: Digest,
  size: number | undefined,
  what: string,
): AsyncGenerator<Buffer> {
  const hash = createHash(digestAlgorithm(digest));
  let bytes = 0;
  for await (const c of source) {
    const chunk = Buffer.isBuffer(c) ? c : Buffer.from(c.buffer, c.byteOffset, c.byteLength);
    bytes += chunk.length;
    if (size !== undefined && bytes > size) throw SizeMismatchError.of(size, bytes, what);
    hash.update(chunk);
    yield chunk;
  }
  if (size !== undefined && bytes !== size) throw SizeMismatchError.of(size, bytes, what);
  const actual = hash.digest('hex');
  if (actual !== digestHex(digest)) throw new DigestMismatchError(digest, `${digestAlgorithm(digest)}:${actual}`, what);
}

export class RegistryClient {
  readonly baseUrl: string;
  private readonly tokens = new Map<string, string>();
  private basicAuth = false;

  constructor(private readonly opts: RegistryClientOptions) {
    this.baseUrl = `${opts.scheme ?? defaultScheme(opts.registry)}://${opts.registry}`;
  }

  /** GET a manifest by tag or digest; verified. */
  async getManifest(repository: string, reference: string): Promise<FetchedManifest> {
    const res = await this.request(repository, `/v2/${repository}/manifests/${reference}`, { accept: MANIFEST_ACCEPT });
    const what = `manifest ${repository}:${reference}`;
    const length = Number(res.headers.get('content-length') ?? '0');
    if (length > MAX_MANIFEST_BYTES) {
      await res.body?.cancel();
      throw new RegistryError(`${what} is larger than ${MAX_MANIFEST_BYTES} bytes`);
    }
    const bytes = await readLimited(res, MAX_MANIFEST_BYTES, what);
    const mediaType = (res.headers.get('content-type') ?? '').split(';')[0]!.trim() || mediaTypeFromBody(bytes);
    const requested = parseDigest(reference);
    const claimed = parseDigest(res.headers.get('docker-content-digest') ?? '');
    for (const expected of [requested, claimed]) {
      if (!expected) continue;
      const actual = `${digestAlgorithm(expected)}:${createHash(digestAlgorithm(expected)).update(bytes).digest('hex')}`;
      if (actual !== expected) throw new DigestMismatchError(expected, actual, what);
    }
    const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}` as Digest;
    return { bytes, mediaType, digest };
  }

  /** A blob as a stream that errors (DigestMismatchError/SizeMismatchError) unless it is exactly `digest`. */
  async getBlob(repository: string, digest: Digest, size?: number): Promise<Readable> {
    const res = await this.request(repository, `/v2/${repository}/blobs/${digest}`, {});
    if (!res.body) throw new RegistryError(`blob ${digest}: empty response`, res.status);
    const body = res.body as unknown as AsyncIterable<Uint8Array>;
    return Readable.from(verifyDigest(body, digest, size, `blob ${digest}`), { objectMode: false });
  }

  /** A small blob (an image config) in memory, verified against digest and size. */
  async getBlobBytes(repository: string, digest: Digest, size: number): Promise<Buffer> {
    if (size > MAX_CONFIG_BYTES) throw new RegistryError(`blob ${digest} is larger than ${MAX_CONFIG_BYTES} bytes`);
    const chunks: Buffer[] = [];
    for await (const c of await this.getBlob(repository, digest, size)) chunks.push(c as Buffer);
    return Buffer.concat(chunks);
  }

  private authHeader(scope: string): string | undefined {
    const token = this.tokens.get(scope);
    if (token) return `Bearer ${token}`;
    if (this.basicAuth && this.opts.credentials) return basic(this.opts.credentials);
    return undefined;
  }

  /** One GET with the challenge flow: at most one retry after authenticating. */
  private async request(repository: string, path: string, headers: Record<string, string>): Promise<Response> {
    const scope = `repository:${repository}:pull`;
    const url = `${this.baseUrl}${path}`;
    const send = () => {
      const h: Record<string, string> = { ...headers, 'user-agent': this.opts.userAgent ?? 'wharf' };
      const auth = this.authHeader(scope);
      if (auth) h.authorization = auth;
      return fetch(url, { headers: h, redirect: 'follow' });
    };
    let res = await send();
    if (res.status === 401) {
      await res.body?.cancel();
      const challenge = parseChallenge(res.headers.get('www-authenticate') ?? '');
      if (!challenge) throw new UnauthorizedError(`${url}: 401 without a usable WWW-Authenticate challenge`, 401, 'UNAUTHORIZED');
      await this.authenticate(challenge, scope);
      res = await send();
    }
    if (res.ok) return res;
    const body = await res.text().catch(() => '');
    let code: string | undefined;
    let message = body.slice(0, 300);
    try {
      const err = (JSON.parse(body) as { errors?: Array<{ code?: string; message?: string }> }).errors?.[0];
      if (err) {
        code = err.code;
        message = `${err.code ?? ''} ${err.message ?? ''}`.trim();
      }
    } catch {
      /* not JSON */
    }
    const Cls = res.status === 401 ? UnauthorizedError : RegistryError;
    throw new Cls(`GET ${url}: HTTP ${res.status}${message ? `: ${message}` : ''}`, res.status, code);
  }

  private async authenticate(challenge: Challenge, scope: string): Promise<void> {
    if (challenge.scheme === 'basic') {
      if (!this.opts.credentials) throw new UnauthorizedError(`${this.opts.registry} requires credentials (Basic auth)`, 401, 'UNAUTHORIZED');
      this.basicAuth = true;
      return;
    }
    if (challenge.scheme !== 'bearer') throw new UnauthorizedError(`unsupported auth scheme "${challenge.scheme}"`, 401);
    const realm = challenge.params.realm;
    if (!realm) throw new UnauthorizedError('Bearer challenge without a realm', 401);
    const tokenUrl = new URL(realm);
    if (challenge.params.service) tokenUrl.searchParams.set('service', challenge.params.service);
    tokenUrl.searchParams.set('scope', challenge.params.scope ?? scope);
    const headers: Record<string, string> = { 'user-agent': this.opts.userAgent ?? 'wharf' };
    if (this.opts.credentials) headers.authorization = basic(this.opts.credentials);
    const res = await fetch(tokenUrl, { headers });
    if (!res.ok) {
      await res.body?.cancel();
      throw new UnauthorizedError(`token request to ${tokenUrl.origin}${tokenUrl.pathname} failed: HTTP ${res.status}`, res.status, 'UNAUTHORIZED');
    }
    const body = (await res.json()) as { token?: string; access_token?: string };
    const token = body.token ?? body.access_token;
    if (!token) throw new UnauthorizedError(`token endpoint ${tokenUrl.origin}${tokenUrl.pathname} returned no token`, 401);
    this.tokens.set(scope, token);
  }
}

function basic(c: Credentials): string {
  return `Basic ${Buffer.from(`${c.username}:${c.password}`).toString('base64')}`;
}

async function readLimited(res: Response, limit: number, what: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let n = 0;
  if (!res.body) return Buffer.alloc(0);
  for await (const c of res.body as unknown as AsyncIterable<Uint8Array>) {
    n += c.length;
    if (n > limit) throw new RegistryError(`${what} is larger than ${limit} bytes`);
    chunks.push(Buffer.from(c));
  }
  return Buffer.concat(chunks);
}

function mediaTypeFromBody(bytes: Buffer): string {
  try {
    const m = JSON.parse(bytes.toString('utf8')) as { mediaType?: string; manifests?: unknown };
    return m.mediaType ?? (m.manifests ? MediaTypes.ociIndex : MediaTypes.ociManifest);
  } catch {
    return '';
  }
}
