/**
 * A registry over HTTP for `wharf import` and `wharf export`: the push and pull calls of
 * the distribution API with the auth challenge (Basic, or Bearer tokens from the realm
 * the registry names). Authentication happens on a bodiless ping before any upload, so
 * a streamed blob body never has to be sent twice.
 */
import { Readable } from 'node:stream';
import type { ImportTarget } from '../../oci/archive-import.js';

export interface HttpRegistryOptions {
  /** e.g. http://127.0.0.1:5000 */
  url: string;
  repository: string;
  /** pull for export; pull,push for import */
  actions: string[];
  credentials?: { username: string; password: string };
}

export class HttpRegistryError extends Error {
  override name = 'HttpRegistryError';
}

const MANIFEST_ACCEPT = [
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.docker.distribution.manifest.v2+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
].join(', ');

export class HttpRegistry implements ImportTarget {
  private authorization: string | undefined;
  private readonly base: string;

  constructor(private readonly opts: HttpRegistryOptions) {
    this.base = opts.url.replace(/\/$/, '');
  }

  /** GET /v2/: learn the challenge, authenticate, and check that the credentials work. */
  async connect(): Promise<void> {
    let res = await this.send('GET', '/v2/');
    if (res.status === 401) {
      await this.authenticate(res.headers.get('www-authenticate') ?? '');
      res = await this.send('GET', '/v2/');
    }
    if (res.status === 401) throw new HttpRegistryError(`${this.base}: wrong user name or password`);
    if (!res.ok) throw await this.failure(res, 'GET /v2/');
  }

  async hasBlob(digest: string): Promise<boolean> {
    const res = await this.send('HEAD', `/v2/${this.opts.repository}/blobs/${digest}`);
    return res.status === 200;
  }

  async putBlob(digest: string, size: number, stream: Readable): Promise<void> {
    const post = await this.send('POST', `/v2/${this.opts.repository}/blobs/uploads/`);
    if (post.status !== 202) throw await this.failure(post, `starting the upload of ${digest}`);
    const location = new URL(post.headers.get('location') ?? '', this.base + '/');
    location.searchParams.set('digest', digest);
    const put = await this.send('PUT', location.toString(), {
      body: stream as unknown as NonNullable<RequestInit['body']>,
      headers: { 'content-type': 'application/octet-stream', 'content-length': String(size) },
    });
    if (put.status !== 201) throw await this.failure(put, `uploading ${digest}`);
  }

  async putManifest(reference: string, bytes: Buffer, mediaType: string): Promise<void> {
    const res = await this.send('PUT', `/v2/${this.opts.repository}/manifests/${reference}`, { body: bytes, headers: { 'content-type': mediaType } });
    if (res.status !== 201) throw await this.failure(res, `storing the manifest ${this.opts.repository}:${reference}`);
  }

  async getManifest(reference: string): Promise<{ bytes: Buffer; mediaType: string; digest: string }> {
    const res = await this.send('GET', `/v2/${this.opts.repository}/manifests/${reference}`, { headers: { accept: MANIFEST_ACCEPT } });
    if (!res.ok) throw await this.failure(res, `reading the manifest ${this.opts.repository}:${reference}`);
    const bytes = Buffer.from(await res.arrayBuffer());
    return { bytes, mediaType: (res.headers.get('content-type') ?? '').split(';')[0]!.trim(), digest: res.headers.get('docker-content-digest') ?? '' };
  }

  async getBlob(digest: string): Promise<Readable> {
    const res = await this.send('GET', `/v2/${this.opts.repository}/blobs/${digest}`);
    if (!res.ok || !res.body) throw await this.failure(res, `reading the blob ${digest}`);
    return Readable.fromWeb(res.body as never);
  }

  private async send(method: string, pathOrUrl: string, init: { body?: NonNullable<RequestInit["body"]>; headers?: Record<string, string> } = {}): Promise<Response> {
    const headers: Record<string, string> = { 'user-agent': 'wharf', ...init.headers };
    if (this.authorization) headers.authorization = this.authorization;
    const url = pathOrUrl.startsWith('/') ? this.base + pathOrUrl : pathOrUrl;
    const request: RequestInit & { duplex?: 'half' } = { method, headers };
    if (init.body !== undefined) {
      request.body = init.body;
      if (init.body instanceof Readable) request.duplex = 'half';
    }
    try {
      return await fetch(url, request);
    } catch (err) {
      throw new HttpRegistryError(`cannot reach the registry at ${this.base}: ${(err as Error & { cause?: Error }).cause?.message ?? (err as Error).message}`, { cause: err });
    }
  }

  private async authenticate(challenge: string): Promise<void> {
    const creds = this.opts.credentials;
    const scheme = challenge.split(' ')[0]!.toLowerCase();
    if (!creds && scheme === 'basic') throw new HttpRegistryError(`${this.base} requires a login: pass --username and --password-stdin`);
    const basic = creds ? `Basic ${Buffer.from(`${creds.username}:${creds.password}`).toString('base64')}` : undefined;
    if (scheme === 'basic') {
      this.authorization = basic;
      return;
    }
    if (scheme !== 'bearer') throw new HttpRegistryError(`${this.base} asks for an unsupported auth scheme: ${challenge.slice(0, 100)}`);
    const params = Object.fromEntries([...challenge.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1]!, m[2]!]));
    if (!params.realm) throw new HttpRegistryError(`${this.base}: Bearer challenge without a realm`);
    const tokenUrl = new URL(params.realm);
    if (params.service) tokenUrl.searchParams.set('service', params.service);
    tokenUrl.searchParams.set('scope', `repository:${this.opts.repository}:${this.opts.actions.join(',')}`);
    const res = await fetch(tokenUrl, { headers: basic ? { authorization: basic } : {} });
    if (!res.ok) throw new HttpRegistryError(`the token server ${tokenUrl.origin} refused: HTTP ${res.status} (check --username and the password)`);
    const body = (await res.json()) as { token?: string; access_token?: string };
    const token = body.token ?? body.access_token;
    if (!token) throw new HttpRegistryError(`the token server ${tokenUrl.origin} returned no token`);
    this.authorization = `Bearer ${token}`;
  }

  private async failure(res: Response, what: string): Promise<HttpRegistryError> {
    const text = await res.text().catch(() => '');
    let detail = text.slice(0, 300);
    try {
      const e = (JSON.parse(text) as { errors?: { code?: string; message?: string }[] }).errors?.[0];
      if (e) detail = `${e.code ?? ''} ${e.message ?? ''}`.trim();
    } catch {
      /* not the error JSON */
    }
    return new HttpRegistryError(`${what}: HTTP ${res.status}${detail ? ` ${detail}` : ''}`);
  }
}
