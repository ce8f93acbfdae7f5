/**
 * `npm run build`'s last step: dist/bin/wharf.js (tsc's output) becomes one file holding
 * the CLI, commander and the client verbs, so a `wharf` command loads one module instead of
 * ~50 (each an ESM resolve, a file read, a compile and a link: ~70 ms of a `wharf run` before
 * it sent its first request). tsc's files stay as they are: tests import them, and a bare
 * `tsc` run rewrites dist/bin/wharf.js unbundled, which works the same, only slower.
 *
 * A bundled module that finds files next to itself (native addons, the seccomp profile) sees
 * as `import.meta.url` the URL of its tsc file beside the bundle, so those paths stay right.
 * What stays outside the bundle, imported from tsc's files next to it:
 * - what a verb imports dynamically outside the CLI (the daemon, the registry server, the
 *   in-process runtime): those load as before, only when their verb runs, and hold the
 *   only copy of their state;
 * - packages other than commander (node resolves them from dist/bin/ as from any dist file).
 * The bundle's copies of the pure modules it shares with those (names, layout, run options)
 * hold no state.
 *
 * Without esbuild installed (a tree not yet `npm ci`-ed) the step says so and leaves tsc's
 * file in place.
 */
import { readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const dist = join(root, 'dist');
const entry = join(dist, 'bin', 'wharf.js');
const MARK = '// wharf: bundled by bin/bundle.mjs';

/** Dynamic imports outside runtime/cli/ that the client verbs need on their common paths. */
const CLIENT_MODULES = new Set(['runtime/containers/run-options.js', 'runtime/network/ports.js', 'oci/names.js'].map((p) => join(dist, p)));

const BUNDLED_PACKAGES = new Set(['commander', 'tar-stream']);

let esbuild;
try {
  esbuild = await import('esbuild');
} catch {
  process.stderr.write('bin/bundle.mjs: esbuild is not installed (npm ci): dist/bin/wharf.js stays unbundled\n');
  process.exit(0);
}
if (readFileSync(entry, 'utf8').includes(MARK)) {
  process.stderr.write('bin/bundle.mjs: dist/bin/wharf.js is bundled already (run tsc first)\n');
  process.exit(0);
}

/** import.meta.url as the module's own tsc file (other import.meta fields: the module stays outside). */
function ownUrl(file, text) {
  let p = relative(dirname(entry), file).split(sep).join('/');
  if (!p.startsWith('.')) p = `./${p}`;
  return text.replace(/\bimport\.meta\.url\b/g, `new URL(${JSON.stringify(p)}, import.meta.url).href`);
}
const keepOutside = (file) => file !== entry && ownUrl(file, readFileSync(file, 'utf8')).replace(/new URL\("[^"]*", import\.meta\.url\)/g, '').includes('import.meta');

const inCli = (file) => file.startsWith(join(dist, 'runtime', 'cli') + sep) || file.startsWith(join(dist, 'bin') + sep) || file === join(dist, 'server', 'cli.js') || file === join(dist, 'server', 'archive', 'cli.js');

/** An import left outside: its path as seen from dist/bin/wharf.js. */
function external(file) {
  let p = relative(dirname(entry), file).split(sep).join('/');
  if (!p.startsWith('.')) p = `./${p}`;
  return { path: p, external: true };
}

const split = {
  name: 'wharf-split',
  setup(build) {
    build.onResolve({ filter: /^\.\.?\// }, (args) => {
      const file = resolve(args.resolveDir, args.path);
      if (file === entry && args.kind === 'entry-point') return undefined;
      try {
        statSync(file);
      } catch {
        return undefined; // esbuild reports it
      }
      if (keepOutside(file)) return external(file);
      if (args.kind === 'dynamic-import' && !inCli(file) && !CLIENT_MODULES.has(file)) return external(file);
      return { path: file };
    });
    build.onLoad({ filter: /\.js$/ }, (args) => {
      if (args.path === entry) return undefined;
      const text = readFileSync(args.path, 'utf8');
      return text.includes('import.meta') ? { contents: ownUrl(args.path, text), loader: 'js' } : undefined;
    });
    // Packages: commander (every verb) and tar-stream (build's context, cp) are bundled with
    // what they require; the rest load as before, from node_modules, when a verb needs them.
    build.onResolve({ filter: /^[^./]/ }, (args) => {
      if (args.path.startsWith('node:') || BUNDLED_PACKAGES.has(args.path) || args.importer.includes(`${sep}node_modules${sep}`)) return undefined;
      return { path: args.path, external: true };
    });
  },
};

const result = await esbuild.build({
  entryPoints: [entry],
  outfile: entry,
  allowOverwrite: true,
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  plugins: [split],
  // commander is CommonJS: its require() calls of node builtins need a require in an ES module.
  banner: { js: `${MARK}\nimport { createRequire as __wharfCreateRequire } from 'node:module';\nconst require = __wharfCreateRequire(import.meta.url);` },
  legalComments: 'none',
  sourcemap: true,
  logLevel: 'warning',
  metafile: true,
});
const inputs = Object.keys(result.metafile.inputs).length;
const bytes = statSync(entry).size;
process.stdout.write(`bin/bundle.mjs: dist/bin/wharf.js bundles ${inputs} modules (${(bytes / 1024).toFixed(0)} KiB)\n`);
