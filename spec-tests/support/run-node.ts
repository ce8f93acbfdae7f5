/**
 * For the container isolation tests: a busybox-static image layer (Debian's
 * busybox-static, copied from the host: nothing is downloaded), and `wharf` run through
 * its real bin (dist/bin/wharf.js, executed as a program, so its `#!/usr/bin/env -S … node --`
 * line is what starts Node) against a node root of the test.
 */
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildLayer, type BuiltLayer, type LayerEntry } from './images.js';

/** The real bin, as npm links it. */
export const WHARF_BIN = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'bin', 'wharf.js');

export const BUSYBOX = '/bin/busybox';

/** A layer with /bin/busybox and one symlink per applet, plus `extra` entries. */
export async function busyboxLayer(applets: string[], extra: LayerEntry[] = []): Promise<BuiltLayer> {
  let content: Buffer;
  try {
    content = await readFile(BUSYBOX);
  } catch {
    throw new Error(`${BUSYBOX} is missing: run \`apt-get install -y busybox-static\` (or .ci/run, which does)`);
  }
  return buildLayer([
    { type: 'dir', path: 'bin' },
    { type: 'file', path: 'bin/busybox', content, mode: 0o755 },
    ...applets.map((a): LayerEntry => ({ type: 'symlink', path: `bin/${a}`, target: 'busybox' })),
    ...extra,
  ]);
}

export interface WharfResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: Buffer;
  stderr: string;
}

/** Runs `wharf ARGS` through the real bin; `stdin` is written then closed (default: none, /dev/null). */
export function runWharf(args: string[], opts: { stdin?: Buffer; env?: NodeJS.ProcessEnv; cwd?: string } = {}): Promise<WharfResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(WHARF_BIN, args, {
      env: opts.env ?? process.env,
      cwd: opts.cwd,
      stdio: [opts.stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    let stderr = '';
    child.stdout!.on('data', (c: Buffer) => out.push(c));
    child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout: Buffer.concat(out), stderr }));
    if (opts.stdin) {
      child.stdin!.on('error', () => undefined); // the container may not read it all
      child.stdin!.end(opts.stdin);
    }
  });
}
