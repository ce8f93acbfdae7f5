/** `wharf commit` through the Engine API (POST /commit), printed as docker prints it: the new image ID. */
import type { EngineClient } from '../engine/client.js';
import { CliError } from '../engine/client.js';
import { splitReference } from './images.js';

export async function commit(
  client: EngineClient,
  container: string,
  repository: string | undefined,
  f: { author?: string; message?: string; change?: string[]; pause?: boolean },
): Promise<void> {
  let repo: string | undefined;
  let tag: string | undefined;
  if (repository) {
    const r = splitReference(repository);
    if (r.digest) throw new CliError(`invalid reference format: a commit names a tag, not a digest: ${repository}`);
    repo = r.repo;
    tag = r.tag;
  }
  // The docker CLI sends each --change as its own `changes` value: a repeated key in the path.
  const q = new URLSearchParams({ container });
  if (repo) q.set('repo', repo);
  if (tag) q.set('tag', tag);
  if (f.author) q.set('author', f.author);
  if (f.message) q.set('comment', f.message);
  q.set('pause', f.pause === false ? '0' : '1');
  for (const c of f.change ?? []) q.append('changes', c);
  const res = await client.json<{ Id: string }>('POST', `/commit?${q}`, { body: {} });
  process.stdout.write(`${res.Id}\n`);
}
