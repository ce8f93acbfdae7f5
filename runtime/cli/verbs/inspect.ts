/** `wharf inspect`: containers first, then images (docker's order), as JSON or through --format. */
import type { EngineClient } from '../engine/client.js';
import { CliError, EngineApiError } from '../engine/client.js';
import { compile } from '../format/go-template.js';

export interface InspectOptions {
  format?: string;
  type?: string;
  size?: boolean;
}

const ENDPOINTS: Record<string, (name: string) => string> = {
  container: (n) => `/containers/${encodeURIComponent(n)}/json`,
  image: (n) => `/images/${encodeURIComponent(n)}/json`,
};

async function inspectOne(client: EngineClient, name: string, opts: InspectOptions): Promise<unknown> {
  const types = opts.type ? [opts.type] : ['container', 'image'];
  for (const t of types) {
    const endpoint = ENDPOINTS[t];
    if (!endpoint) throw new CliError(`"${t}" is not a valid value for --type`);
    try {
      return await client.json('GET', endpoint(name), { query: t === 'container' ? { size: opts.size } : {} });
    } catch (e) {
      if (!(e instanceof EngineApiError) || e.status !== 404) throw e;
    }
  }
  return undefined;
}

/** Docker prints what it found, then "Error: No such object: X" for each miss, exit 1. */
export async function inspect(client: EngineClient, names: string[], opts: InspectOptions): Promise<void> {
  const found: unknown[] = [];
  const missing: string[] = [];
  for (const n of names) {
    const obj = await inspectOne(client, n, opts);
    if (obj === undefined) missing.push(n);
    else found.push(obj);
  }
  if (opts.format) {
    const tpl = compile(opts.format);
    for (const obj of found) process.stdout.write(`${tpl.execute(obj)}\n`);
  } else {
    process.stdout.write(`${JSON.stringify(found, null, 4)}\n`);
  }
  if (missing.length > 0) {
    const what = opts.type === 'container' ? 'container' : opts.type === 'image' ? 'image' : 'object';
    throw new CliError(missing.map((n) => `Error: No such ${what}: ${n}`).join('\n'));
  }
}
