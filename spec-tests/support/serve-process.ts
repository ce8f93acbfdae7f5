/**
 * `wharf serve` as its own process (or `npm start`, as a user runs it), on an ephemeral
 * port over a temp data dir: its stdout log lines as they arrive, its pid and RSS, and
 * waits with deadlines (a deadline bounds a wait; it measures nothing).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from './registry.js';

export const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const WHARF_BIN = join(REPO_ROOT, 'dist', 'bin', 'wharf.js');

export interface ServeProcess {
  child: ChildProcess;
  url: string;
  port: number;
  /** every stdout line so far, parsed (pino JSON) */
  lines: Record<string, unknown>[];
  stderr: () => string;
  exited: Promise<number | null>;
  /** resolves with the first log line matching, or rejects after `ms` */
  waitForLine(match: (line: Record<string, unknown>) => boolean, ms?: number): Promise<Record<string, unknown>>;
}

export interface ServeOptions {
  root: string;
  env?: Record<string, string>;
  /** run as `npm start` in the checkout instead of `node dist/bin/wharf.js serve` */
  npmStart?: boolean;
  port?: number;
}

export async function startServeProcess(options: ServeOptions): Promise<ServeProcess> {
  const port = options.port ?? (await freePort());
  const env = { ...process.env, WHARF_HTTP_ADDR: `127.0.0.1:${port}`, WHARF_STORAGE_ROOT: options.root, ...options.env };
  const child = options.npmStart
    ? spawn('npm', ['start', '--silent'], { cwd: REPO_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] })
    : spawn(process.execPath, [WHARF_BIN, 'serve'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: Record<string, unknown>[] = [];
  const waiters: (() => void)[] = [];
  let partial = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => {
    partial += d;
    let nl;
    while ((nl = partial.indexOf('\n')) >= 0) {
      const text = partial.slice(0, nl);
      partial = partial.slice(nl + 1);
      try {
        lines.push(JSON.parse(text) as Record<string, unknown>);
      } catch {
        lines.push({ text });
      }
    }
    for (const w of waiters.splice(0)) w();
  });
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr = (stderr + d).slice(-8000)));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));

  const waitForLine = (match: (line: Record<string, unknown>) => boolean, ms = 20_000): Promise<Record<string, unknown>> =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no matching log line within ${ms} ms; stdout: ${JSON.stringify(lines.slice(-5))} stderr: ${stderr}`)), ms);
      const check = (): void => {
        const found = lines.find(match);
        if (found) {
          clearTimeout(timer);
          resolve(found);
        } else if (child.exitCode !== null) {
          clearTimeout(timer);
          reject(new Error(`wharf serve exited ${child.exitCode}: ${stderr}`));
        } else {
          waiters.push(check);
        }
      };
      check();
    });

  const url = `http://127.0.0.1:${port}`;
  await waitForLine((l) => typeof l.msg === 'string' && l.msg.startsWith('wharf registry listening on '), 60_000);
  return { child, url, port, lines, stderr: () => stderr, exited, waitForLine };
}

/** Resident set size of a process, in bytes (from /proc). */
export function rssOf(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = /VmRSS:\s+(\d+) kB/.exec(status);
  if (!kb) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(kb[1]) * 1024;
}

/** Whether something accepts TCP connections on 127.0.0.1:port. */
export function portAccepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** Poll `check` every 50 ms until it holds, or reject after `ms` with `what`. */
export async function eventually(what: string, check: () => Promise<boolean> | boolean, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
