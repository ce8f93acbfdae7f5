/**
 * What people want to know about an image, read through the RegistryService: its
 * manifest (layers, children of an index), its config (Entrypoint, Cmd, Env, labels,
 * history), its size, platforms and creation time, and a repository's description
 * (the org.opencontainers.image.description label). The UI pages and /v1/search share
 * it. Configs are immutable, so they are cached by digest (bounded).
 */
import { isIndex } from '../oci/media-types.js';
import { parseDigest, parseTag, type Digest, type RepositoryName, type Tag } from '../oci/names.js';
import type { ManifestReference, RegistryService } from '../storage/types.js';

/** An image config larger than this is not shown (a real one is a few kB). */
const MAX_CONFIG_BYTES = 4 * 1024 * 1024;
const DESCRIPTION_LABEL = 'org.opencontainers.image.description';

export interface BlobRef {
  mediaType: string;
  digest: string;
  size: number;
  platform?: string;
  annotations?: Record<string, string>;
}

export interface ManifestInfo {
  digest: string;
  mediaType: string;
  /** bytes of the manifest itself */
  size: number;
  bytes: Buffer;
  kind: 'image' | 'index';
  config?: BlobRef;
  layers: BlobRef[];
  /** an index's manifests */
  children: BlobRef[];
  annotations: Record<string, string>;
  artifactType?: string;
  subject?: string;
}

export interface ConfigInfo {
  created?: string;
  platform?: string;
  entrypoint?: string[];
  cmd?: string[];
  env: string[];
  workingDir?: string;
  user?: string;
  labels: Record<string, string>;
  history: { created?: string; createdBy?: string; emptyLayer: boolean; comment?: string }[];
}

export interface TagSummary {
  tag: string;
  digest: string;
  mediaType: string;
  /** config + layers of an image; of every image of an index */
  size: number;
  created?: string;
  platforms: string[];
}

const obj = (v: unknown): Record<string, unknown> => (v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : {});
const strings = (v: unknown): string[] | undefined => (Array.isArray(v) && v.every((s) => typeof s === 'string') ? (v as string[]) : undefined);
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

function platformString(p: unknown): string | undefined {
  const o = obj(p);
  const parts = [str(o.os), str(o.architecture), str(o.variant)].filter((x): x is string => x !== undefined && x !== '');
  return parts.length > 0 ? parts.join('/') : undefined;
}

function blobRef(v: unknown): BlobRef {
  const o = obj(v);
  const ref: BlobRef = { mediaType: str(o.mediaType) ?? '', digest: str(o.digest) ?? '', size: typeof o.size === 'number' ? o.size : 0 };
  const platform = platformString(o.platform);
  if (platform) ref.platform = platform;
  if (Object.keys(obj(o.annotations)).length > 0) ref.annotations = obj(o.annotations) as Record<string, string>;
  return ref;
}

/** "v1" or "sha256:..." -> a reference; undefined if neither. */
export function parseReference(s: string): ManifestReference | undefined {
  const digest = parseDigest(s);
  if (digest) return { digest };
  const tag = parseTag(s);
  return tag ? { tag } : undefined;
}

export class ImageInfo {
  private readonly configs = new Map<string, ConfigInfo | null>();

  constructor(private readonly registry: RegistryService) {}

  async manifest(repo: RepositoryName, ref: ManifestReference): Promise<ManifestInfo> {
    const { descriptor, bytes } = await this.registry.getManifest(repo, ref);
    let body: Record<string, unknown> = {};
    try {
      body = obj(JSON.parse(bytes.toString('utf8')));
    } catch {
      /* stored manifests were parsed at push; nothing to show otherwise */
    }
    const index = isIndex(descriptor.mediaType);
    const info: ManifestInfo = {
      digest: descriptor.digest,
      mediaType: descriptor.mediaType,
      size: bytes.length,
      bytes,
      kind: index ? 'index' : 'image',
      layers: index ? [] : (Array.isArray(body.layers) ? body.layers : []).map(blobRef),
      children: index ? (Array.isArray(body.manifests) ? body.manifests : []).map(blobRef) : [],
      annotations: obj(body.annotations) as Record<string, string>,
    };
    if (!index && body.config) info.config = blobRef(body.config);
    if (descriptor.artifactType) info.artifactType = descriptor.artifactType;
    if (descriptor.subject) info.subject = descriptor.subject;
    return info;
  }

  /** The image config, or undefined when it is not a JSON image config (an artifact's). */
  async config(repo: RepositoryName, manifest: ManifestInfo): Promise<ConfigInfo | undefined> {
    const ref = manifest.config;
    if (!ref || ref.size > MAX_CONFIG_BYTES) return undefined;
    if (this.configs.has(ref.digest)) return this.configs.get(ref.digest) ?? undefined;
    let parsed: ConfigInfo | null = null;
    try {
      const digest = parseDigest(ref.digest);
      if (digest) {
        const chunks: Buffer[] = [];
        for await (const c of await this.registry.readBlob(await this.registry.statBlob(repo, digest))) chunks.push(c as Buffer);
        parsed = toConfigInfo(JSON.parse(Buffer.concat(chunks).toString('utf8')));
      }
    } catch {
      parsed = null;
    }
    if (this.configs.size >= 1000) this.configs.clear();
    this.configs.set(ref.digest, parsed);
    return parsed ?? undefined;
  }

  async tagSummary(repo: RepositoryName, tag: Tag): Promise<TagSummary> {
    const m = await this.manifest(repo, { tag });
    const summary: TagSummary = { tag, digest: m.digest, mediaType: m.mediaType, size: 0, platforms: [] };
    const images: ManifestInfo[] = [];
    if (m.kind === 'index') {
      for (const child of m.children.slice(0, 16)) {
        const d = parseDigest(child.digest);
        if (!d) continue;
        try {
          images.push(await this.manifest(repo, { digest: d }));
          if (child.platform) summary.platforms.push(child.platform);
        } catch {
          /* a child another repository holds: skipped */
        }
      }
    } else images.push(m);
    for (const image of images) {
      summary.size += (image.config?.size ?? 0) + image.layers.reduce((n, l) => n + l.size, 0);
      const config = await this.config(repo, image);
      if (config?.created && (!summary.created || config.created > summary.created)) summary.created = config.created;
      if (m.kind === 'image' && config?.platform) summary.platforms.push(config.platform);
    }
    return summary;
  }

  /** The description label of the repository's `latest` (else first) tag; '' if none. */
  async description(repo: RepositoryName): Promise<string> {
    try {
      let tag = parseTag('latest')!;
      try {
        await this.registry.resolveManifest(repo, { tag });
      } catch {
        const first = (await this.registry.listTags(repo, { n: 1 }))[0];
        if (first === undefined) return '';
        tag = first as Tag;
      }
      let m = await this.manifest(repo, { tag });
      if (m.annotations[DESCRIPTION_LABEL]) return m.annotations[DESCRIPTION_LABEL];
      if (m.kind === 'index') {
        const child = parseDigest(m.children[0]?.digest ?? '');
        if (!child) return '';
        m = await this.manifest(repo, { digest: child as Digest });
      }
      return (await this.config(repo, m))?.labels[DESCRIPTION_LABEL] ?? m.annotations[DESCRIPTION_LABEL] ?? '';
    } catch {
      return '';
    }
  }
}

function toConfigInfo(json: unknown): ConfigInfo {
  const c = obj(json);
  const cc = obj(c.config);
  const info: ConfigInfo = {
    env: strings(cc.Env) ?? [],
    labels: Object.fromEntries(Object.entries(obj(cc.Labels)).filter(([, v]) => typeof v === 'string')) as Record<string, string>,
    history: (Array.isArray(c.history) ? c.history : []).map((h) => {
      const o = obj(h);
      const entry: ConfigInfo['history'][number] = { emptyLayer: o.empty_layer === true };
      if (str(o.created)) entry.created = str(o.created)!;
      if (str(o.created_by)) entry.createdBy = str(o.created_by)!;
      if (str(o.comment)) entry.comment = str(o.comment)!;
      return entry;
    }),
  };
  if (str(c.created)) info.created = str(c.created)!;
  const platform = platformString(c);
  if (platform) info.platform = platform;
  if (strings(cc.Entrypoint)) info.entrypoint = strings(cc.Entrypoint)!;
  if (strings(cc.Cmd)) info.cmd = strings(cc.Cmd)!;
  if (str(cc.WorkingDir)) info.workingDir = str(cc.WorkingDir)!;
  if (str(cc.User)) info.user = str(cc.User)!;
  return info;
}
