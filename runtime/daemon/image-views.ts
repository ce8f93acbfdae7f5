/**
 * What the image routes answer, in Docker's shapes, from the node's image records (pure
 * functions, no I/O): the list (GET /images/json), inspect (GET /images/{name}/json),
 * the `reference` filter, and the X-Registry-Auth header.
 */
import type { ImageRecord } from '../images/store.js';
import type { Credentials } from '../../oci/client.js';
import { badParameter } from './errors.js';
import { compareVersions } from './router.js';

export const shortId = (id: string): string => id.slice(id.indexOf(':') + 1).slice(0, 12);

const unix = (iso: string | undefined): number => (iso ? Math.floor(Date.parse(iso) / 1000) : 0);

/** Tags and digests of one image over all its records (a record per reference). */
function names(records: ImageRecord[]): { tags: string[]; digests: string[] } {
  const tags = new Set<string>();
  const digests = new Set<string>();
  for (const r of records) {
    if (!r.repository) continue; // dangling: loaded or committed without a name
    if (r.tag) tags.add(`${r.registry}/${r.repository}:${r.tag}`);
    // A tag made on this node names no digest of that repository (Docker: none either).
    if (!r.taggedAt) digests.add(`${r.registry}/${r.repository}@${r.indexDigest ?? r.digest}`);
  }
  return { tags: [...tags].sort(), digests: [...digests].sort() };
}

export interface ImageSummary {
  Id: string;
  ParentId: string;
  RepoTags: string[];
  RepoDigests: string[];
  Created: number;
  Size: number;
  SharedSize: number;
  VirtualSize: number;
  Labels: Record<string, string>;
  Containers: number;
}

/** One summary per image ID, newest first (dockerd's order). */
export function imageSummaries(records: ImageRecord[], users: (imageId: string) => number): ImageSummary[] {
  const byId = new Map<string, ImageRecord[]>();
  for (const r of records) byId.set(r.configDigest, [...(byId.get(r.configDigest) ?? []), r]);
  const out: ImageSummary[] = [];
  for (const [id, recs] of byId) {
    const first = recs[0]!;
    const { tags, digests } = names(recs);
    out.push({
      Id: id,
      ParentId: '',
      RepoTags: tags,
      RepoDigests: digests,
      Created: unix(first.created),
      Size: first.size,
      SharedSize: -1,
      VirtualSize: first.size,
      Labels: first.config.Labels ?? {},
      Containers: users(id),
    });
  }
  return out.sort((a, b) => b.Created - a.Created || a.Id.localeCompare(b.Id));
}

/** Docker's image inspect (api/types ImageInspect) for the fields a node has. */
export function imageInspect(rec: ImageRecord, siblings: ImageRecord[], apiVersion: string, fromConfig: { author?: string; comment?: string } = {}): Record<string, unknown> {
  const { tags, digests } = names(siblings.length > 0 ? siblings : [rec]);
  const c = rec.config;
  const lastTag = siblings.map((s) => s.taggedAt).filter((t): t is string => t !== undefined).sort().pop();
  return {
    Id: rec.configDigest,
    RepoTags: tags,
    RepoDigests: digests,
    Parent: '',
    Comment: fromConfig.comment ?? '',
    Created: rec.created ?? '0001-01-01T00:00:00Z',
    DockerVersion: '',
    Author: fromConfig.author ?? '',
    Config: {
      Hostname: '',
      Domainname: '',
      User: c.User ?? '',
      AttachStdin: false,
      AttachStdout: false,
      AttachStderr: false,
      ...(c.ExposedPorts ? { ExposedPorts: c.ExposedPorts } : {}),
      Tty: false,
      OpenStdin: false,
      StdinOnce: false,
      Env: c.Env ?? null,
      Cmd: c.Cmd ?? null,
      Image: '',
      Volumes: c.Volumes ?? null,
      WorkingDir: c.WorkingDir ?? '',
      Entrypoint: c.Entrypoint ?? null,
      OnBuild: null,
      Labels: c.Labels ?? null,
      ...(c.StopSignal ? { StopSignal: c.StopSignal } : {}),
    },
    Architecture: rec.platform.architecture,
    ...(rec.platform.variant ? { Variant: rec.platform.variant } : {}),
    Os: rec.platform.os,
    Size: rec.size,
    // Removed from the API in 1.44; older clients still read it.
    ...(compareVersions(apiVersion, '1.44') < 0 ? { VirtualSize: rec.size } : {}),
    GraphDriver: { Name: 'overlay', Data: null },
    RootFS: { Type: 'layers', Layers: rec.layers.map((l) => l.diffId) },
    Metadata: { LastTagTime: lastTag ?? '0001-01-01T00:00:00Z' },
  };
}

/**
 * The `reference` filter: a pattern `repo[:tag]` with path.Match globs (`*` within one
 * component), matched against `registry/repo:tag`; a pattern without a registry host
 * also matches images of the daemon's default registry, as Docker's familiar names do.
 */
export function matchesReferenceFilter(pattern: string, repoTag: string, defaultRegistry: string): boolean {
  const glob = (p: string) => new RegExp(`^${p.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*').replace(/\?/g, '[^/]')}$`);
  const colon = repoTag.lastIndexOf(':');
  const repo = repoTag.slice(0, colon);
  const candidates = [repoTag, repo];
  if (repoTag.startsWith(`${defaultRegistry}/`)) candidates.push(repoTag.slice(defaultRegistry.length + 1), repo.slice(defaultRegistry.length + 1));
  const re = glob(pattern);
  return candidates.some((c) => re.test(c));
}

/**
 * X-Registry-Auth: base64url of the JSON AuthConfig (username/password, or an identity
 * token as the password of the token flow). Absent, empty or `{}`: anonymous.
 */
export function decodeRegistryAuth(header: string | string[] | undefined): Credentials | undefined {
  const value = Array.isArray(header) ? header[0] : header;
  if (!value) return undefined;
  let auth: { username?: unknown; password?: unknown; identitytoken?: unknown };
  try {
    auth = JSON.parse(Buffer.from(value.replace(/-/g, '+').replace(/_/g, '/'), 'base64').toString('utf8')) as typeof auth;
  } catch {
    throw badParameter('invalid X-Registry-Auth header: not base64url-encoded JSON');
  }
  if (typeof auth !== 'object' || auth === null) throw badParameter('invalid X-Registry-Auth header: not a JSON object');
  const username = typeof auth.username === 'string' ? auth.username : '';
  const password = typeof auth.password === 'string' ? auth.password : typeof auth.identitytoken === 'string' ? auth.identitytoken : '';
  if (!username && !password) return undefined;
  return { username, password };
}

/**
 * X-Registry-Config (POST /build): base64url JSON of {registry host: AuthConfig}, every
 * credential the client holds, for the pulls of FROM. A lookup by the registry of a pull.
 */
export function decodeRegistryConfig(header: string | string[] | undefined): (registry: string) => Credentials | undefined {
  const value = Array.isArray(header) ? header[0] : header;
  if (!value) return () => undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(value.replace(/-/g, '+').replace(/_/g, '/'), 'base64').toString('utf8'));
  } catch {
    throw badParameter('invalid X-Registry-Config header: not base64url-encoded JSON');
  }
  if (typeof parsed !== 'object' || parsed === null) return () => undefined;
  const byHost = new Map<string, Credentials>();
  for (const [server, auth] of Object.entries(parsed as Record<string, { username?: unknown; password?: unknown }>)) {
    if (!auth || typeof auth.username !== 'string') continue;
    const host = server.replace(/^[a-z]+:\/\//i, '').split('/')[0]!.toLowerCase();
    byHost.set(host, { username: auth.username, password: typeof auth.password === 'string' ? auth.password : '' });
  }
  return (registry) => byHost.get(registry.toLowerCase());
}
