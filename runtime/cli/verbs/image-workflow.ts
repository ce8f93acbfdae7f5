/**
 * `wharf push`, `login`, `logout`, `save`, `load`, `history`, `search`, `image inspect`,
 * `image prune` through the Engine API, printed as the docker CLI prints them.
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { EngineClient } from '../engine/client.js';
import { CliError, EngineApiError } from '../engine/client.js';
import { formatListing, type Listing } from '../format/table.js';
import { ellipsis, humanDuration, humanSize, truncateId } from '../format/units.js';
import { encodeRegistryAuth, splitReference, type RegistryAuth } from './images.js';
import { jsonMessages, renderProgress } from './pull-progress.js';

export async function push(client: EngineClient, image: string, f: { auth?: RegistryAuth; quiet?: boolean; allTags?: boolean }): Promise<void> {
  const { repo, tag, digest } = splitReference(image);
  if (digest) throw new CliError(`invalid reference: pushing by digest is not supported: ${image}`);
  if (f.allTags && tag) throw new CliError(`tag can't be used with --all-tags/-a`);
  const res = await client.stream('POST', `/images/${encodeURIComponent(repo)}/push`, {
    query: { tag: f.allTags ? undefined : (tag ?? 'latest') },
    headers: { 'X-Registry-Auth': encodeRegistryAuth(f.auth ?? { username: '', password: '' }) },
  });
  await renderProgress(res, f.quiet ? undefined : process.stdout);
  if (f.quiet) process.stdout.write(`${repo}:${tag ?? 'latest'}\n`);
}

export async function login(client: EngineClient, server: string, auth: RegistryAuth): Promise<void> {
  const res = await client.json<{ Status?: string }>('POST', '/auth', { body: { username: auth.username, password: auth.password, serveraddress: server } });
  void res;
}

/**
 * GET /images/get as a file (-o), else stdout when it is not a terminal. `--format oci`
 * with an -o that does not end in .tar writes the OCI image layout as a directory.
 */
export async function save(client: EngineClient, images: string[], f: { output?: string; format?: string }): Promise<void> {
  const format = f.format ?? 'docker-archive';
  if (format !== 'docker-archive' && format !== 'docker' && format !== 'oci') throw new CliError(`invalid --format ${format}: docker-archive or oci`);
  const oci = format === 'oci';
  if (!f.output && process.stdout.isTTY) throw new CliError('cowardly refusing to save to a terminal. Use the -o flag or redirect');
  // names=a&names=b: a repeated key, which the client's query map cannot hold.
  const q = new URLSearchParams(images.map((n): [string, string] => ['names', n]));
  if (oci) q.set('format', 'oci');
  const res = await client.stream('GET', `/images/get?${q}`);
  if (oci && f.output && !f.output.endsWith('.tar')) return extractLayout(res, f.output);
  await pipeline(res, f.output ? createWriteStream(f.output) : process.stdout);
}

/** An OCI layout tar from our own daemon, written out as a directory (regular files and dirs only, names checked). */
async function extractLayout(body: NodeJS.ReadableStream, dir: string): Promise<void> {
  const tar = await import('tar-stream');
  const { normalizeEntryName } = await import('../../../oci/archive-read.js');
  await mkdir(dir, { recursive: true });
  const extract = tar.extract();
  extract.on('entry', (header, stream, next) => {
    const name = normalizeEntryName(header.name);
    const fail = (message: string) => {
      stream.resume();
      extract.destroy(new CliError(message));
    };
    if (name === undefined) return fail(`the daemon sent an entry that climbs out: ${header.name}`);
    const path = join(dir, name);
    if (header.type === 'directory') {
      stream.resume();
      void mkdir(path, { recursive: true }).then(() => next(), (e: Error) => fail(e.message));
      return;
    }
    if (header.type !== 'file') return fail(`unexpected ${header.type} entry ${name} in an OCI layout`);
    void mkdir(dirname(path), { recursive: true })
      .then(() => pipeline(stream, createWriteStream(path, { mode: 0o644 })))
      .then(() => next(), (e: Error) => fail(e.message));
  });
  await pipeline(body, extract);
}

export async function load(client: EngineClient, f: { input?: string; quiet?: boolean }): Promise<void> {
  if (!f.input && process.stdin.isTTY) throw new CliError('requested load from stdin, but stdin is empty');
  if (f.input) {
    const st = await stat(f.input).catch(() => undefined);
    if (!st) throw new CliError(`open ${f.input}: no such file or directory`);
    if (st.isDirectory()) throw new CliError(`${f.input} is a directory: load takes an archive (tar of a docker save or an OCI layout)`);
  }
  const body = f.input ? createReadStream(f.input) : process.stdin;
  const res = await client.stream('POST', '/images/load', { query: { quiet: f.quiet }, body, headers: { 'Content-Type': 'application/x-tar' } });
  for await (const m of jsonMessages(res)) {
    if (m.error || m.errorDetail) throw new CliError(m.errorDetail?.message ?? m.error ?? 'load failed');
    if (m.stream) process.stdout.write(m.stream);
  }
}

interface HistoryRow {
  Id: string;
  Created: number;
  CreatedBy: string;
  Tags: string[] | null;
  Size: number;
  Comment: string;
}

export function historyListing(trunc: boolean, human: boolean, now = Date.now()): Listing<HistoryRow> {
  return {
    defaultFormat: 'table {{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}',
    headers: { ID: 'IMAGE', CreatedSince: 'CREATED', CreatedAt: 'CREATED AT', CreatedBy: 'CREATED BY', Size: 'SIZE', Comment: 'COMMENT' },
    context: (h) => ({
      ID: h.Id.startsWith('sha256:') && trunc ? truncateId(h.Id) : h.Id,
      CreatedSince: !human ? new Date(h.Created * 1000).toISOString().replace(/\.\d+Z$/, 'Z') : h.Created ? `${humanDuration(now - h.Created * 1000)} ago` : 'N/A',
      CreatedAt: new Date(h.Created * 1000).toISOString().replace(/\.\d+Z$/, 'Z'),
      CreatedBy: trunc ? ellipsis(h.CreatedBy.replace(/\t/g, ' '), 45) : h.CreatedBy,
      Size: human ? humanSize(h.Size) : String(h.Size),
      Comment: h.Comment,
      Tags: (h.Tags ?? []).join(', '),
    }),
  };
}

export async function history(client: EngineClient, image: string, f: { trunc?: boolean; quiet?: boolean; human?: boolean; format?: string }): Promise<void> {
  const rows = await client.json<HistoryRow[]>('GET', `/images/${encodeURIComponent(image)}/history`);
  const trunc = f.trunc !== false;
  if (f.quiet) return void process.stdout.write(rows.map((r) => `${r.Id.startsWith('sha256:') && trunc ? truncateId(r.Id) : r.Id}\n`).join(''));
  process.stdout.write(formatListing(rows, historyListing(trunc, f.human !== false), f.format));
}

interface SearchResult {
  name: string;
  description: string;
  star_count: number;
  is_official: boolean;
  is_automated: boolean;
}

export async function search(client: EngineClient, term: string, f: { limit?: string; format?: string; trunc?: boolean; auth?: RegistryAuth }): Promise<void> {
  const results = await client.json<SearchResult[]>('GET', '/images/search', {
    query: { term, limit: f.limit },
    headers: f.auth ? { 'X-Registry-Auth': encodeRegistryAuth(f.auth) } : {},
  });
  const trunc = f.trunc !== false;
  const listing: Listing<SearchResult> = {
    defaultFormat: 'table {{.Name}}\t{{.Description}}\t{{.StarCount}}\t{{.IsOfficial}}',
    headers: { Name: 'NAME', Description: 'DESCRIPTION', StarCount: 'STARS', IsOfficial: 'OFFICIAL', IsAutomated: 'AUTOMATED' },
    context: (r) => ({
      Name: r.name,
      Description: trunc ? ellipsis(r.description.replace(/\n/g, ' '), 45) : r.description,
      StarCount: String(r.star_count),
      IsOfficial: r.is_official ? '[OK]' : '',
      IsAutomated: r.is_automated ? '[OK]' : '',
    }),
  };
  process.stdout.write(formatListing(results, listing, f.format));
}

export async function imageInspect(client: EngineClient, names: string[], f: { format?: string }): Promise<void> {
  const { compile } = await import('../format/go-template.js');
  const found: unknown[] = [];
  const failed: string[] = [];
  for (const name of names) {
    try {
      found.push(await client.json('GET', `/images/${encodeURIComponent(name)}/json`));
    } catch (e) {
      if (e instanceof EngineApiError && e.status === 404) failed.push(`Error response from daemon: No such image: ${name}`);
      else throw e;
    }
  }
  if (f.format) {
    const tpl = compile(f.format);
    for (const o of found) process.stdout.write(`${tpl.execute(o as Record<string, unknown>)}\n`);
  } else {
    process.stdout.write(`${JSON.stringify(found, null, 4)}\n`);
  }
  if (failed.length > 0) throw new CliError(failed.join('\n'));
}

export async function imagePrune(client: EngineClient, f: { all?: boolean; filter?: string[] }): Promise<void> {
  const { filtersParam } = await import('./ps.js');
  const filters = [...(f.filter ?? []), `dangling=${f.all ? 'false' : 'true'}`];
  const res = await client.json<{ ImagesDeleted: Array<{ Untagged?: string; Deleted?: string }> | null; SpaceReclaimed: number }>('POST', '/images/prune', {
    query: { filters: filtersParam(filters) },
  });
  const items = res.ImagesDeleted ?? [];
  if (items.length > 0) {
    process.stdout.write('Deleted Images:\n');
    for (const i of items) process.stdout.write(i.Untagged ? `untagged: ${i.Untagged}\n` : `deleted: ${i.Deleted}\n`);
    process.stdout.write('\n');
  }
  process.stdout.write(`Total reclaimed space: ${humanSize(res.SpaceReclaimed)}\n`);
}
