/**
 * Reading Docker json-file logs (written by the shim): `<id>-json.log`, rotated to
 * `.1`, `.2` ... (oldest last). Entries are `{"log","stream","time"}` lines.
 *
 *   readLogs(path, opts)   the entries matching since/until/stream, the last `tail`
 *   followLog(path, from)  new entries as the shim appends them (survives rotation)
 */
import { open, readdir, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { watch, type FSWatcher } from 'node:fs';

export interface LogEntry {
  log: string;
  stream: 'stdout' | 'stderr';
  time: string;
}

export interface LogQuery {
  stdout: boolean;
  stderr: boolean;
  /** seconds since the epoch (fractions allowed) */
  since?: number;
  until?: number;
  /** last N entries; undefined: all */
  tail?: number;
}

function parseLine(line: string): LogEntry | undefined {
  if (line === '') return undefined;
  try {
    const e = JSON.parse(line) as LogEntry;
    return typeof e.log === 'string' ? e : undefined;
  } catch {
    return undefined; // a line cut by a crash mid-write
  }
}

/** RFC 3339 with nanoseconds -> seconds since the epoch. */
export function logTime(time: string): number {
  const frac = /\.(\d+)/.exec(time)?.[1] ?? '0';
  return Date.parse(time.replace(/\.\d+/, '')) / 1000 + Number(`0.${frac}`);
}

export function matches(e: LogEntry, q: LogQuery): boolean {
  if (e.stream === 'stdout' ? !q.stdout : !q.stderr) return false;
  if (q.since !== undefined || q.until !== undefined) {
    const t = logTime(e.time);
    if (q.since !== undefined && t < q.since) return false;
    if (q.until !== undefined && t > q.until) return false;
  }
  return true;
}

async function rotatedFiles(path: string): Promise<string[]> {
  const dir = dirname(path);
  const base = basename(path);
  const names = await readdir(dir).catch(() => [] as string[]);
  const rotated = names
    .map((n) => ({ n, m: new RegExp(`^${base.replace(/[.]/g, '\\.')}\\.(\\d+)$`).exec(n) }))
    .filter((x) => x.m)
    .sort((a, b) => Number(b.m![1]) - Number(a.m![1]))
    .map((x) => join(dir, x.n));
  return [...rotated, path];
}

async function readAll(file: string): Promise<{ text: string; size: number; ino: number }> {
  const f = await open(file, 'r').catch(() => undefined);
  if (!f) return { text: '', size: 0, ino: 0 };
  try {
    const st = await f.stat();
    const buf = Buffer.alloc(st.size);
    let off = 0;
    while (off < st.size) {
      const { bytesRead } = await f.read(buf, off, st.size - off, off);
      if (bytesRead === 0) break;
      off += bytesRead;
    }
    return { text: buf.subarray(0, off).toString('utf8'), size: off, ino: st.ino };
  } finally {
    await f.close();
  }
}

/** The entries of the log (all rotated files, oldest first) and where the current file ended. */
export async function readLogs(path: string, q: LogQuery): Promise<{ entries: LogEntry[]; offset: number; ino: number }> {
  const files = await rotatedFiles(path);
  let entries: LogEntry[] = [];
  let offset = 0;
  let ino = 0;
  for (const file of files) {
    const { text, size, ino: i } = await readAll(file);
    // Only complete lines: a partial last line is read by the follower.
    const end = text.lastIndexOf('\n') + 1;
    for (const line of text.slice(0, end).split('\n')) {
      const e = parseLine(line);
      if (e && matches(e, q)) entries.push(e);
    }
    if (file === path) {
      offset = Buffer.byteLength(text.slice(0, end));
      ino = i;
      void size;
    }
  }
  if (q.tail !== undefined && q.tail >= 0) entries = q.tail === 0 ? [] : entries.slice(-q.tail);
  return { entries, offset, ino };
}

/**
 * Calls `onEntry` for every entry appended to the log from `offset` on, until `stop()`.
 * inotify (fs.watch) wakes it; a rotation (new inode or a shorter file) restarts at 0.
 */
export function followLog(path: string, start: { offset: number; ino: number }, q: LogQuery, onEntry: (e: LogEntry) => void): { stop(): Promise<void> } {
  let offset = start.offset;
  let ino = start.ino;
  let rest = '';
  let stopped = false;
  let running: Promise<void> = Promise.resolve();
  const poll = async () => {
    const st = await stat(path).catch(() => undefined);
    if (!st) return;
    if ((ino !== 0 && st.ino !== ino) || st.size < offset) {
      offset = 0;
      rest = '';
    }
    ino = st.ino;
    if (st.size <= offset) return;
    const f = await open(path, 'r').catch(() => undefined);
    if (!f) return;
    try {
      const buf = Buffer.alloc(st.size - offset);
      const { bytesRead } = await f.read(buf, 0, buf.length, offset);
      offset += bytesRead;
      const text = rest + buf.subarray(0, bytesRead).toString('utf8');
      const end = text.lastIndexOf('\n') + 1;
      rest = text.slice(end);
      for (const line of text.slice(0, end).split('\n')) {
        const e = parseLine(line);
        if (e && matches(e, q)) onEntry(e);
      }
    } finally {
      await f.close();
    }
  };
  const kick = () => {
    if (stopped) return;
    running = running.then(poll).catch(() => undefined);
  };
  let watcher: FSWatcher | undefined;
  try {
    watcher = watch(dirname(path), () => kick());
  } catch {
    watcher = undefined;
  }
  // inotify misses nothing on a local fs, but a timer costs little and covers the rest.
  const timer = setInterval(kick, 250);
  kick();
  return {
    async stop() {
      kick();
      await running;
      stopped = true;
      clearInterval(timer);
      watcher?.close();
    },
  };
}
