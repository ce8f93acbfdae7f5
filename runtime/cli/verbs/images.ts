/** `wharf pull`, `images`, `rmi`, `tag` through the Engine API, printed as the docker CLI prints them. */
import type { EngineClient } from '../engine/client.js';
import { CliError } from '../engine/client.js';
import { formatListing, type Listing } from '../format/table.js';
import { goTime, humanDuration, humanSize, truncateId } from '../format/units.js';
import { renderProgress } from './pull-progress.js';

/** repo[:tag] or repo@digest -> (repo, tag-or-digest); a ':' inside the host:port is not a tag. */
export function splitReference(ref: string): { repo: string; tag?: string; digest?: string } {
  const at = ref.indexOf('@');
  if (at >= 0) return { repo: ref.slice(0, at), digest: ref.slice(at + 1) };
  const colon = ref.lastIndexOf(':');
  if (colon > ref.lastIndexOf('/')) return { repo: ref.slice(0, colon), tag: ref.slice(colon + 1) };
  return { repo: ref };
}

export interface RegistryAuth {
  username: string;
  password: string;
  serveraddress?: string;
}

/** X-Registry-Auth: the AuthConfig as base64url JSON (moby registry.EncodeAuthConfig). */
export function encodeRegistryAuth(auth: RegistryAuth): string {
  return Buffer.from(JSON.stringify(auth)).toString('base64url');
}

export interface PullFlags {
  out?: NodeJS.WriteStream;
  quiet?: boolean;
  platform?: string;
  auth?: RegistryAuth;
  /** the pull of `run`/`create`: everything on `out` (stderr) */
  withinRun?: boolean;
}

/** POST /images/create: the daemon's JSON progress stream rendered as docker renders it. */
export async function pullImage(client: EngineClient, image: string, f: PullFlags = {}): Promise<void> {
  const out = f.out ?? process.stdout;
  const { repo, tag, digest } = splitReference(image);
  const res = await client.stream('POST', '/images/create', {
    query: { fromImage: repo, tag: digest ?? tag ?? 'latest', platform: f.platform },
    headers: f.auth ? { 'X-Registry-Auth': encodeRegistryAuth(f.auth) } : {},
  });
  await renderProgress(res, f.quiet ? undefined : out);
  // docker pull ends with the reference it pulled (on stdout even when quiet); run's pull says it on stderr, or not at all with -q.
  const pulled = `${digest ? image : `${repo}:${tag ?? 'latest'}`}\n`;
  if (f.withinRun) {
    if (!f.quiet) out.write(pulled);
  } else {
    process.stdout.write(pulled);
  }
}

interface ImageSummary {
  Id: string;
  RepoTags?: string[] | null;
  RepoDigests?: string[] | null;
  Created?: number;
  Size?: number;
  Containers?: number;
}

interface ImageRow {
  repo: string;
  tag: string;
  digest: string;
  image: ImageSummary;
}

/** docker's FamiliarName: docker.io/library/x -> x, docker.io/u/x -> u/x; anything else as is. */
function familiar(repo: string): string {
  return repo.replace(/^docker\.io\/(library\/)?/, '');
}

/** One row per repository:tag, then rows for digests of untagged repositories, else <none> (docker's image formatter). */
export function imageRows(images: ImageSummary[]): ImageRow[] {
  const rows: ImageRow[] = [];
  for (const image of images) {
    const tags = new Map<string, string[]>();
    const digests = new Map<string, string[]>();
    for (const rt of image.RepoTags ?? []) {
      if (rt === '<none>:<none>') continue;
      const { repo, tag } = splitReference(rt);
      const r = familiar(repo);
      tags.set(r, [...(tags.get(r) ?? []), tag ?? '<none>']);
    }
    for (const rd of image.RepoDigests ?? []) {
      if (rd === '<none>@<none>') continue;
      const { repo, digest } = splitReference(rd);
      const r = familiar(repo);
      digests.set(r, [...(digests.get(r) ?? []), digest ?? '<none>']);
    }
    for (const [repo, ts] of [...tags].sort(([a], [b]) => a.localeCompare(b))) {
      const ds = digests.get(repo) ?? [];
      digests.delete(repo);
      for (const tag of ts.sort()) rows.push({ repo, tag, digest: ds[0] ?? '<none>', image });
    }
    for (const [repo, ds] of digests) for (const d of ds) rows.push({ repo, tag: '<none>', digest: d, image });
    if (tags.size === 0 && (image.RepoDigests ?? []).filter((d) => d !== '<none>@<none>').length === 0) {
      rows.push({ repo: '<none>', tag: '<none>', digest: '<none>', image });
    }
  }
  return rows;
}

export function imagesListing(trunc: boolean, now = Date.now()): Listing<ImageRow> {
  return {
    defaultFormat: 'table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}',
    headers: {
      Repository: 'REPOSITORY',
      Tag: 'TAG',
      ID: 'IMAGE ID',
      Digest: 'DIGEST',
      CreatedSince: 'CREATED',
      CreatedAt: 'CREATED AT',
      Size: 'SIZE',
      Containers: 'CONTAINERS',
    },
    context: (r) => ({
      Repository: r.repo,
      Tag: r.tag,
      ID: trunc ? truncateId(r.image.Id) : r.image.Id,
      Digest: r.digest,
      CreatedSince: r.image.Created ? `${humanDuration(now - r.image.Created * 1000)} ago` : 'N/A',
      CreatedAt: goTime(new Date((r.image.Created ?? 0) * 1000)),
      Size: humanSize(r.image.Size ?? 0),
      Containers: r.image.Containers === undefined || r.image.Containers < 0 ? 'N/A' : String(r.image.Containers),
    }),
  };
}

export interface ImagesFlags {
  all?: boolean;
  quiet?: boolean;
  digests?: boolean;
  format?: string;
  trunc?: boolean;
  filter?: string[];
}

export async function images(client: EngineClient, reference: string | undefined, f: ImagesFlags): Promise<void> {
  const { filtersParam } = await import('./ps.js');
  const filter = [...(f.filter ?? []), ...(reference ? [`reference=${reference}`] : [])];
  const list = await client.json<ImageSummary[]>('GET', '/images/json', { query: { all: f.all, filters: filtersParam(filter) } });
  const trunc = f.trunc !== false;
  if (f.quiet) {
    const ids = [...new Set(list.map((i) => (trunc ? truncateId(i.Id) : i.Id)))];
    return void process.stdout.write(ids.map((i) => `${i}\n`).join(''));
  }
  let format = f.format;
  if (!format && f.digests) format = 'table {{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}';
  process.stdout.write(formatListing(imageRows(list), imagesListing(trunc), format));
}

export async function rmi(client: EngineClient, names: string[], f: { force?: boolean; prune?: boolean }): Promise<void> {
  const failed: string[] = [];
  for (const name of names) {
    try {
      const items = await client.json<Array<{ Untagged?: string; Deleted?: string }>>('DELETE', `/images/${encodeURIComponent(name)}`, {
        query: { force: f.force, noprune: f.prune === false },
      });
      for (const i of items ?? []) {
        if (i.Untagged) process.stdout.write(`Untagged: ${i.Untagged}\n`);
        if (i.Deleted) process.stdout.write(`Deleted: ${i.Deleted}\n`);
      }
    } catch (e) {
      if (!(e instanceof CliError)) throw e;
      failed.push(e.message);
    }
  }
  if (failed.length > 0) throw new CliError(failed.join('\n'));
}

export async function tag(client: EngineClient, source: string, target: string): Promise<void> {
  const { repo, tag: t, digest } = splitReference(target);
  if (digest) throw new CliError(`refusing to create a tag with a digest reference: ${target}`);
  await client.request('POST', `/images/${encodeURIComponent(source)}/tag`, { query: { repo, tag: t ?? 'latest' } });
}
