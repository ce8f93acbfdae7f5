/**
 * The V8 flags `wharf serve` needs, and its re-exec under them. They must be given when
 * the process starts: V8 sizes its heap when the isolate is created, so
 * v8.setFlagsFromString('--max-semi-space-size=…') later changes nothing (measured: the
 * new space stayed 32 MiB), and NODE_OPTIONS is the user's, not ours to rely on.
 *
 * - --max-semi-space-size=4: the young generation grows to 2 × 16 MiB under load by
 *   default, and stays that large; 4 MiB semi-spaces keep it to 8 MiB. A request's
 *   garbage is a few KiB and dies young either way, so scavenges stay short.
 * - --expose-gc: an upload asks for a minor GC every few MiB (storage/fs-upload.ts), as
 *   each body chunk is a fresh buffer outside V8's heap that V8 would otherwise let pile up.
 * - --always-sparkplug: functions go straight to baseline machine code instead of first
 *   running in the bytecode interpreter. A freshly started server under a burst of pulls
 *   spent its first seconds interpreting the request path (measured, 64 connections from
 *   the first second: 3-6x the answers in that second), and those slow answers were the
 *   p99; idle RSS is unchanged (66 MiB).
 *
 * The re-exec is an execve(2) by a tiny addon (bin/native/execve.cc -> wharf_execve.node):
 * the pid stays, so `npm start`'s child, a pid file or a supervisor still name the server.
 * Without the addon the server runs as started, only with a larger heap.
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const SERVE_V8_FLAGS = ['--max-semi-space-size=4', '--expose-gc', '--always-sparkplug'] as const;

interface ExecveAddon {
  execve(file: string, argv: string[], env: string[]): never;
}

/** For `wharf serve` started without SERVE_V8_FLAGS: execve this node with them added; otherwise returns. */
export function reexecUnderServeFlags(argv: string[], env: NodeJS.ProcessEnv): void {
  if (argv[2] !== 'serve') return;
  const missing = SERVE_V8_FLAGS.filter((f) => !process.execArgv.includes(f));
  if (missing.length === 0) return;
  let addon: ExecveAddon;
  try {
    // dist/bin/v8-flags.js -> <checkout>/build/Release/wharf_execve.node
    addon = createRequire(import.meta.url)(join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'build', 'Release', 'wharf_execve.node')) as ExecveAddon;
  } catch {
    return;
  }
  const vars = Object.entries(env).flatMap(([k, v]) => (v === undefined ? [] : [`${k}=${v}`]));
  try {
    addon.execve(process.execPath, [process.execPath, ...process.execArgv, ...missing, ...argv.slice(1)], vars);
  } catch (err) {
    process.stderr.write(`wharf serve: could not restart under ${missing.join(' ')} (${(err as Error).message}); running without them\n`);
  }
}
