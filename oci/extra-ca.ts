/**
 * The CA bundle NODE_EXTRA_CA_CERTS names, for a process whose node started without it.
 * The `wharf` bin's shebang starts node without the variable (bin/v8-flags.ts: node parses
 * the bundle as it starts, and the client verbs talk to the daemon over a unix socket), yet
 * a client verb can still make TLS connections of its own: `wharf pull` or `run --root`
 * pulling in this process, `wharf push`, `wharf login`. Their registry client adds the
 * bundle to node's bundled roots, as node does at start, read on its first HTTPS client.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

/**
 * Kept on globalThis: the bin that says so is the CLI bundle, and a verb may load our
 * modules again from tsc's files (bin/bundle.mjs), which would be another copy of this one.
 */
const LEFT_OUT = Symbol.for('wharf.extraCaCertsLeftOut');
const state = globalThis as { [LEFT_OUT]?: string };
let roots: string[] | undefined;

/** Node started without the bundle at `path`: the TLS clients of this process add it themselves. */
export function extraCaCertsLeftOut(path: string | undefined): void {
  state[LEFT_OUT] = path;
  roots = undefined;
}

/** The roots a TLS client should trust when given no CA of its own; undefined: node's defaults, as they are. */
export function defaultTlsRoots(): string[] | undefined {
  const leftOut = state[LEFT_OUT];
  if (leftOut === undefined) return undefined;
  if (roots === undefined) {
    // node:tls only now: a client verb that makes no TLS connection never loads it.
    const { rootCertificates } = createRequire(import.meta.url)('node:tls') as typeof import('node:tls');
    try {
      roots = [...rootCertificates, readFileSync(leftOut, 'utf8')];
    } catch (err) {
      // As node at start: a bundle it cannot read is skipped with a warning.
      process.emitWarning(`Ignoring extra certs from \`${leftOut}\`, load failed: ${(err as Error).message}`);
      roots = [...rootCertificates];
    }
  }
  return roots;
}
