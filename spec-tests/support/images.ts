/**
 * Test images, built in the test: compile a static binary, build layer tars from a list
 * of entries (including whiteouts and deliberately malicious entries), assemble an OCI or
 * Docker v2 image (config + manifest, optionally a multi-arch index) and push it to a
 * registry over plain HTTP with the distribution API.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, writeFile, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import * as tar from 'tar-stream';

const execFileP = promisify(execFile);

export const MEDIA = {
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  ociLayerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  ociLayer: 'application/vnd.oci.image.layer.v1.tar',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  dockerLayerGzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
} as const;

export type ImageFormat = 'oci' | 'docker';

export function sha256(bytes: Buffer | string): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

/** Compile one C source with `gcc -static`; returns the binary's path (in a temp dir). */
export async function compileStatic(source: string, name = 'prog'): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'wharf-gcc-'));
  await writeFile(join(dir, `${name}.c`), source);
  const out = join(dir, name);
  await execFileP('gcc', ['-static', '-O2', '-o', out, join(dir, `${name}.c`)]);
  return out;
}

interface Attrs {
  mode?: number;
  uid?: number;
  gid?: number;
  mtime?: Date;
}
export type LayerEntry =
  | ({ type: 'file'; path: string; content?: string | Buffer } & Attrs)
  | ({ type: 'dir'; path: string } & Attrs)
  | ({ type: 'symlink'; path: string; target: string } & Attrs)
  | { type: 'hardlink'; path: string; target: string }
  /** deletes `path` from lower layers: written as `<dir>/.wh.<name>` */
  | { type: 'whiteout'; path: string }
  /** hides everything lower layers had in directory `path`: `<path>/.wh..wh..opq` */
  | { type: 'opaque'; path: string }
  /** anything at all, unchecked: for malicious layers (`../evil`, `/etc/x`, ...) */
  | { type: 'raw'; header: RawHeader; content?: Buffer };

/** A tar header as given to tar-stream's pack: only `name` is required. */
export type RawHeader = Partial<tar.Header> & { name: string };

export interface BuiltLayer {
  /** the uncompressed tar */
  tar: Buffer;
  /** what is pushed: gzip'd unless {gzip:false} */
  blob: Buffer;
  diffId: string;
  digest: string;
  mediaType: string;
}

const EPOCH = new Date('2024-01-01T00:00:00Z');

function headerFor(e: Exclude<LayerEntry, { type: 'raw' }>): { header: RawHeader; content?: Buffer } {
  const attrs = (a: Attrs) => ({ mtime: a.mtime ?? EPOCH, uid: a.uid ?? 0, gid: a.gid ?? 0 });
  const base = attrs({});
  const split = (p: string): [string, string] => {
    const i = p.lastIndexOf('/');
    return i < 0 ? ['', p] : [p.slice(0, i + 1), p.slice(i + 1)];
  };
  switch (e.type) {
    case 'file': {
      const content = Buffer.from(e.content ?? '');
      return { header: { ...attrs(e), name: e.path, type: 'file', mode: e.mode ?? 0o644, size: content.length }, content };
    }
    case 'dir':
      return { header: { ...attrs(e), name: e.path, type: 'directory', mode: e.mode ?? 0o755 } };
    case 'symlink':
      return { header: { ...attrs(e), name: e.path, type: 'symlink', linkname: e.target, mode: 0o777 } };
    case 'hardlink':
      return { header: { ...base, name: e.path, type: 'link', linkname: e.target, mode: 0o644 } };
    case 'whiteout': {
      const [dir, name] = split(e.path);
      return { header: { ...base, name: `${dir}.wh.${name}`, type: 'file', mode: 0o600, size: 0 } };
    }
    case 'opaque':
      return { header: { ...base, name: `${e.path.replace(/\/$/, '')}/.wh..wh..opq`, type: 'file', mode: 0o600, size: 0 } };
  }
}

/** Build a layer tar from entries, in order. */
export async function buildLayer(
  entries: LayerEntry[],
  opts: { gzip?: boolean; format?: ImageFormat } = {},
): Promise<BuiltLayer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  pack.on('data', (c: unknown) => chunks.push(c as Buffer));
  const ended = new Promise<void>((resolve, reject) => {
    pack.on('end', resolve);
    pack.on('error', reject);
  });
  for (const e of entries) {
    const { header, content } =
      e.type === 'raw' ? { header: { type: 'file' as const, ...e.header, size: e.content?.length ?? 0 }, content: e.content } : headerFor(e);
    await new Promise<void>((resolve, reject) =>
      pack.entry(header as tar.Header, content ?? Buffer.alloc(0), (err) => (err ? reject(err) : resolve())),
    );
  }
  pack.finalize();
  await ended;
  const tarBytes = Buffer.concat(chunks);
  const gzip = opts.gzip ?? true;
  const blob = gzip ? gzipSync(tarBytes) : tarBytes;
  const docker = opts.format === 'docker';
  return {
    tar: tarBytes,
    blob,
    diffId: sha256(tarBytes),
    digest: sha256(blob),
    mediaType: gzip ? (docker ? MEDIA.dockerLayerGzip : MEDIA.ociLayerGzip) : MEDIA.ociLayer,
  };
}

/** A layer holding one static binary at `path` (mode 0755), plus its parent dirs implied. */
export async function binaryLayer(binaryPath: string, path = 'bin/prog', format?: ImageFormat): Promise<BuiltLayer> {
  const content = await readFile(binaryPath);
  return buildLayer([{ type: 'file', path, content, mode: 0o755 }], format ? { format } : {});
}

export interface ImageConfigInput {
  Entrypoint?: string[];
  Cmd?: string[];
  Env?: string[];
  WorkingDir?: string;
  User?: string;
  StopSignal?: string;
  Labels?: Record<string, string>;
  /** VOLUME: anonymous volumes of every container of the image */
  Volumes?: Record<string, object>;
  ExposedPorts?: Record<string, Record<string, never>>;
  architecture?: string;
  os?: string;
  variant?: string;
}

export interface BuiltImage {
  format: ImageFormat;
  layers: BuiltLayer[];
  config: Buffer;
  configDigest: string;
  manifest: Buffer;
  manifestDigest: string;
  mediaType: string;
  platform: { architecture: string; os: string; variant?: string };
}

export function buildImage(layers: BuiltLayer[], cfg: ImageConfigInput = {}, format: ImageFormat = 'oci'): BuiltImage {
  const { architecture = 'amd64', os = 'linux', variant, ...containerConfig } = cfg;
  const platform = variant ? { architecture, os, variant } : { architecture, os };
  const config = Buffer.from(
    JSON.stringify({
      ...platform,
      created: EPOCH.toISOString(),
      config: containerConfig,
      rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffId) },
      history: layers.map(() => ({ created: EPOCH.toISOString(), created_by: 'wharf spec-tests' })),
    }),
  );
  const configDigest = sha256(config);
  const docker = format === 'docker';
  const mediaType = docker ? MEDIA.dockerManifest : MEDIA.ociManifest;
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType,
      config: { mediaType: docker ? MEDIA.dockerConfig : MEDIA.ociConfig, digest: configDigest, size: config.length },
      layers: layers.map((l) => ({ mediaType: l.mediaType, digest: l.digest, size: l.blob.length })),
    }),
  );
  return { format, layers, config, configDigest, manifest, manifestDigest: sha256(manifest), mediaType, platform };
}

export interface BuiltIndex {
  bytes: Buffer;
  digest: string;
  mediaType: string;
  images: BuiltImage[];
}

/** A multi-arch index (OCI) or manifest list (Docker) over images of the same format. */
export function buildIndex(images: BuiltImage[], format: ImageFormat = 'oci'): BuiltIndex {
  const mediaType = format === 'docker' ? MEDIA.dockerList : MEDIA.ociIndex;
  const bytes = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType,
      manifests: images.map((i) => ({ mediaType: i.mediaType, digest: i.manifestDigest, size: i.manifest.length, platform: i.platform })),
    }),
  );
  return { bytes, digest: sha256(bytes), mediaType, images };
}

async function expectStatus(res: Response, want: number, what: string): Promise<void> {
  if (res.status !== want) throw new Error(`${what}: HTTP ${res.status} ${await res.text()}`);
}

/** Monolithic upload: POST to open a session, PUT ?digest= with the bytes. */
export async function pushBlob(registryUrl: string, repo: string, bytes: Buffer, digest = sha256(bytes)): Promise<void> {
  const head = await fetch(`${registryUrl}/v2/${repo}/blobs/${digest}`, { method: 'HEAD' });
  if (head.status === 200) return;
  const post = await fetch(`${registryUrl}/v2/${repo}/blobs/uploads/`, { method: 'POST' });
  await expectStatus(post, 202, `POST upload ${repo}`);
  const location = new URL(post.headers.get('location') ?? '', registryUrl);
  location.searchParams.set('digest', digest);
  const put = await fetch(location, {
    method: 'PUT',
    headers: { 'content-type': 'application/octet-stream', 'content-length': String(bytes.length) },
    body: bytes,
  });
  await expectStatus(put, 201, `PUT blob ${digest}`);
}

export async function pushManifest(registryUrl: string, repo: string, reference: string, bytes: Buffer, mediaType: string): Promise<void> {
  const put = await fetch(`${registryUrl}/v2/${repo}/manifests/${reference}`, {
    method: 'PUT',
    headers: { 'content-type': mediaType },
    body: bytes,
  });
  await expectStatus(put, 201, `PUT manifest ${repo}:${reference}`);
}

/** Push layers, config, then the manifest under `tag` (the digest is always addressable). */
export async function pushImage(registryUrl: string, repo: string, tag: string, image: BuiltImage): Promise<void> {
  for (const l of image.layers) await pushBlob(registryUrl, repo, l.blob, l.digest);
  await pushBlob(registryUrl, repo, image.config, image.configDigest);
  await pushManifest(registryUrl, repo, tag, image.manifest, image.mediaType);
}

/** Push every image of the index by digest, then the index under `tag`. */
export async function pushIndex(registryUrl: string, repo: string, tag: string, index: BuiltIndex): Promise<void> {
  for (const img of index.images) await pushImage(registryUrl, repo, img.manifestDigest, img);
  await pushManifest(registryUrl, repo, tag, index.bytes, index.mediaType);
}
