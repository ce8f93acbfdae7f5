/**
 * The image documents a pull reads, as the node's typed shapes: an index's entries and
 * the platform choice, an image manifest, an image config. Well-formedness is
 * oci/manifest.ts's (ManifestInvalidError); what is valid yet not runnable here (an
 * index where an image is needed, a layer type we cannot unpack, no diff_ids) is an
 * ImageFormatError.
 */
import { ManifestInvalidError } from './errors.js';
import { parseJsonObject, parseManifest, type Descriptor, type Platform } from './manifest.js';
import { LAYER_MEDIA_TYPES } from './media-types.js';
import { parseDigest, type Digest } from './names.js';

export type { Descriptor, Platform } from './manifest.js';

export class ImageFormatError extends ManifestInvalidError {
  override name = 'ImageFormatError';
  override readonly code = 'IMAGE_INVALID';
}

export class PlatformNotFoundError extends Error {
  override name = 'PlatformNotFoundError';
  readonly code = 'PLATFORM_NOT_FOUND';
}

export const DEFAULT_PLATFORM: Platform = { os: 'linux', architecture: 'amd64' };

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

/** The entries of an index or manifest list; `mediaType` is the response's Content-Type, if known. */
export function parseIndex(bytes: Buffer, mediaType = ''): Descriptor[] {
  const m = parseManifest(bytes, mediaType);
  if (m.kind !== 'index') throw new ImageFormatError(`expected an index, got a ${m.mediaType}`);
  return m.entries;
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
  const m = parseManifest(bytes, mediaType);
  if (m.kind !== 'image' || !m.config) throw new ImageFormatError(`expected an image manifest, got a ${m.mediaType}`);
  for (const l of m.layers) {
    if (!LAYER_MEDIA_TYPES.has(l.mediaType)) throw new ImageFormatError(`unsupported layer media type ${l.mediaType} (${l.digest})`);
  }
  return { mediaType: m.mediaType, config: m.config, layers: m.layers };
}

export function parseImageConfig(bytes: Buffer): ImageConfig {
  const c = parseJsonObject(bytes, 'the image config');
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
