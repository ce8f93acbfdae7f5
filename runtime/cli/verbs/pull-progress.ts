/**
 * Docker's JSON message stream (moby `pkg/jsonmessage`) as the docker CLI shows it: one
 * line per layer rewritten in place on a terminal, plain status lines elsewhere (progress
 * bars only where a terminal can redraw them). An `error` message ends the stream with it.
 */
import type { Readable } from 'node:stream';
import { CliError } from '../engine/client.js';

export interface JsonMessage {
  status?: string;
  id?: string;
  progress?: string;
  progressDetail?: { current?: number; total?: number };
  error?: string;
  errorDetail?: { message?: string; code?: number };
  stream?: string;
  aux?: unknown;
}

/** Newline-delimited JSON objects, split across chunks as they may be. */
export async function* jsonMessages(body: Readable): AsyncGenerator<JsonMessage> {
  let buf = '';
  for await (const chunk of body) {
    buf += (chunk as Buffer).toString('utf8');
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl).trim();
      buf = buf.slice(nl + 1);
      if (line) yield JSON.parse(line) as JsonMessage;
    }
  }
  if (buf.trim()) yield JSON.parse(buf) as JsonMessage;
}

export async function renderProgress(body: Readable, out: NodeJS.WriteStream | undefined): Promise<void> {
  const tty = out?.isTTY === true;
  // terminal: which line (from the top of the current block) each layer id owns
  let lines = new Map<string, number>();
  for await (const m of jsonMessages(body)) {
    if (m.error || m.errorDetail) throw new CliError(m.errorDetail?.message ?? m.error ?? 'pull failed');
    if (!out || m.status === undefined) continue;
    const isProgress = m.id !== undefined && m.progressDetail !== undefined;
    const text = `${m.id !== undefined ? `${m.id}: ` : ''}${m.status}`;
    if (!tty) {
      // Without a terminal, bars cannot redraw: only the status changes are printed.
      if (m.progressDetail?.current !== undefined && m.progressDetail.current > 0) continue;
      out.write(`${text}\n`);
      continue;
    }
    if (!isProgress) {
      lines = new Map();
      out.write(`\x1b[2K\r${text}\n`);
      continue;
    }
    let line = lines.get(m.id!);
    if (line === undefined) {
      line = lines.size;
      lines.set(m.id!, line);
      out.write('\n');
    }
    const up = lines.size - line;
    out.write(`\x1b[${up}A\x1b[2K\r${text}${m.progress ? ` ${m.progress}` : ''}\r\x1b[${up}B`);
  }
}
