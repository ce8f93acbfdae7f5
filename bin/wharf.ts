#!/usr/bin/env -S node --
/**
 * The `wharf` command. Each verb lives in the module of its area and is loaded only
 * when that verb runs, so `wharf run` never pays for express and `wharf serve` never
 * loads the native addon.
 */
import { Command } from 'commander';
import { reexecUnderServeFlags } from './v8-flags.js';
import { registerArchiveCommands } from '../server/archive/cli.js';
import { registerServerCommands } from '../server/cli.js';
import { registerRuntimeCommands } from '../runtime/cli/index.js';

// `wharf serve` runs under its V8 flags however it was started (npm start, the wharf
// command, node dist/bin/wharf.js): started without them, it replaces itself (same pid).
reexecUnderServeFlags(process.argv, process.env);

const program = new Command();
program
  .name('wharf')
  .description('Wharf: a private container image registry and runtime node')
  .version('0.1.0')
  .showHelpAfterError('(run with --help for usage)');

registerServerCommands(program);
registerArchiveCommands(program);
registerRuntimeCommands(program, process.env, {
  // The co-located fast path: the node links blobs of a registry on this machine (runtime/images/colocated.ts).
  async openRegistryBlobStore(dataDir) {
    const { existsSync } = await import('node:fs');
    const { Layout } = await import('../storage/layout.js');
    if (!existsSync(new Layout(dataDir).blobsDir)) throw new Error(`${dataDir} is not a Wharf registry's data directory (it has no blobs/)`);
    const { FsBlobStore } = await import('../storage/fs-blob-store.js');
    return FsBlobStore.open(dataDir);
  },
});

program.parseAsync(process.argv).catch((err: unknown) => {
  const e = err as { exitCode?: number; message?: string };
  process.stderr.write(`wharf: ${e.message ?? String(err)}\n`);
  process.exit(typeof e.exitCode === 'number' ? e.exitCode : 1);
});
