/**
 * What an archive holds, verified before anything is stored: from the index of a
 * scanned archive (archive-read.ts), the images of a `docker save` archive
 * (manifest.json, legacy or Docker 25's) or of an OCI image layout (oci-layout +
 * index.json), each with its manifest bytes and every blob it needs. Every digest the
 * archive claims is checked against the bytes: blob names, descriptor digests and
 * sizes, and for docker archives each layer against the config's diff_ids. A plan is
 * only returned when every blob is present and right, so an import that follows it
 * writes a tag only for a complete image.
 */
import { createHash } from 'node:crypto';
import { parseManifest } from './manifest.js';
import { MediaTypes } from './media-types.js';
import { ArchiveError, resolveFile, type ArchiveEntry, type ArchiveIndex } from './archive-read.js';

export interface PlannedBlob {
  digest: string;
  size: number;
  /** the archive entry holding the bytes */
  entry: string;
}

export interface PlannedManifest {
  digest: string;
  mediaType: string;
  bytes: Buffer;
}

export interface PlannedImage {
  /** tags the archive gives the image (the tag part of RepoTags or ref.name) */
  tags: string[];
  /** the full names it gives (RepoTags, io.containerd.image.name; ref.name when it is one), as written */
  names: string[];
  manifest: PlannedManifest;
  /** an index's child manifests, stored (by digest) before it */
  children: PlannedManifest[];
  /** every blob of the image (configs and layers of it and its children) */
  blobs: PlannedBlob[];
  /** os/arch[/variant] of each image */
  platforms: string[];
}

export interface ImportPlan {
  format: 'docker-archive' | 'oci-layout';
  images: PlannedImage[];
  /** distinct blobs by digest, with the entry to read each from */
  blobs: Map<string, PlannedBlob>;
  totalBlobBytes: number;
}

const TAG_RE = /^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$/;
const DOCKER_LAYER_TAR = 'application/vnd.docker.image.rootfs.diff.tar';
const DOCKER_LAYER_GZIP = 'application/vnd.docker.image.rootfs.diff.tar.gzip';
const DOCKER_CONFIG = 'application/vnd.docker.container.image.v1+json';

function fail(message: string): never {
  throw new ArchiveError(message);
}

function json(index: ArchiveIndex, name: string, what: string): unknown {
  const entry = resolveFile(index, name);
  if (!entry) fail(`${what} (${name}) is missing from the archive`);
  const bytes = index.kept.get(entry.name);
  if (!bytes) fail(`${what} (${name}) is too large for image metadata (${entry.size} bytes)`);
  try {
    return JSON.parse(bytes.toString('utf8'));
  } catch {
    fail(`${what} (${name}) is not valid JSON`);
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** Entries named after a digest (blobs/sha256/<hex>, legacy <hex>.json) must hold exactly it. */
function checkNamedDigests(index: ArchiveIndex): void {
  for (const entry of index.files.values()) {
    const m = /^blobs\/([a-z0-9]+)\/([a-f0-9]+)$/.exec(entry.name) ?? /^([a-f0-9]{64})\.json$/.exec(entry.name);
    if (!m) continue;
    const [algorithm, hex] = m.length === 3 ? [m[1]!, m[2]!] : ['sha256', m[1]!];
    if (algorithm !== 'sha256') fail(`blob ${entry.name}: only sha256 blobs are supported in archives`);
    if (entry.digest !== `sha256:${hex}`) fail(`digest mismatch: ${entry.name} holds ${entry.digest}`);
  }
}

/** The tag part of "repo:tag", "host:5000/repo:tag" or a bare tag; undefined when none. */
export function tagOf(reference: string): string | undefined {
  if (TAG_RE.test(reference)) return reference;
  const at = reference.indexOf('@');
  const ref = at >= 0 ? reference.slice(0, at) : reference;
  const colon = ref.lastIndexOf(':');
  if (colon < 0 || ref.slice(colon + 1).includes('/')) return undefined;
  const tag = ref.slice(colon + 1);
  return TAG_RE.test(tag) ? tag : undefined;
}

function platformOf(config: Record<string, unknown>): string {
  const parts = [config.os, config.architecture, config.variant].filter((p): p is string => typeof p === 'string' && p !== '');
  return parts.join('/') || 'unknown';
}

export function planImport(index: ArchiveIndex): ImportPlan {
  checkNamedDigests(index);
  const plan = resolveFile(index, 'index.json') && resolveFile(index, 'oci-layout') ? planOciLayout(index) : resolveFile(index, 'manifest.json') ? planDockerArchive(index) : undefined;
  if (!plan) fail('the archive holds neither manifest.json (a docker save archive) nor oci-layout and index.json (an OCI image layout)');
  if (plan.images.length === 0) fail('the archive holds no image');
  for (const image of plan.images) {
    for (const b of image.blobs) if (!plan.blobs.has(b.digest)) plan.blobs.set(b.digest, b);
  }
  plan.totalBlobBytes = [...plan.blobs.values()].reduce((n, b) => n + b.size, 0);
  return plan;
}

function planDockerArchive(index: ArchiveIndex): ImportPlan {
  const list = json(index, 'manifest.json', 'manifest.json');
  if (!Array.isArray(list)) fail('manifest.json is not a list of images');
  const images = list.map((item, i): PlannedImage => {
    const where = `manifest.json[${i}]`;
    if (!isObject(item) || typeof item.Config !== 'string' || !Array.isArray(item.Layers) || item.Layers.some((l) => typeof l !== 'string')) {
      fail(`${where} needs Config (a file name) and Layers (a list of file names)`);
    }
    const configEntry = resolveFile(index, item.Config) ?? fail(`${where}: the config ${item.Config} is missing from the archive`);
    const config = json(index, item.Config, `${where}: the config`);
    if (!isObject(config) || !isObject(config.rootfs) || !Array.isArray(config.rootfs.diff_ids)) fail(`${where}: the config has no rootfs.diff_ids`);
    const diffIds = config.rootfs.diff_ids as unknown[];
    const layerNames = item.Layers as string[];
    if (diffIds.length !== layerNames.length) fail(`${where}: ${layerNames.length} layers but the config lists ${diffIds.length} diff_ids`);
    const layers = layerNames.map((name, l): ArchiveEntry => {
      const entry = resolveFile(index, name) ?? fail(`${where}: layer ${name} is missing from the archive`);
      const diffId = entry.gzipped ? entry.uncompressedDigest : entry.digest;
      if (diffId !== diffIds[l]) fail(`digest mismatch: layer ${name} is ${diffId ?? 'a damaged gzip stream'}, the config says ${String(diffIds[l])}`);
      return entry;
    });
    const manifestBytes = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MediaTypes.dockerManifest,
        config: { mediaType: DOCKER_CONFIG, digest: configEntry.digest, size: configEntry.size },
        layers: layers.map((e) => ({ mediaType: e.gzipped ? DOCKER_LAYER_GZIP : DOCKER_LAYER_TAR, digest: e.digest, size: e.size })),
      }),
    );
    const repoTags = Array.isArray(item.RepoTags) ? item.RepoTags.filter((t): t is string => typeof t === 'string') : [];
    return {
      tags: [...new Set(repoTags.map(tagOf).filter((t): t is string => t !== undefined))],
      names: [...new Set(repoTags)],
      manifest: { digest: sha256(manifestBytes), mediaType: MediaTypes.dockerManifest, bytes: manifestBytes },
      children: [],
      blobs: [configEntry, ...layers].map((e) => ({ digest: e.digest, size: e.size, entry: e.name })),
      platforms: [platformOf(config)],
    };
  });
  return { format: 'docker-archive', images, blobs: new Map(), totalBlobBytes: 0 };
}

interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
}

function descriptor(value: unknown, where: string): Descriptor {
  if (!isObject(value) || typeof value.mediaType !== 'string' || typeof value.digest !== 'string' || typeof value.size !== 'number') {
    fail(`${where} is not a descriptor (mediaType, digest, size)`);
  }
  return value as unknown as Descriptor;
}

/** The blob a descriptor names, present and of the size it says (its digest was checked by name). */
function blobOf(index: ArchiveIndex, d: Descriptor, where: string): ArchiveEntry {
  const m = /^sha256:([a-f0-9]{64})$/.exec(d.digest) ?? fail(`${where}: ${d.digest} is not a sha256 digest`);
  const entry = index.files.get(`blobs/sha256/${m[1]}`) ?? fail(`${where}: blob ${d.digest} is missing from the archive`);
  if (entry.size !== d.size) fail(`${where}: blob ${d.digest} is ${entry.size} bytes, the descriptor says ${d.size}`);
  return entry;
}

function planOciLayout(index: ArchiveIndex): ImportPlan {
  const layout = json(index, 'oci-layout', 'oci-layout');
  if (!isObject(layout) || typeof layout.imageLayoutVersion !== 'string') fail('oci-layout has no imageLayoutVersion');
  const top = json(index, 'index.json', 'index.json');
  if (!isObject(top) || !Array.isArray(top.manifests)) fail('index.json has no manifests list');

  const readManifest = (d: Descriptor, where: string, depth: number, into: PlannedImage): PlannedManifest => {
    const entry = blobOf(index, d, where);
    const bytes = index.kept.get(entry.name) ?? fail(`${where}: manifest ${d.digest} is too large`);
    let parsed;
    try {
      parsed = parseManifest(bytes, d.mediaType);
    } catch (err) {
      fail(`${where}: manifest ${d.digest} is invalid: ${(err as Error).message}`);
    }
    const body = JSON.parse(bytes.toString('utf8')) as Record<string, unknown>;
    if (parsed.kind === 'index') {
      if (depth > 1) fail(`${where}: indexes nest too deep`);
      (body.manifests as unknown[]).forEach((c, i) => {
        const child = descriptor(c, `${where}.manifests[${i}]`);
        into.children.push(readManifest(child, `${where}.manifests[${i}]`, depth + 1, into));
      });
    } else {
      const config = descriptor(body.config, `${where}.config`);
      const configEntry = blobOf(index, config, `${where}.config`);
      const configJson = index.kept.get(configEntry.name);
      if (configJson) {
        try {
          const c = JSON.parse(configJson.toString('utf8')) as unknown;
          if (isObject(c) && (c.os !== undefined || c.architecture !== undefined)) into.platforms.push(platformOf(c));
        } catch {
          /* an artifact's config need not be JSON */
        }
      }
      into.blobs.push({ digest: configEntry.digest, size: configEntry.size, entry: configEntry.name });
      const layers = Array.isArray(body.layers) ? body.layers : [];
      layers.forEach((l, i) => {
        const layer = descriptor(l, `${where}.layers[${i}]`);
        // Foreign layers live elsewhere (urls): parseManifest leaves them out of the blobs a registry holds.
        if (!parsed.blobs.includes(layer.digest as never)) return;
        const e = blobOf(index, layer, `${where}.layers[${i}]`);
        into.blobs.push({ digest: e.digest, size: e.size, entry: e.name });
      });
    }
    return { digest: entry.digest, mediaType: parsed.mediaType, bytes };
  };

  const images = top.manifests.map((m, i): PlannedImage => {
    const where = `index.json manifests[${i}]`;
    const d = descriptor(m, where);
    const image: PlannedImage = { tags: [], names: [], manifest: undefined as never, children: [], blobs: [], platforms: [] };
    image.manifest = readManifest(d, where, 0, image);
    const names = [d.annotations?.['org.opencontainers.image.ref.name'], d.annotations?.['io.containerd.image.name']];
    image.tags = [...new Set(names.filter((n): n is string => typeof n === 'string').map(tagOf).filter((t): t is string => t !== undefined))];
    const full = d.annotations?.['io.containerd.image.name'] ?? d.annotations?.['org.opencontainers.image.ref.name'];
    if (typeof full === 'string' && /[/:]/.test(full)) image.names = [full];
    return image;
  });
  return { format: 'oci-layout', images, blobs: new Map(), totalBlobBytes: 0 };
}

function sha256(bytes: Buffer): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}
