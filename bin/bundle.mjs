/**
 * `npm run build`'s last step: the `wharf` command as one script with a V8 code cache.
 * Before, a `wharf run` loaded ~47 ES modules before it sent a request (each an ESM resolve,
 * a file read, a compile and a link: ~70 ms); then one bundled ES module still spent ~20 ms
 * of CPU parsing and compiling itself, which Node 20 cannot cache for an ES module.
 *
 *   dist/bin/wharf-bundle.cjs    tsc's bin/wharf.js with commander, tar-stream and the client
 *                                verbs (esbuild), as one function (require, import, url)
 *   dist/bin/wharf-bundle.cache  V8's code cache of it, made by running it (below)
 *   dist/bin/wharf.js            replaces tsc's: compiles the bundle with vm.Script and the
 *                                cache (V8 checks it matches this node, its flags and the
 *                                source; a rejected cache only costs the compile) and runs it
 *   dist/bin/wharf-main.js       tsc's bin/wharf.js, kept: what the long-running verbs
 *                                (`daemon`, `serve`) run instead of the bundle
 *
 * The bundle is for a client verb's start; a daemon that runs for months has no use for it.
 * There it held the bundle's 400 KiB of source (every client verb's) and the functions its
 * code cache brought, for ~1.2 MiB of RSS (measured with bench/daemon-start's 20 containers
 * running: 63.5/63.6 -> 62.2/62.4 MiB); the daemon's own modules load unbundled either way.
 *
 * tsc's files stay as they are: tests import them, and a bare `tsc` run writes back an
 * unbundled dist/bin/wharf.js, which works the same, only slower.
 *
 * What stays outside the bundle, imported from tsc's files next to it (by the stub's
 * import(), so paths and packages resolve as from dist/bin/wharf.js):
 * - what a verb imports dynamically outside the CLI (the daemon, the registry server, the
 *   in-process runtime): those load as before, only when their verb runs, and hold the
 *   only copy of their state;
 * - packages other than commander and tar-stream.
 * The bundle's copies of the pure modules it shares with those (names, layout, run options)
 * hold no state. A bundled module that finds files beside itself (native addons, the
 * seccomp profile) sees as `import.meta.url` the URL of its tsc file, so those paths stay.
 *
 * The cache is made by running the bundle on command lines that need no daemon and change
 * nothing (help of every verb; a run, a ps and a build against a socket that does not exist),
 * each run starting from the previous one's cache, so it holds the functions they compiled.
 *
 * Without esbuild installed (a tree not yet `npm ci`-ed) the step says so and leaves tsc's
 * file in place.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const dist = join(root, 'dist');
const bin = join(dist, 'bin');
const entry = join(bin, 'wharf.js');
const bundle = join(bin, 'wharf-bundle.cjs');
const cache = join(bin, 'wharf-bundle.cache');
const MARK = '// wharf: the bundle loader written by bin/bundle.mjs';

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
  process.stderr.write('bin/bundle.mjs: dist/bin/wharf.js is the bundle loader already (run tsc first)\n');
  process.exit(0);
}

/** A dist file as seen from dist/bin/ ("../runtime/x.js", "./v8-flags.js"). */
function fromBin(file) {
  const p = relative(bin, file).split(sep).join('/');
  return p.startsWith('.') ? p : `./${p}`;
}

/** import.meta.url as the module's own tsc file; __wharfUrl is dist/bin/wharf.js's URL. */
const ownUrl = (file, text) => text.replace(/\bimport\.meta\.url\b/g, `new URL(${JSON.stringify(fromBin(file))}, __wharfUrl).href`);
/** Other import.meta fields would mean nothing in the bundle: such a module stays outside. */
const keepOutside = (file) => file !== entry && ownUrl(file, readFileSync(file, 'utf8')).includes('import.meta');

const inCli = (file) => file.startsWith(join(dist, 'runtime', 'cli') + sep) || file.startsWith(bin + sep) || file === join(dist, 'server', 'cli.js') || file === join(dist, 'server', 'archive', 'cli.js');

const external = (file) => ({ path: fromBin(file), external: true });

const split = {
  name: 'wharf-split',
  setup(build) {
    build.onResolve({ filter: /^\.\.?\// }, (args) => {
      const file = resolve(args.resolveDir, args.path);
      if (args.kind === 'entry-point') return undefined;
      try {
        statSync(file);
      } catch {
        return undefined; // a package's extensionless require: esbuild resolves it
      }
      if (keepOutside(file)) return external(file);
      if (args.kind === 'dynamic-import' && !inCli(file) && !CLIENT_MODULES.has(file)) return external(file);
      return { path: file };
    });
    build.onLoad({ filter: /\.js$/ }, (args) => {
      if (args.path === entry || args.path.includes(`${sep}node_modules${sep}`)) return undefined;
      const text = readFileSync(args.path, 'utf8');
      return text.includes('import.meta') ? { contents: ownUrl(args.path, text), loader: 'js' } : undefined;
    });
    // Packages: commander (every verb) and tar-stream (build's context) are bundled with what
    // they require; the rest load as before, from node_modules, when a verb needs them.
    build.onResolve({ filter: /^[^./]/ }, (args) => {
      if (args.path.startsWith('node:') || BUNDLED_PACKAGES.has(args.path) || args.importer.includes(`${sep}node_modules${sep}`)) return undefined;
      return { path: args.path, external: true };
    });
  },
};

const result = await esbuild.build({
  entryPoints: [entry],
  write: false,
  outfile: bundle,
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  // import() stays import() (esbuild would make it a require); the stub serves it below
  supported: { 'dynamic-import': true },
  plugins: [split],
  legalComments: 'none',
  logLevel: 'warning',
  metafile: true,
});
let code = result.outputFiles[0].text.replace(/^#!.*\n/, '');
// A script compiled by vm.Script has no loader of its own for import(): each one goes to the stub's.
const imports = code.match(/\bimport\s*\(/g)?.length ?? 0;
code = code.replace(/\bimport\("([^"\n]+)"\)/g, '__wharfImport("$1")');
const left = code.match(/\bimport\s*\(/g)?.length ?? 0;
if (left > 0) throw new Error(`bin/bundle.mjs: ${left} of ${imports} import() calls have no string literal; the stub cannot serve them`);
const tmp = `${bundle}.${process.pid}`;
writeFileSync(tmp, `(function (require, __wharfImport, __wharfUrl) {${code}\n})`);
renameSync(tmp, bundle);

// tsc's entry stays, for the long-running verbs, with its source map (renamed with it).
const main = join(bin, 'wharf-main.js');
writeFileSync(`${main}.${process.pid}`, readFileSync(entry, 'utf8').replace(/^\/\/# sourceMappingURL=wharf\.js\.map$/m, '//# sourceMappingURL=wharf-main.js.map'));
renameSync(`${main}.${process.pid}`, main);
try {
  renameSync(`${entry}.map`, `${main}.map`);
} catch {
  // tsc wrote no map
}

const stub = `#!/usr/bin/env -S -u NODE_EXTRA_CA_CERTS WHARF_NODE_EXTRA_CA_CERTS=\${NODE_EXTRA_CA_CERTS} node --
${MARK} (see there).
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { Script } from 'node:vm';

if (process.argv[2] === 'daemon' || process.argv[2] === 'serve') await import('./wharf-main.js');
else runBundle();

function runBundle() {
const bundle = fileURLToPath(new URL('./wharf-bundle.cjs', import.meta.url));
const cacheFile = fileURLToPath(new URL('./wharf-bundle.cache', import.meta.url));
let cachedData;
try {
  cachedData = readFileSync(cacheFile);
} catch {
  // no cache: compiled from the source
}
const script = new Script(readFileSync(bundle, 'utf8'), { filename: bundle, cachedData });
// npm run build makes the cache: this run's compiled code, written as it exits
const out = process.env.WHARF_BUILD_CODE_CACHE;
if (out) process.once('exit', () => writeFileSync(out, script.createCachedData()));
script.runInThisContext()(createRequire(bundle), (specifier) => import(specifier.startsWith('.') ? new URL(specifier, import.meta.url).href : specifier), import.meta.url);
}
`;
writeFileSync(`${entry}.${process.pid}`, stub);
renameSync(`${entry}.${process.pid}`, entry);

// The code cache, grown over command lines that need no daemon and change nothing.
const scratch = mkdtempSync(join(tmpdir(), 'wharf-bundle-'));
try {
  const host = `unix://${join(scratch, 'none.sock')}`;
  writeFileSync(join(scratch, 'Dockerfile'), 'FROM scratch\n');
  const training = [
    ['--help'],
    ['run', '--help'],
    ['-H', host, 'run', '--rm', '--network', 'none', 'img', '/true'],
    ['-H', host, 'ps', '-a'],
    ['-H', host, 'build', '-q', '-t', 'x', scratch],
  ];
  rmSync(cache, { force: true });
  for (const args of training) {
    const next = join(scratch, 'cache');
    try {
      execFileSync(process.execPath, [entry, ...args], { env: { ...process.env, WHARF_BUILD_CODE_CACHE: next }, stdio: 'ignore', timeout: 60_000 });
    } catch {
      // the runs against no daemon exit 1 or 125: expected
    }
    try {
      renameSync(next, cache);
    } catch {
      process.stderr.write(`bin/bundle.mjs: \`wharf ${args.join(' ')}\` wrote no code cache; the cache lacks what it compiles\n`);
    }
  }
} finally {
  rmSync(scratch, { recursive: true, force: true });
}
const inputs = Object.keys(result.metafile.inputs).length;
const cacheSize = (() => {
  try {
    return `code cache ${(statSync(cache).size / 1024).toFixed(0)} KiB`;
  } catch {
    return 'no code cache';
  }
})();
process.stdout.write(`bin/bundle.mjs: dist/bin/wharf-bundle.cjs bundles ${inputs} modules (${(statSync(bundle).size / 1024).toFixed(0)} KiB), ${cacheSize}\n`);
