/**
 * The image documents a pull reads: index / manifest list, image manifest, image config.
 * Parsed once here into typed shapes; anything malformed is an ImageFormatError.
 */
import type { Digest } from './names.js';
import { parseDigest } from './names.js';
import { MEDIA_TYPES } from './client.js';

export class ImageFormatError extends Error {
  override name = 'ImageFormatError';
  readonly code = 'IMAGE_INVALID';
}

export class PlatformNotFoundError extends Error {
  override name = 'PlatformNotFoundError';
  readonly code = 'PLATFORM_NOT_FOUND';
}

export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
}

export const DEFAULT_PLATFORM: Platform = { os: 'linux', architecture: 'amd64' };

export interface Descriptor {
  mediaType: string;
  digest: Digest;
  size: number;
  platform?: Platform;
  annotations?: Record<string, string>;
}

export interface ImageManifest {
  mediaType: string;
  config: Descriptor;
  layers: Descriptor[];
}

/** What `docker run` uses from the image config (the `config` object of the config blob). */
export interface ContainerConfig {
  Entrypoint?: string[] | null;
  Cmd?: string[] | null;
  Env?: string[] | null;
  WorkingDir?: string;
  User?: string;
  ExposedPorts?: Record<string, unknown>;
  Volumes?: Record<string, unknown>;
  Labels?: Record<string, string> | null;
  StopSignal?: string;
}

export interface ImageConfig {
  architecture: string;
  os: string;
  variant?: string;
  created?: string;
  config: ContainerConfig;
  /** diffIDs, bottom layer first */
  diffIds: Digest[];
}

export const LAYER_MEDIA_TYPES = new Set([
  'application/vnd.oci.image.layer.v1.tar',
  'application/vnd.oci.image.layer.v1.tar+gzip',
  'application/vnd.oci.image.layer.v1.tar+zstd',
  'application/vnd.oci.image.layer.nondistributable.v1.tar',
  'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip',
  'application/vnd.docker.image.rootfs.diff.tar.gzip',
  'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip',
]);

export function isIndex(mediaType: string): boolean {
  return mediaType === MEDIA_TYPES.ociIndex || mediaType === MEDIA_TYPES.dockerList;
}

function json(bytes: Buffer, what: string): Record<string, unknown> {
  try {
    const v = JSON.parse(bytes.toString('utf8')) as unknown;
    if (v && typeof v === 'object' && !Array.isArray(v)) return v as Record<string, unknown>;
  } catch {
    /* fall through */
  }
  throw new ImageFormatError(`${what} is not a JSON object`);
}

function descriptor(v: unknown, what: string): Descriptor {
  const d = v as Partial<Record<keyof Descriptor, unknown>> | null;
  const digest = typeof d?.digest === 'string' ? parseDigest(d.digest) : undefined;
  if (!d || !digest || typeof d.size !== 'number' || !Number.isSafeInteger(d.size) || d.size < 0 || typeof d.mediaType !== 'string')
    throw new ImageFormatError(`${what}: invalid descriptor`);
  const out: Descriptor = { mediaType: d.mediaType, digest, size: d.size };
  if (d.platform && typeof d.platform === 'object') out.platform = d.platform as Platform;
  if (d.annotations && typeof d.annotations === 'object') out.annotations = d.annotations as Record<string, string>;
  return out;
}

export function parseIndex(bytes: Buffer): Descriptor[] {
  const m = json(bytes, 'index');
  if (!Array.isArray(m.manifests)) throw new ImageFormatError('index has no manifests array');
  return m.manifests.map((d, i) => descriptor(d, `index entry ${i}`));
}

/**
 * The index entry for `want`, as containerd's default matcher does: os and architecture
 * must be equal; a wanted variant must be equal; without one, an entry without a variant
 * is preferred. Attestation manifests (platform unknown/unknown) never match.
 */
export function selectPlatform(entries: Descriptor[], want: Platform = DEFAULT_PLATFORM): Descriptor {
  const candidates = entries.filter(
    (e) =>
      e.platform?.os === want.os &&
      e.platform.architecture === want.architecture &&
      (want.variant === undefined || e.platform.variant === want.variant),
  );
  const best = candidates.find((e) => !e.platform?.variant) ?? candidates[0];
  if (!best) {
    const have = entries.map((e) => (e.platform ? formatPlatform(e.platform) : 'unknown')).join(', ');
    throw new PlatformNotFoundError(`no image for ${formatPlatform(want)} in the index (it has: ${have || 'nothing'})`);
  }
  return best;
}

export function formatPlatform(p: Platform): string {
  return `${p.os}/${p.architecture}${p.variant ? `/${p.variant}` : ''}`;
}

export function parseImageManifest(bytes: Buffer, mediaType: string): ImageManifest {
  const m = json(bytes, 'manifest');
  if (m.schemaVersion !== 2) throw new ImageFormatError(`unsupported manifest schemaVersion ${String(m.schemaVersion)}`);
  if (!Array.isArray(m.layers)) throw new ImageFormatError('manifest has no layers array');
  const manifest: ImageManifest = {
    mediaType: typeof m.mediaType === 'string' ? m.mediaType : mediaType,
    config: descriptor(m.config, 'manifest config'),
    layers: m.layers.map((d, i) => descriptor(d, `manifest layer ${i}`)),
  };
  for (const l of manifest.layers) {
    if (!LAYER_MEDIA_TYPES.has(l.mediaType)) throw new ImageFormatError(`unsupported layer media type ${l.mediaType} (${l.digest})`);
  }
  return manifest;
}

export function parseImageConfig(bytes: Buffer): ImageConfig {
  const c = json(bytes, 'image config');
  const rootfs = c.rootfs as { type?: string; diff_ids?: unknown } | undefined;
  if (!rootfs || !Array.isArray(rootfs.diff_ids)) throw new ImageFormatError('image config has no rootfs.diff_ids');
  const diffIds = rootfs.diff_ids.map((d) => {
    const digest = typeof d === 'string' ? parseDigest(d) : undefined;
    if (!digest) throw new ImageFormatError(`image config: invalid diff_id ${String(d)}`);
    return digest;
  });
  const out: ImageConfig = {
    architecture: String(c.architecture ?? ''),
    os: String(c.os ?? ''),
    config: (c.config && typeof c.config === 'object' ? c.config : {}) as ContainerConfig,
    diffIds,
  };
  if (typeof c.variant === 'string') out.variant = c.variant;
  if (typeof c.created === 'string') out.created = c.created;
  return out;
}
