/**
 * The one Distribution v2 (OCI distribution-spec) client, used by the node's pulls and by
 * the proxy cache: manifests and blobs, the registry auth challenge flow, and digest
 * verification of everything it hands over as verified.
 *
 * Auth (Docker token spec): a request answered 401 carries `WWW-Authenticate`.
 *   Bearer realm=..,service=..,scope=.. -> GET realm?service=&scope= (Basic credentials
 *                                          if given), retry with `Authorization: Bearer`
 *   Basic realm=..                      -> retry with `Authorization: Basic`
 * The realm must be on the registry's own host, or be the one configured as `tokenRealm`:
 * a challenge never makes us call (let alone send credentials to) an arbitrary URL
 * (distribution's CVE-2026-33540). Redirects (blob storage) never carry Authorization to
 * another origin (undici drops it). Tokens are cached per scope; a 401 with a cached token
 * (expired) authenticates again once.
 *
 * Transport: undici's `request` (node streams, keep-alive pool), so a CA and timeouts can
 * be set per registry.
 */
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { Agent, request as undiciRequest, type Dispatcher } from 'undici';
import type { Digest } from './names.js';
import { digestAlgorithm, digestHex, parseDigest } from './names.js';
import { DigestMismatchError, SizeMismatchError } from './errors.js';
import { MAX_CONFIG_BYTES, MAX_MANIFEST_BYTES, MAX_TAG_LIST_BYTES } from './limits.js';
import { MANIFEST_ACCEPT, MediaTypes } from './media-types.js';
import { defaultTlsRoots } from './extra-ca.js';

export { DigestMismatchError, SizeMismatchError } from './errors.js';

export interface Credentials {
  username: string;
  password: string;
}

export interface RegistryClientOptions {
  /** host[:port] */
  registry: string;
  /** the base URL (scheme://host[:port]); default: from `registry` and `scheme` */
  url?: string;
  /** default: http for localhost and loopback addresses (as Docker treats them insecure), else https */
  scheme?: 'http' | 'https';
  credentials?: Credentials;
  userAgent?: string;
  /** PEM CA certificates to trust for this registry (and its token realm) instead of the system's */
  ca?: string | Buffer;
  /** a token endpoint on another host that this registry's challenges may name */
  tokenRealm?: string;
  /** ms to wait for response headers; default 30 s */
  headersTimeoutMs?: number;
  /** ms a response body may stall between chunks; default 60 s */
  bodyTimeoutMs?: number;
}

export class RegistryError extends Error {
  override name = 'RegistryError';
  constructor(
    message: string,
    readonly status?: number,
    /** the spec's error code from the `{"errors":[…]}` body, when there is one */
    readonly code?: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export class UnauthorizedError extends RegistryError {
  override name = 'UnauthorizedError';
}

/** The registry could not be reached or did not answer in time (refused, reset, DNS, timeout). */
export class RegistryUnreachableError extends RegistryError {
  override name = 'RegistryUnreachableError';
}

export interface FetchedManifest {
  bytes: Buffer;
  mediaType: string;
  /** sha256 of the bytes, verified against the requested digest or Docker-Content-Digest */
  digest: Digest;
}

export interface ManifestHead {
  digest: Digest;
  mediaType: string;
  size: number;
}

export interface BlobResponse {
  /** Content-Length, when the registry sent one */
  size: number | undefined;
  /** the raw bytes, NOT verified: the caller hashes them (e.g. an upload's running hash) */
  body: Readable;
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

type Response = Dispatcher.ResponseData;

function header(res: Response, name: string): string | undefined {
  const v = res.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

export class RegistryClient {
  readonly baseUrl: string;
  private readonly tokens = new Map<string, string>();
  private basicAuth = false;
  private readonly dispatcher: Dispatcher;

  constructor(private readonly opts: RegistryClientOptions) {
    this.baseUrl = (opts.url ?? `${opts.scheme ?? defaultScheme(opts.registry)}://${opts.registry}`).replace(/\/+$/, '');
    this.dispatcher = new Agent({
      headersTimeout: opts.headersTimeoutMs ?? 30_000,
      bodyTimeout: opts.bodyTimeoutMs ?? 60_000,
      connect: this.tlsOptions(),
    });
  }

  /** The CA given, else the roots of a process whose node left NODE_EXTRA_CA_CERTS out (extra-ca.ts), for HTTPS. */
  private tlsOptions(): { ca?: string | Buffer | string[] } {
    if (this.opts.ca) return { ca: this.opts.ca };
    const roots = this.baseUrl.startsWith('https:') ? defaultTlsRoots() : undefined;
    return roots ? { ca: roots } : {};
  }

  /** Drop the connection pool, aborting requests in flight (the proxy cache at shutdown). */
  async close(): Promise<void> {
    await this.dispatcher.destroy();
  }

  /** GET a manifest by tag or digest; verified. */
  async getManifest(repository: string, reference: string): Promise<FetchedManifest> {
    const res = await this.request('GET', repository, `/v2/${repository}/manifests/${reference}`, { accept: MANIFEST_ACCEPT });
    const what = `manifest ${repository}:${reference}`;
    const length = Number(header(res, 'content-length') ?? '0');
    if (length > MAX_MANIFEST_BYTES) {
      res.body.destroy();
      throw new RegistryError(`${what} is larger than ${MAX_MANIFEST_BYTES} bytes`);
    }
    const bytes = await readLimited(res.body, MAX_MANIFEST_BYTES, what);
    const mediaType = (header(res, 'content-type') ?? '').split(';')[0]!.trim() || mediaTypeFromBody(bytes);
    const requested = parseDigest(reference);
    const claimed = parseDigest(header(res, 'docker-content-digest') ?? '');
    for (const expected of [requested, claimed]) {
      if (!expected) continue;
      const actual = `${digestAlgorithm(expected)}:${createHash(digestAlgorithm(expected)).update(bytes).digest('hex')}`;
      if (actual !== expected) throw new DigestMismatchError(expected, actual, what);
    }
    const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}` as Digest;
    return { bytes, mediaType, digest };
  }

  /** HEAD a manifest: what a tag points at now, without its body. Undefined digest when the registry sends none. */
  async headManifest(repository: string, reference: string): Promise<Partial<ManifestHead>> {
    const res = await this.request('HEAD', repository, `/v2/${repository}/manifests/${reference}`, { accept: MANIFEST_ACCEPT });
    await res.body.dump();
    const out: Partial<ManifestHead> = {};
    const digest = parseDigest(header(res, 'docker-content-digest') ?? '');
    if (digest) out.digest = digest;
    const type = (header(res, 'content-type') ?? '').split(';')[0]!.trim();
    if (type) out.mediaType = type;
    const size = Number(header(res, 'content-length'));
    if (Number.isSafeInteger(size)) out.size = size;
    return out;
  }

  /** One page of GET tags/list (`n` at most, after `last`): the tag names. */
  async listTags(repository: string, n?: number, last?: string): Promise<string[]> {
    const query = new URLSearchParams();
    if (n !== undefined) query.set('n', String(n));
    if (last !== undefined) query.set('last', last);
    const q = query.toString();
    const res = await this.request('GET', repository, `/v2/${repository}/tags/list${q ? `?${q}` : ''}`, { accept: 'application/json' });
    const what = `tags of ${repository}`;
    let body: { tags?: unknown };
    try {
      body = JSON.parse((await readLimited(res.body, MAX_TAG_LIST_BYTES, what)).toString('utf8')) as { tags?: unknown };
    } catch (err) {
      if (err instanceof RegistryError) throw err;
      throw new RegistryError(`${what}: the registry answered no JSON`);
    }
    return Array.isArray(body.tags) ? body.tags.filter((t): t is string => typeof t === 'string') : [];
  }

  /** HEAD a blob: its size, or RegistryError (404: the registry does not have it). */
  async headBlob(repository: string, digest: Digest): Promise<{ size: number | undefined }> {
    const res = await this.request('HEAD', repository, `/v2/${repository}/blobs/${digest}`, {});
    await res.body.dump();
    const size = Number(header(res, 'content-length'));
    return { size: Number.isSafeInteger(size) ? size : undefined };
  }

  /** A blob's raw bytes and announced size, unverified (the caller hashes them as it stores them). */
  async openBlob(repository: string, digest: Digest): Promise<BlobResponse> {
    const res = await this.request('GET', repository, `/v2/${repository}/blobs/${digest}`, {});
    const size = Number(header(res, 'content-length'));
    return { size: Number.isSafeInteger(size) ? size : undefined, body: res.body };
  }

  /** A blob as a stream that errors (DigestMismatchError/SizeMismatchError) unless it is exactly `digest`. */
  async getBlob(repository: string, digest: Digest, size?: number): Promise<Readable> {
    const { body } = await this.openBlob(repository, digest);
    return Readable.from(verifyDigest(body, digest, size, `blob ${digest}`), { objectMode: false });
  }

  /** A small blob (an image config) in memory, verified against digest and size. */
  async getBlobBytes(repository: string, digest: Digest, size: number): Promise<Buffer> {
    if (size > MAX_CONFIG_BYTES) throw new RegistryError(`blob ${digest} is larger than ${MAX_CONFIG_BYTES} bytes`);
    const chunks: Buffer[] = [];
    for await (const c of await this.getBlob(repository, digest, size)) chunks.push(c as Buffer);
    return Buffer.concat(chunks);
  }

  /**
   * Check the credentials: GET /v2/ with the challenge flow (Basic, or a token for no
   * particular repository), as `docker login` does. UnauthorizedError when refused.
   */
  async ping(): Promise<void> {
    const res = await this.request('GET', '', '/v2/', {}, { scopes: [] });
    await res.body.dump();
  }

  /** A registry's `/v1/search?q=&n=` answer (Docker Hub's shape; Wharf serves it). */
  async search(term: string, limit: number): Promise<{ results: Array<{ name: string; description?: string; star_count?: number; is_official?: boolean; is_automated?: boolean }> }> {
    const q = new URLSearchParams({ q: term, n: String(limit) });
    const res = await this.request('GET', '', `/v1/search?${q}`, { accept: 'application/json' }, { scopes: ['registry:catalog:search'] });
    const body = await readLimited(res.body, 16 << 20, 'search results');
    try {
      return JSON.parse(body.toString('utf8')) as { results: [] };
    } catch {
      throw new RegistryError(`${this.opts.registry}: the search answer is not JSON`);
    }
  }

  /** HEAD a blob for a push: present (and its size) or not, never an error for a 404. */
  async blobExists(repository: string, digest: Digest): Promise<number | undefined> {
    const res = await this.request('HEAD', repository, `/v2/${repository}/blobs/${digest}`, {}, { scopes: pushScopes(repository), accept: [404] });
    await res.body.dump();
    if (res.statusCode === 404) return undefined;
    const size = Number(header(res, 'content-length'));
    return Number.isSafeInteger(size) ? size : -1;
  }

  /**
   * Cross-repository mount (`POST /v2/<repo>/blobs/uploads/?mount=<digest>&from=<source>`):
   * true when the registry linked it (201); false when it opened an upload instead (202, the
   * spec's fallback, which is cancelled here).
   */
  async mountBlob(repository: string, digest: Digest, from: string | undefined): Promise<boolean> {
    const q = new URLSearchParams({ mount: digest });
    if (from !== undefined) q.set('from', from);
    const scopes = [...pushScopes(repository), ...(from !== undefined && from !== repository ? [`repository:${from}:pull`] : [])];
    const res = await this.request('POST', repository, `/v2/${repository}/blobs/uploads/?${q}`, { 'content-length': '0' }, { scopes });
    await res.body.dump();
    if (res.statusCode === 201) return true;
    const location = header(res, 'location');
    if (location) {
      const cancel = await this.request('DELETE', repository, new URL(location, `${this.baseUrl}/`).toString(), {}, { scopes, accept: [404, 405] }).catch(() => undefined);
      await cancel?.body.dump();
    }
    return false;
  }

  /** Upload a blob: POST a session (bodiless: authenticates), then one PUT ?digest= with every byte. */
  async uploadBlob(repository: string, digest: Digest, size: number, body: Readable): Promise<void> {
    const scopes = pushScopes(repository);
    const post = await this.request('POST', repository, `/v2/${repository}/blobs/uploads/`, { 'content-length': '0' }, { scopes });
    await post.body.dump();
    const location = header(post, 'location');
    if (post.statusCode !== 202 || !location) throw new RegistryError(`POST ${repository} upload: HTTP ${post.statusCode} without a Location`, post.statusCode);
    const url = new URL(location, `${this.baseUrl}/`);
    url.searchParams.set('digest', digest);
    const put = await this.request('PUT', repository, url.toString(), { 'content-type': 'application/octet-stream', 'content-length': String(size) }, { scopes, body });
    await put.body.dump();
  }

  /** PUT a manifest under a tag or its digest; the digest the registry answers with. */
  async putManifest(repository: string, reference: string, bytes: Buffer, mediaType: string): Promise<Digest | undefined> {
    const res = await this.request('PUT', repository, `/v2/${repository}/manifests/${reference}`, { 'content-type': mediaType }, { scopes: pushScopes(repository), body: bytes });
    await res.body.dump();
    return parseDigest(header(res, 'docker-content-digest') ?? '');
  }

  private authHeader(scope: string): string | undefined {
    const token = this.tokens.get(scope);
    if (token) return `Bearer ${token}`;
    if (this.basicAuth && this.opts.credentials) return basic(this.opts.credentials);
    return undefined;
  }

  private async send(method: Method, url: string, headers: Record<string, string>, body?: Buffer | Readable): Promise<Response> {
    try {
      // Redirects are followed for reads only (a blob's storage); a write is answered where it was sent.
      const redirects = method === 'GET' || method === 'HEAD' ? 5 : 0;
      return await undiciRequest(url, { method, headers, dispatcher: this.dispatcher, maxRedirections: redirects, ...(body !== undefined ? { body } : {}) });
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      const cause = e.code ? `${e.code}${e.message && !e.message.includes(e.code) ? ` (${e.message})` : ''}` : e.message;
      throw new RegistryUnreachableError(`${method} ${url}: ${cause}`, undefined, undefined, { cause: err });
    }
  }

  /**
   * One request with the challenge flow: at most one retry after authenticating. A push
   * names its own scopes (`repository:x:pull,push`, and the mount's source), asked of the
   * token endpoint as they are; a pull takes the challenge's. A body is only ever sent
   * once: a request that carries one is made after a bodiless one authenticated.
   */
  private async request(
    method: Method,
    repository: string,
    pathOrUrl: string,
    headers: Record<string, string>,
    o: { scopes?: string[]; body?: Buffer | Readable; accept?: number[] } = {},
  ): Promise<Response> {
    const scope = o.scopes ? o.scopes.join(' ') : `repository:${repository}:pull`;
    const url = pathOrUrl.startsWith('/') ? `${this.baseUrl}${pathOrUrl}` : pathOrUrl;
    const attempt = () => {
      const h: Record<string, string> = { ...headers, 'user-agent': this.opts.userAgent ?? 'wharf' };
      const auth = this.authHeader(scope);
      if (auth) h.authorization = auth;
      return this.send(method, url, h, o.body);
    };
    let res = await attempt();
    if (res.statusCode === 401 && !(o.body instanceof Readable)) {
      await res.body.dump();
      const challenge = parseChallenge(header(res, 'www-authenticate') ?? '');
      if (!challenge) throw new UnauthorizedError(`${method} ${url}: 401 without a usable WWW-Authenticate challenge`, 401, 'UNAUTHORIZED');
      this.tokens.delete(scope);
      await this.authenticate(challenge, scope, o.scopes);
      res = await attempt();
    }
    if ((res.statusCode >= 200 && res.statusCode < 300) || o.accept?.includes(res.statusCode)) return res;
    const body = method === 'HEAD' ? '' : await res.body.text().catch(() => '');
    if (method === 'HEAD') await res.body.dump().catch(() => undefined);
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
    const Cls = res.statusCode === 401 ? UnauthorizedError : RegistryError;
    throw new Cls(`${method} ${url}: HTTP ${res.statusCode}${message ? `: ${message}` : ''}`, res.statusCode, code);
  }

  /** The realm a challenge names, if we may call it: on the registry's own host, or the configured one. */
  private trustedRealm(realm: string): URL {
    let url: URL;
    try {
      url = new URL(realm);
    } catch {
      throw new UnauthorizedError(`${this.opts.registry} sent a Bearer challenge with an invalid realm`, 401, 'UNAUTHORIZED');
    }
    const own = new URL(this.baseUrl);
    if (this.opts.tokenRealm) {
      const allowed = new URL(this.opts.tokenRealm);
      if (url.origin === allowed.origin && url.pathname === allowed.pathname) return url;
    }
    // Same host, and never a downgrade from https to http.
    const sameHost = url.hostname === own.hostname && (url.protocol === own.protocol || url.protocol === 'https:');
    if (sameHost && (url.protocol === 'http:' || url.protocol === 'https:')) return url;
    throw new UnauthorizedError(
      `${this.opts.registry} names a token realm on another host (${url.origin}${url.pathname}); it is not called unless configured as this registry's token realm`,
      401,
      'UNAUTHORIZED',
    );
  }

  private async authenticate(challenge: Challenge, scope: string, ownScopes?: string[]): Promise<void> {
    if (challenge.scheme === 'basic') {
      if (!this.opts.credentials) throw new UnauthorizedError(`${this.opts.registry} requires credentials (Basic auth)`, 401, 'UNAUTHORIZED');
      this.basicAuth = true;
      return;
    }
    if (challenge.scheme !== 'bearer') throw new UnauthorizedError(`unsupported auth scheme "${challenge.scheme}"`, 401);
    const realm = challenge.params.realm;
    if (!realm) throw new UnauthorizedError('Bearer challenge without a realm', 401);
    const tokenUrl = this.trustedRealm(realm);
    if (challenge.params.service) tokenUrl.searchParams.set('service', challenge.params.service);
    if (ownScopes) for (const sc of ownScopes) tokenUrl.searchParams.append('scope', sc);
    else tokenUrl.searchParams.set('scope', challenge.params.scope ?? scope);
    const headers: Record<string, string> = { 'user-agent': this.opts.userAgent ?? 'wharf' };
    if (this.opts.credentials) headers.authorization = basic(this.opts.credentials);
    const where = `${tokenUrl.origin}${tokenUrl.pathname}`;
    const res = await this.send('GET', tokenUrl.toString(), headers);
    if (res.statusCode < 200 || res.statusCode >= 300) {
      await res.body.dump();
      throw new UnauthorizedError(`token request to ${where} failed: HTTP ${res.statusCode}`, res.statusCode, 'UNAUTHORIZED');
    }
    let body: { token?: string; access_token?: string };
    try {
      body = JSON.parse(await readLimited(res.body, 1 << 20, `token from ${where}`).then((b) => b.toString('utf8'))) as typeof body;
    } catch (err) {
      if (err instanceof RegistryError) throw err;
      throw new UnauthorizedError(`token endpoint ${where} returned no JSON`, 401);
    }
    const token = body.token ?? body.access_token;
    if (!token) throw new UnauthorizedError(`token endpoint ${where} returned no token`, 401);
    this.tokens.set(scope, token);
  }
}

type Method = 'GET' | 'HEAD' | 'POST' | 'PUT' | 'DELETE';

function pushScopes(repository: string): string[] {
  return [`repository:${repository}:pull,push`];
}

function basic(c: Credentials): string {
  return `Basic ${Buffer.from(`${c.username}:${c.password}`).toString('base64')}`;
}

async function readLimited(body: Readable, limit: number, what: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of body as AsyncIterable<Buffer>) {
    n += c.length;
    if (n > limit) {
      body.destroy();
      throw new RegistryError(`${what} is larger than ${limit} bytes`);
    }
    chunks.push(c);
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
