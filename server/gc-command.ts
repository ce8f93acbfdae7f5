/** `wharf gc`: a thin client of POST /admin/gc that prints the report for people. */
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

export async function runGcCommand(
  opts: { dryRun?: boolean; url: string; user?: string },
  out: (line: string) => void,
  err: (line: string) => void,
): Promise<number> {
  const url = `${opts.url.replace(/\/+$/, '')}/admin/gc${opts.dryRun ? '?dryRun=true' : ''}`;
  const headers: Record<string, string> = {};
  if (opts.user) headers.authorization = `Basic ${Buffer.from(opts.user).toString('base64')}`;
  let res: Response;
  try {
    res = await fetch(url, { method: 'POST', headers });
  } catch (e) {
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
