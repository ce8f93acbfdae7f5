/**
 * Pull progress for humans: one bar per layer on a TTY (cli-progress), plain lines in
 * Docker's words otherwise (CI logs, pipes).
 */
import type { PullPhase, PullProgress } from './store.js';

export interface ProgressDisplay {
  onProgress(p: PullProgress): void;
  stop(): void;
}

const WORDS: Record<PullPhase, string> = {
  waiting: 'Waiting',
  exists: 'Already exists',
  linked: 'Linked from the co-located registry',
  downloading: 'Downloading',
  unpacking: 'Extracting',
  done: 'Pull complete',
};

export function shortId(digest: string): string {
  return digest.slice(digest.indexOf(':') + 1, digest.indexOf(':') + 13);
}

export function formatBytes(n: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let i = 0;
  while (n >= 1000 && i < units.length - 1) {
    n /= 1000;
    i++;
  }
  return `${i === 0 ? n : n.toFixed(n < 10 ? 2 : 1)}${units[i]}`;
}

/** Plain lines: one per phase change of a layer (never one per chunk). */
export function lineProgress(out: NodeJS.WritableStream): ProgressDisplay {
  const last = new Map<string, PullPhase>();
  return {
    onProgress(p) {
      if (last.get(p.layer) === p.phase) return;
      last.set(p.layer, p.phase);
      out.write(`${shortId(p.layer)}: ${WORDS[p.phase]}${p.phase === 'downloading' ? ` (${formatBytes(p.size)})` : ''}\n`);
    },
    stop() {},
  };
}

/** Bars on a TTY. cli-progress is loaded only here, only when a TTY asks for it. */
export async function ttyProgress(out: NodeJS.WriteStream): Promise<ProgressDisplay> {
  const { default: cliProgress } = await import('cli-progress');
  const multi = new cliProgress.MultiBar(
    {
      stream: out,
      format: '{id}: {phase} [{bar}] {done}/{all}',
      barsize: 30,
      hideCursor: true,
      clearOnComplete: false,
      fps: 10,
    },
    cliProgress.Presets.shades_classic,
  );
  const bars = new Map<string, ReturnType<typeof multi.create>>();
  return {
    onProgress(p) {
      const payload = { id: shortId(p.layer), phase: WORDS[p.phase].padEnd(14), done: formatBytes(p.current), all: formatBytes(p.size) };
      let bar = bars.get(p.layer);
      if (!bar) {
        bar = multi.create(Math.max(p.size, 1), p.current, payload);
        bars.set(p.layer, bar);
      } else {
        bar.update(p.current, payload);
      }
    },
    stop() {
      multi.stop();
    },
  };
}

export async function progressFor(out: NodeJS.WriteStream): Promise<ProgressDisplay> {
  return out.isTTY ? ttyProgress(out) : lineProgress(out);
}
