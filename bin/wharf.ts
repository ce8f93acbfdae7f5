#!/usr/bin/env -S -u NODE_EXTRA_CA_CERTS WHARF_NODE_EXTRA_CA_CERTS=${NODE_EXTRA_CA_CERTS} node --
/**
 * The `wharf` command. Only the verb being run is registered (bin/verbs.ts), and each
 * verb's heavy modules load inside its action, so `wharf run` never pays for express and
 * `wharf serve` never loads the native addon. `npm run build` bundles this file with the
 * client verbs into one (bin/bundle.mjs).
 */
import { Command } from 'commander';
import { setupRuntimeCli } from '../runtime/cli/index.js';
import { exitAfterClientVerb } from '../runtime/cli/verb.js';
import { groupsFor, registerGroups } from './verbs.js';

async function main(): Promise<void> {
  // `wharf serve` and `wharf daemon` run under their V8 flags however they were started (npm
  // start, the wharf command, node dist/bin/wharf.js): started without them, they replace
  // themselves (same pid). The shebang left NODE_EXTRA_CA_CERTS out of node's start
  // (bin/v8-flags.ts): it goes back for the processes a verb starts, the other verbs that
  // use TLS themselves restart the same way to load it, and the registry client of any other
  // verb adds it to its roots.
  const flags = await import('./v8-flags.js');
  const caCertsLeftOut = flags.restoreExtraCaCerts(process.env);
  flags.reexecUnderVerbFlags(process.argv, process.env, caCertsLeftOut);
  // Still here without them: this verb's own HTTPS clients add them (oci/extra-ca.ts).
  if (caCertsLeftOut) (await import('../oci/extra-ca.js')).extraCaCertsLeftOut(process.env.NODE_EXTRA_CA_CERTS);

  const program = new Command();
  program
    .name('wharf')
    .description('Wharf: a private container image registry and runtime node')
    .version('0.1.0')
    .showHelpAfterError('(run with --help for usage)');

  setupRuntimeCli(program, process.env, {
    // The co-located fast path: the node links blobs of a registry on this machine (runtime/images/colocated.ts).
    async openRegistryBlobStore(dataDir) {
      const { existsSync } = await import('node:fs');
      const { Layout } = await import('../storage/layout.js');
      if (!existsSync(new Layout(dataDir).blobsDir)) throw new Error(`${dataDir} is not a Wharf registry's data directory (it has no blobs/)`);
      const { FsBlobStore } = await import('../storage/fs-blob-store.js');
      return FsBlobStore.open(dataDir);
    },
  });
  await registerGroups(program, groupsFor(process.argv.slice(2)));
  await program.parseAsync(process.argv);
  exitAfterClientVerb();
}

main().catch((err: unknown) => {
  const e = err as { exitCode?: number; message?: string };
  process.stderr.write(`wharf: ${e.message ?? String(err)}\n`);
  process.exit(typeof e.exitCode === 'number' ? e.exitCode : 1);
});
