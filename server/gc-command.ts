/**
 * `wharf gc`: a thin client of POST /admin/gc that prints the report for people. With
 * access control: Basic credentials (htpasswd mode), or a token through the challenge flow
 * (token mode).
 */
import { parseChallenge } from '../oci/client.js';
import { ADMIN_SCOPE } from './auth/requirement.js';
import type { GcRun } from './gc-service.js';

function bytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${n} B` : `${v.toFixed(1)} ${units[i]}`;
}

class TokenRefused extends Error {}

/**
 * A token for the admin endpoint from the Bearer challenge of a registry in token mode
 * (GET realm?service=&scope=, with the user's Basic credentials when given), as docker
 * login does; undefined when the answer was not such a challenge.
 */
async function tokenFor(res: Response, basic: string | undefined): Promise<string | undefined> {
  const challenge = parseChallenge(res.headers.get('www-authenticate') ?? '');
  if (challenge?.scheme !== 'bearer' || !challenge.params.realm) return undefined;
  const url = new URL(challenge.params.realm);
  if (challenge.params.service) url.searchParams.set('service', challenge.params.service);
  url.searchParams.set('scope', challenge.params.scope ?? ADMIN_SCOPE);
  const answer = await fetch(url, { headers: basic ? { authorization: basic } : {} });
  if (!answer.ok) throw new TokenRefused(`the token endpoint ${url.origin}${url.pathname} answered ${answer.status}`);
  const body = (await answer.json()) as { token?: string; access_token?: string };
  return body.token ?? body.access_token;
}

export async function runGcCommand(
  opts: { dryRun?: boolean; url: string; user?: string },
  out: (line: string) => void,
  err: (line: string) => void,
): Promise<number> {
  const url = `${opts.url.replace(/\/+$/, '')}/admin/gc${opts.dryRun ? '?dryRun=true' : ''}`;
  const basic = opts.user ? `Basic ${Buffer.from(opts.user).toString('base64')}` : undefined;
  let res: Response;
  try {
    res = await fetch(url, { method: 'POST', headers: basic ? { authorization: basic } : {} });
    if (res.status === 401) {
      const token = await tokenFor(res, basic);
      if (token) res = await fetch(url, { method: 'POST', headers: { authorization: `Bearer ${token}` } });
    }
  } catch (e) {
    if (e instanceof TokenRefused) {
      err(`wharf gc: ${e.message}`);
      return 3;
    }
    err(`wharf gc: cannot reach ${opts.url}: ${(e as { cause?: Error }).cause?.message ?? (e as Error).message}`);
    return 1;
  }
  const text = await res.text();
  if (!res.ok) {
    let message = text.slice(0, 500);
    try {
      message = (JSON.parse(text) as { errors: { message: string }[] }).errors[0]!.message;
    } catch {
      /* not the error JSON */
    }
    err(`wharf gc: ${opts.url} answered ${res.status}: ${message}`);
    return res.status === 401 || res.status === 403 ? 3 : 1;
  }
  const run = JSON.parse(text) as GcRun;
  const verb = run.dryRun ? 'would free' : 'freed';
  for (const t of run.tags) out(`tag       ${t.repository}:${t.tag}`);
  for (const m of run.manifests) out(`manifest  ${m.repository}@${m.digest}`);
  for (const b of run.blobs) out(`blob      ${b.digest}  ${bytes(b.size)}`);
  out(
    `${verb} ${bytes(run.bytesFreed)} (${run.bytesFreed} bytes): ${run.blobs.length} blobs, ${run.manifests.length} manifests, ${run.tags.length} tags` +
      (run.dryRun ? '' : `; ${run.uploadsPurged} abandoned uploads purged`) +
      ` in ${run.durationMs} ms`,
  );
  return 0;
}
