/**
 * The V8 flags `wharf serve` and `wharf daemon` need, and their re-exec under them. They
 * must be given when the process starts: V8 sizes its heap when the isolate is created, so
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
 * `wharf daemon` is a small process that runs for months: the young generation's growth to
 * 2 x 16 MiB under a burst of container starts (kept after it) is most of its footprint.
 * - --max-semi-space-size=1: 2 MiB of young generation; a create/start/wait/delete makes
 *   a few KiB of garbage. Measured (bench/daemon-start's 30 API + 30 docker run --rm, then
 *   20 containers running): daemon RSS 69.9 -> 65.4 MiB, its CPU for the 60 runs unchanged
 *   (1.07-1.17 s both).
 * - MALLOC_ARENA_MAX=2 (when not set): glibc gives each thread that mallocs (libuv's pool,
 *   V8's workers) an arena of its own; two are enough for a daemon. Another ~1 MiB.
 *
 * The re-exec is an execve(2) by a tiny addon (bin/native/execve.cc -> wharf_execve.node):
 * the pid stays, so `npm start`'s child, a pid file or a supervisor still name the process.
 * Without the addon it runs as started, only with a larger heap.
 *
 * NODE_EXTRA_CA_CERTS: node parses the CA bundles it names as it starts, before any of our
 * code runs (`node -e 0`: 60 ms with /etc/ssl/certs/ca-certificates.crt, 20 ms without).
 * The client verbs talk to the daemon over a unix socket and never use TLS, so the `wharf`
 * bin's shebang starts node without the variable and hands its value over as
 * WHARF_NODE_EXTRA_CA_CERTS (`env -S -u NODE_EXTRA_CA_CERTS
 * WHARF_NODE_EXTRA_CA_CERTS=${NODE_EXTRA_CA_CERTS} node --`). restoreExtraCaCerts puts it
 * back for the processes a verb starts, and the verbs that use TLS themselves (TLS_VERBS)
 * re-exec so that node loads it: serve and daemon re-exec anyway, gc, import and export
 * only then. A client verb that still makes an HTTPS request of its own (an in-process pull,
 * push or login) adds the bundle to its registry client's roots (oci/extra-ca.ts).
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const SERVE_V8_FLAGS = ['--max-semi-space-size=4', '--expose-gc', '--always-sparkplug'] as const;
export const DAEMON_V8_FLAGS = ['--max-semi-space-size=1'] as const;

/** What each long-running verb runs under: V8 flags, and environment variables set when absent. */
const UNDER: Record<string, { flags: readonly string[]; env?: Record<string, string> }> = {
  serve: { flags: SERVE_V8_FLAGS },
  daemon: { flags: DAEMON_V8_FLAGS, env: { MALLOC_ARENA_MAX: '2' } },
};

/** The verbs that make TLS connections in their own process (registries, upstreams). */
export const TLS_VERBS: ReadonlySet<string> = new Set(['serve', 'daemon', 'gc', 'import', 'export']);

/**
 * NODE_EXTRA_CA_CERTS as the user set it, back in `env` (the shebang started node without
 * it; see the header). True when node itself started without it although it was set.
 */
export function restoreExtraCaCerts(env: NodeJS.ProcessEnv): boolean {
  const saved = env.WHARF_NODE_EXTRA_CA_CERTS;
  if (saved === undefined) return false; // not started by the shebang: node read it itself
  delete env.WHARF_NODE_EXTRA_CA_CERTS;
  if (saved === '' || env.NODE_EXTRA_CA_CERTS !== undefined) return false;
  env.NODE_EXTRA_CA_CERTS = saved;
  return true;
}

interface ExecveAddon {
  execve(file: string, argv: string[], env: string[]): never;
}

/**
 * For `wharf serve` or `wharf daemon` started without its flags, or a TLS verb whose node
 * started without the user's NODE_EXTRA_CA_CERTS (`caCertsLeftOut`): execve this node with
 * the flags added and the environment as it is now; otherwise returns.
 */
export function reexecUnderVerbFlags(argv: string[], env: NodeJS.ProcessEnv, caCertsLeftOut = false): void {
  const verb = argv[2];
  const under = verb !== undefined ? (UNDER[verb] ?? (caCertsLeftOut && TLS_VERBS.has(verb) ? { flags: [] } : undefined)) : undefined;
  if (!under) return;
  const missing = under.flags.filter((f) => !process.execArgv.includes(f));
  if (missing.length === 0 && !(caCertsLeftOut && TLS_VERBS.has(verb!))) return;
  let addon: ExecveAddon;
  try {
    // dist/bin/v8-flags.js -> <checkout>/build/Release/wharf_execve.node
    addon = createRequire(import.meta.url)(join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'build', 'Release', 'wharf_execve.node')) as ExecveAddon;
  } catch {
    if (caCertsLeftOut) {
      process.stderr.write(`wharf ${verb}: NODE_EXTRA_CA_CERTS is not loaded (build/Release/wharf_execve.node is missing: npm install builds it); run it as \`node dist/bin/wharf.js ${verb} …\` to have node read it\n`);
    }
    return;
  }
  const vars = Object.entries({ ...under.env, ...env }).flatMap(([k, v]) => (v === undefined ? [] : [`${k}=${v}`]));
  try {
    addon.execve(process.execPath, [process.execPath, ...process.execArgv, ...missing, ...argv.slice(1)], vars);
  } catch (err) {
    process.stderr.write(`wharf ${verb}: could not restart under ${[...missing, ...(caCertsLeftOut ? ['NODE_EXTRA_CA_CERTS'] : [])].join(' ')} (${(err as Error).message}); running without them\n`);
  }
}
