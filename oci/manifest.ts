/**
 * Understanding manifest bodies: which kind a body is, whether it is well formed, and
 * what it references (blobs, child manifests, a subject). The registry validates pushes
 * with it, the proxy cache what an upstream sends, and oci/image.ts builds the node's
 * typed view on it.
 */
import { ManifestInvalidError } from './errors.js';
import { isForeignLayer, MANIFEST_MEDIA_TYPES, MediaTypes } from './media-types.js';
import { parseDigest, type Digest } from './names.js';

export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
}

export interface Descriptor {
  mediaType: string;
  digest: Digest;
  size: number;
  urls?: string[];
  platform?: Platform;
  annotations?: Record<string, string>;
  artifactType?: string;
}

export interface ParsedManifest {
  mediaType: string;
  kind: 'image' | 'index';
  /** blobs this manifest needs present in the repository (config, layers) */
  blobs: Digest[];
  /** child manifests an index needs present in the repository */
  manifests: Digest[];
  subject?: Digest;
  /** explicit artifactType, else the config media type of an image manifest (spec: referrers) */
  artifactType?: string;
  annotations?: Record<string, string>;
  /** an image manifest's config and layers (foreign layers included), as written */
  config?: Descriptor;
  layers: Descriptor[];
  /** an index's entries, as written */
  entries: Descriptor[];
}

function invalid(message: string): never {
  throw new ManifestInvalidError(message);
}

/** A JSON object, or ManifestInvalidError naming `what`. */
export function parseJsonObject(body: Buffer, what = 'the body'): Record<string, unknown> {
  let json: unknown;
  try {
    json = JSON.parse(body.toString('utf8'));
  } catch {
    invalid(`${what} is not valid JSON`);
  }
  if (json === null || typeof json !== 'object' || Array.isArray(json)) invalid(`${what} is not a JSON object`);
  return json as Record<string, unknown>;
}

export function parseDescriptor(value: unknown, where: string): Descriptor {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) invalid(`${where} is not a descriptor object`);
  const d = value as Record<string, unknown>;
  if (typeof d.mediaType !== 'string' || d.mediaType === '') invalid(`${where}.mediaType must be a non-empty string`);
  if (typeof d.digest !== 'string' || !parseDigest(d.digest)) invalid(`${where}.digest is not a valid sha256 or sha512 digest`);
  if (typeof d.size !== 'number' || !Number.isSafeInteger(d.size) || d.size < 0) invalid(`${where}.size must be a non-negative integer`);
  return d as unknown as Descriptor;
}

function parseAnnotations(value: unknown, where: string): Record<string, string> | undefined {
  if (value === undefined) return undefined;
  if (value === null || typeof value !== 'object' || Array.isArray(value)) invalid(`${where} must be an object of strings`);
  for (const v of Object.values(value)) if (typeof v !== 'string') invalid(`${where} must be an object of strings`);
  return value as Record<string, string>;
}

/**
 * Parse a manifest body. `contentType` is the request's Content-Type (may be empty).
 * Throws ManifestInvalidError with a message saying what is wrong.
 */
export function parseManifest(body: Buffer, contentType: string): ParsedManifest {
  const m = parseJsonObject(body);

  const declared = typeof m.mediaType === 'string' ? m.mediaType : undefined;
  const type = contentType.split(';')[0]!.trim().toLowerCase();
  if (type === MediaTypes.dockerSchema1 || type === MediaTypes.dockerSchema1Signed || declared === MediaTypes.dockerSchema1 ||
      declared === MediaTypes.dockerSchema1Signed || m.schemaVersion === 1) {
    invalid('Docker schema 1 manifests are not supported; push with a current client (schema 2 or OCI)');
  }
  if (m.schemaVersion !== 2) invalid('schemaVersion must be 2');
  // The body says what it is, and so does the request: when both speak they must agree, or
  // two readers could take one document for two different things (CVE-2021-41190). Only
  // a generic application/json names no kind.
  if (declared !== undefined && type !== '' && type !== 'application/json' && declared !== type) {
    invalid(`the body's mediaType ${declared} does not match the Content-Type ${type}`);
  }
  // Which kind: the Content-Type, else the body's mediaType, else its shape (OCI allows no mediaType).
  let mediaType = MANIFEST_MEDIA_TYPES.includes(type) ? type : declared;
  if (mediaType === undefined) mediaType = Array.isArray(m.manifests) ? MediaTypes.ociIndex : MediaTypes.ociManifest;
  if (!MANIFEST_MEDIA_TYPES.includes(mediaType)) {
    invalid(`unsupported manifest media type ${mediaType}; expected one of ${MANIFEST_MEDIA_TYPES.join(', ')}`);
  }

  const parsed: ParsedManifest = {
    mediaType,
    kind: mediaType === MediaTypes.ociIndex || mediaType === MediaTypes.dockerManifestList ? 'index' : 'image',
    blobs: [],
    manifests: [],
    layers: [],
    entries: [],
  };
  if (m.artifactType !== undefined) {
    if (typeof m.artifactType !== 'string') invalid('artifactType must be a string');
    parsed.artifactType = m.artifactType;
  }
  if (m.subject !== undefined) parsed.subject = parseDescriptor(m.subject, 'subject').digest;
  const annotations = parseAnnotations(m.annotations, 'annotations');
  if (annotations) parsed.annotations = annotations;

  // spec (image-spec 1.0.2+): an image manifest has no `manifests`, an index no `config` or
  // `layers`. A document with both is ambiguous: a pull could read it either way (CVE-2021-41190).
  if (parsed.kind === 'image' && m.manifests !== undefined) {
    invalid('an image manifest must not have a "manifests" field: the document is ambiguous (both an image and an index)');
  }
  if (parsed.kind === 'index' && (m.layers !== undefined || m.config !== undefined)) {
    invalid('an index must not have "config" or "layers" fields: the document is ambiguous (both an index and an image)');
  }

  if (parsed.kind === 'image') {
    const config = parseDescriptor(m.config, 'config');
    parsed.config = config;
    parsed.blobs.push(config.digest);
    if (!Array.isArray(m.layers)) invalid('layers must be an array');
    m.layers.forEach((l, i) => {
      const layer = parseDescriptor(l, `layers[${i}]`);
      parsed.layers.push(layer);
      // Foreign layers live elsewhere (urls); the registry never holds them.
      if (!isForeignLayer(layer.mediaType)) parsed.blobs.push(layer.digest);
    });
    if (parsed.artifactType === undefined && parsed.subject !== undefined) parsed.artifactType = config.mediaType;
  } else {
    if (!Array.isArray(m.manifests)) invalid('manifests must be an array');
    m.manifests.forEach((d, i) => {
      const entry = parseDescriptor(d, `manifests[${i}]`);
      parsed.entries.push(entry);
      parsed.manifests.push(entry.digest);
    });
  }
  return parsed;
}

/** "linux/amd64", "linux/arm64/v8" -> Platform; undefined when it is not os/arch[/variant]. */
export function parsePlatform(text: string): Platform | undefined {
  const parts = text.split('/');
  if (parts.length < 2 || parts.length > 3 || parts.some((p) => !/^[a-z0-9_.-]+$/i.test(p))) return undefined;
  const p: Platform = { os: parts[0]!, architecture: parts[1]! };
  if (parts[2] !== undefined) p.variant = parts[2];
  return p;
}

/**
 * The child of an index (or Docker manifest list) for `platform`: the first entry with
 * its os and architecture (and variant, when the platform names one), as registry:2 picks
 * linux/amd64 for a client that does not accept manifest lists.
 */
export function childForPlatform(index: Buffer, platform: Platform): Descriptor | undefined {
  let json: unknown;
  try {
    json = JSON.parse(index.toString('utf8'));
  } catch {
    return undefined;
  }
  const manifests = (json as { manifests?: unknown }).manifests;
  if (!Array.isArray(manifests)) return undefined;
  for (const entry of manifests as Descriptor[]) {
    const p = entry?.platform;
    if (!p || p.os !== platform.os || p.architecture !== platform.architecture) continue;
    if (platform.variant !== undefined && p.variant !== platform.variant) continue;
    if (typeof entry.digest === 'string' && parseDigest(entry.digest)) return entry;
  }
  return undefined;
}
