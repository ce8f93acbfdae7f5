/**
 * The real Wharf app over a real LevelDB + filesystem in a temp directory, for the
 * conformance tests: no mocks. Also the fixtures the workflows need (blobs, the four
 * manifest kinds, referrers) and the assertions every test shares (no 5xx, the
 * spec's error JSON).
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createServer, request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino, type Logger } from 'pino';
import request from 'supertest';
import { createApp, type RequestListener } from '../../server/app.js';
import { MediaTypes } from '../../oci/media-types.js';
import { Registry } from '../../storage/registry.js';

export { MediaTypes };

/** A pino logger that keeps what it logs, to assert that nothing was logged as an error. */
export function capturingLogger(): { logger: Logger; entries: { level: number; msg: string }[] } {
  const entries: { level: number; msg: string }[] = [];
  const logger = pino({ level: 'debug' }, { write: (line: string) => void entries.push(JSON.parse(line) as { level: number; msg: string }) });
  return { logger, entries };
}

export interface RegistryAppOptions {
  deleteEnabled?: boolean;
  /** default: silent */
  logger?: Logger;
}

/** A registry and the app serving it; `restart()` closes both and reopens over the same dir. */
export interface RegistryApp {
  readonly dir: string;
  registry: Registry;
  app: RequestListener;
  restart(): Promise<void>;
  /** Close the registry and remove the temp dir. */
  close(): Promise<void>;
}

async function build(dir: string, options: RegistryAppOptions): Promise<{ registry: Registry; app: RequestListener }> {
  const registry = await Registry.openEmbedded(dir, { manifestCacheBytes: 1 << 20 });
  const app = createApp({
    registry,
    logger: options.logger ?? pino({ level: 'silent' }),
    deleteEnabled: options.deleteEnabled ?? true,
    logRequests: false,
  });
  return { registry, app };
}

export async function openRegistryApp(options: RegistryAppOptions = {}): Promise<RegistryApp> {
  const dir = await mkdtemp(join(tmpdir(), 'wharf-spec-'));
  const built = await build(dir, options);
  let closed = false;
  const ctx: RegistryApp = {
    dir,
    registry: built.registry,
    app: built.app,
    async restart() {
      await ctx.registry.close();
      const again = await build(dir, options);
      ctx.registry = again.registry;
      ctx.app = again.app;
    },
    async close() {
      if (closed) return;
      closed = true;
      await ctx.registry.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
  return ctx;
}

// ---- digests and blobs

export function sha256(bytes: Buffer | string): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

export function sha512(bytes: Buffer | string): string {
  return `sha512:${createHash('sha512').update(bytes).digest('hex')}`;
}

export interface BlobFixture {
  bytes: Buffer;
  digest: string;
  size: number;
}

export function blobOf(content: Buffer | string, algorithm: 'sha256' | 'sha512' = 'sha256'): BlobFixture {
  const bytes = Buffer.isBuffer(content) ? content : Buffer.from(content);
  return { bytes, digest: algorithm === 'sha256' ? sha256(bytes) : sha512(bytes), size: bytes.length };
}

let blobCounter = 0;
/** Distinct pseudo-random bytes (deterministic per call order within a process). */
export function randomBlob(size: number): BlobFixture {
  const seed = `blob-${blobCounter++}-${size}`;
  const out = Buffer.alloc(size);
  let block = createHash('sha256').update(seed).digest();
  for (let off = 0; off < size; off += block.length) {
    block.copy(out, off, 0, Math.min(block.length, size - off));
    block = createHash('sha256').update(block).digest();
  }
  return blobOf(out);
}

/** Push a blob with a single monolithic POST ?digest=. */
export async function pushBlob(app: RequestListener, repo: string, blob: BlobFixture): Promise<void> {
  const res = await request(app)
    .post(`/v2/${repo}/blobs/uploads/?digest=${blob.digest}`)
    .set('Content-Type', 'application/octet-stream')
    .send(blob.bytes);
  assert.equal(res.status, 201, `pushing blob ${blob.digest} to ${repo}: ${res.status} ${res.text}`);
}

// ---- manifests

/**
 * A JSON body as superagent should send it: as is. Given a Buffer with a JSON
 * Content-Type, superagent would JSON.stringify the Buffer object itself.
 */
export function asBody(bytes: Buffer): string {
  return bytes.toString('utf8');
}

export interface ManifestFixture {
  bytes: Buffer;
  digest: string;
  size: number;
  mediaType: string;
  json: Record<string, unknown>;
}

function manifestOf(json: Record<string, unknown>, mediaType: string): ManifestFixture {
  const bytes = Buffer.from(JSON.stringify(json, null, 2));
  return { bytes, digest: sha256(bytes), size: bytes.length, mediaType, json };
}

export function descriptorOf(
  x: { digest: string; size: number },
  mediaType: string,
  extra: Record<string, unknown> = {},
): Record<string, unknown> {
  return { mediaType, digest: x.digest, size: x.size, ...extra };
}

export interface ImageOptions {
  kind?: 'oci' | 'docker';
  subject?: ManifestFixture;
  artifactType?: string;
  configMediaType?: string;
  annotations?: Record<string, string>;
}

export function imageManifest(config: BlobFixture, layers: BlobFixture[], options: ImageOptions = {}): ManifestFixture {
  const docker = options.kind === 'docker';
  const mediaType = docker ? MediaTypes.dockerManifest : MediaTypes.ociManifest;
  const configType = options.configMediaType ?? (docker ? 'application/vnd.docker.container.image.v1+json' : 'application/vnd.oci.image.config.v1+json');
  const layerType = docker ? 'application/vnd.docker.image.rootfs.diff.tar.gzip' : 'application/vnd.oci.image.layer.v1.tar+gzip';
  const json: Record<string, unknown> = {
    schemaVersion: 2,
    mediaType,
    config: descriptorOf(config, configType),
    layers: layers.map((l) => descriptorOf(l, layerType)),
  };
  if (options.artifactType !== undefined) json.artifactType = options.artifactType;
  if (options.subject) json.subject = descriptorOf(options.subject, options.subject.mediaType);
  if (options.annotations) json.annotations = options.annotations;
  return manifestOf(json, mediaType);
}

export function indexManifest(children: ManifestFixture[], kind: 'oci' | 'docker' = 'oci'): ManifestFixture {
  const mediaType = kind === 'docker' ? MediaTypes.dockerManifestList : MediaTypes.ociIndex;
  const archs = ['amd64', 'arm64', 'riscv64', 's390x', 'ppc64le'];
  const json = {
    schemaVersion: 2,
    mediaType,
    manifests: children.map((c, i) => descriptorOf(c, c.mediaType, { platform: { architecture: archs[i % archs.length]!, os: 'linux' } })),
  };
  return manifestOf(json, mediaType);
}

export async function putManifest(app: RequestListener, repo: string, reference: string, m: ManifestFixture): Promise<request.Response> {
  return request(app).put(`/v2/${repo}/manifests/${reference}`).set('Content-Type', m.mediaType).send(asBody(m.bytes));
}

export async function pushManifest(app: RequestListener, repo: string, reference: string, m: ManifestFixture): Promise<void> {
  const res = await putManifest(app, repo, reference, m);
  assert.equal(res.status, 201, `pushing manifest ${reference} to ${repo}: ${res.status} ${res.text}`);
}

export interface ImageFixture {
  config: BlobFixture;
  layers: BlobFixture[];
  manifest: ManifestFixture;
}

/** Blobs then the manifest, as a client pushes an image. */
export async function pushImage(
  app: RequestListener,
  repo: string,
  reference: string,
  options: ImageOptions & { layerSizes?: number[] } = {},
): Promise<ImageFixture> {
  const config = blobOf(JSON.stringify({ architecture: 'amd64', os: 'linux', n: blobCounter++ }));
  const layers = (options.layerSizes ?? [1000]).map((n) => randomBlob(n));
  for (const b of [config, ...layers]) await pushBlob(app, repo, b);
  const manifest = imageManifest(config, layers, options);
  await pushManifest(app, repo, reference, manifest);
  return { config, layers, manifest };
}

// ---- responses

type BodyParser = (res: request.Response, callback: (err: Error | null, body: Buffer) => void) => void;

/** superagent parser that keeps the body as raw bytes whatever its type (superagent hands it the IncomingMessage). */
export const binaryParser: BodyParser = (res, callback) => {
  const stream = res as unknown as NodeJS.ReadableStream;
  const chunks: Buffer[] = [];
  stream.on('data', (c: Buffer) => chunks.push(c));
  stream.on('end', () => callback(null, Buffer.concat(chunks)));
  stream.on('error', (err: Error) => callback(err, Buffer.alloc(0)));
};

export interface ErrorLike {
  status: number;
  headers: Record<string, unknown>;
  text?: string;
  body?: unknown;
}

function bodyText(res: ErrorLike): string {
  if (typeof res.text === 'string') return res.text;
  if (Buffer.isBuffer(res.body)) return res.body.toString('utf8');
  return '';
}

/** Every answer: never a 5xx. */
export function assertNot5xx(res: ErrorLike, what = ''): void {
  assert.ok(res.status < 500, `${what} answered ${res.status}: ${bodyText(res).slice(0, 500)}`);
}

/**
 * An error answer in the spec's format: the status, and `{"errors":[{code,message,...}]}`
 * whose first code is `code`. For HEAD (no body) only status and Content-Type are checked.
 */
export function assertError(res: ErrorLike, status: number, code: string, method = 'GET'): void {
  assertNot5xx(res);
  assert.equal(res.status, status, `expected ${status} ${code}, got ${res.status}: ${bodyText(res).slice(0, 500)}`);
  if (method === 'HEAD') return;
  assert.match(String(res.headers['content-type']), /^application\/json/);
  const parsed = JSON.parse(bodyText(res)) as { errors?: unknown };
  assert.ok(Array.isArray(parsed.errors) && parsed.errors.length > 0, `no errors array in ${bodyText(res)}`);
  for (const e of parsed.errors as Record<string, unknown>[]) {
    assert.equal(typeof e.code, 'string');
    assert.equal(typeof e.message, 'string');
  }
  assert.equal((parsed.errors as { code: string }[])[0]!.code, code, bodyText(res));
}

// ---- raw HTTP, for what supertest would rewrite

export interface RawResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
  text: string;
}

/**
 * One request over a real socket with the path sent byte for byte (supertest goes
 * through WHATWG URL, which resolves `..` and `%2e%2e` before sending), and the body
 * sent as the given chunks with chunked transfer encoding unless Content-Length is set.
 */
export async function rawRequest(
  app: RequestListener,
  method: string,
  path: string,
  options: {
    headers?: Record<string, string | number>;
    chunks?: Buffer[];
    chunkDelayMs?: number;
    /** called when the server has received the request's head */
    onReceived?: () => void;
  } = {},
): Promise<RawResponse> {
  const server = createServer(app).listen(0, '127.0.0.1');
  if (options.onReceived) server.on('request', options.onReceived);
  await new Promise<void>((resolve) => server.once('listening', () => resolve()));
  const { port } = server.address() as AddressInfo;
  try {
    return await new Promise<RawResponse>((resolve, reject) => {
      const req = httpRequest({ host: '127.0.0.1', port, method, path, headers: options.headers ?? {} }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const body = Buffer.concat(chunks);
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body, text: body.toString('utf8') });
        });
        res.on('error', reject);
      });
      req.on('error', reject);
      void (async () => {
        for (const c of options.chunks ?? []) {
          req.write(c);
          if (options.chunkDelayMs) await new Promise((r) => setTimeout(r, options.chunkDelayMs));
        }
        req.end();
      })();
    });
  } finally {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

/** Parse `Link: <url>; rel="next"` (RFC 5988) into the URL, or undefined. */
export function nextLinkOf(header: unknown): string | undefined {
  if (header === undefined) return undefined;
  const m = /^<([^>]+)>;\s*rel="next"$/.exec(String(header));
  assert.ok(m, `malformed Link header: ${String(header)}`);
  return m[1];
}
