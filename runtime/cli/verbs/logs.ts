/** `wharf logs`: GET /containers/{id}/logs, raw with a TTY, demultiplexed without. */
import type { EngineClient } from '../engine/client.js';
import { Demuxer, STREAM_STDOUT } from '../engine/stdcopy.js';

export interface LogsOptions {
  follow?: boolean;
  timestamps?: boolean;
  tail?: string;
  since?: string;
  until?: string;
  details?: boolean;
}

/** Docker's --since/--until: a unix time, an RFC 3339 date, or a duration back from now (10m, 1h30m). */
export function timestampParam(value: string | undefined, now = Date.now()): string | undefined {
  if (value === undefined) return undefined;
  if (/^\d+(\.\d+)?$/.test(value)) return value;
  const d = /^(?:(\d+)h)?(?:(\d+)m(?!s))?(?:(\d+(?:\.\d+)?)s)?$/.exec(value);
  if (d && value !== '') {
    const back = (Number(d[1] ?? 0) * 3600 + Number(d[2] ?? 0) * 60 + Number(d[3] ?? 0)) * 1000;
    return ((now - back) / 1000).toFixed(9);
  }
  const t = Date.parse(value);
  if (Number.isNaN(t)) throw new Error(`invalid value for timestamp: "${value}" (unix seconds, RFC 3339, or a duration like 10m)`);
  return (t / 1000).toFixed(9);
}

export async function writeOut(stream: NodeJS.WritableStream, data: Buffer): Promise<void> {
  if (!stream.write(data)) await new Promise((r) => stream.once('drain', r));
}

export async function logs(client: EngineClient, name: string, opts: LogsOptions): Promise<void> {
  const info = await client.json<{ Config?: { Tty?: boolean } }>('GET', `/containers/${encodeURIComponent(name)}/json`);
  const res = await client.stream('GET', `/containers/${encodeURIComponent(name)}/logs`, {
    query: {
      stdout: true,
      stderr: true,
      follow: opts.follow,
      timestamps: opts.timestamps,
      details: opts.details,
      tail: opts.tail ?? 'all',
      since: timestampParam(opts.since),
      until: timestampParam(opts.until),
    },
  });
  if (info.Config?.Tty) {
    for await (const chunk of res) await writeOut(process.stdout, chunk as Buffer);
    return;
  }
  const frames: Array<[number, Buffer]> = [];
  const demux = new Demuxer((s, p) => frames.push([s, p]));
  for await (const chunk of res) {
    demux.push(chunk as Buffer);
    for (const [s, p] of frames.splice(0)) await writeOut(s === STREAM_STDOUT ? process.stdout : process.stderr, p);
  }
}
