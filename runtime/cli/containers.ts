/**
 * `wharf container prune`: removes stopped containers and what a killed `wharf run` left
 * (processes, overlay mounts, cgroups, records), as `docker container prune` does for
 * stopped containers. The prune module loads inside the action.
 */
import type { Command } from 'commander';
import { DEFAULT_NODE_ROOT } from '../layout.js';

export async function confirm(question: string): Promise<boolean> {
  const { createInterface } = await import('node:readline/promises');
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    const answer = await rl.question(question);
    return /^y(es)?$/i.test(answer.trim());
  } catch {
    return false; // stdin closed: no
  } finally {
    rl.close();
  }
}

export function registerContainerCommands(program: Command): void {
  const container = program.command('container').description('manage containers of the node');
  container
    .command('prune')
    .description('remove all stopped containers, and the leftovers (processes, mounts, cgroups, records) of a wharf run that was killed')
    .option('-f, --force', 'do not prompt for confirmation')
    .option('--root <dir>', 'node root directory (content store, layers, containers)', DEFAULT_NODE_ROOT)
    .action(async (opts: { force?: boolean; root: string }) => {
      if (process.getuid?.() !== 0) {
        process.stderr.write('wharf container prune: needs root (mounts, cgroups)\n');
        process.exit(1);
      }
      if (!opts.force && !(await confirm('WARNING! This will remove all stopped containers.\nAre you sure you want to continue? [y/N] '))) return;
      const { NodeLayout } = await import('../layout.js');
      const { pruneContainers, humanSize } = await import('../containers/prune.js');
      const result = await pruneContainers(new NodeLayout(opts.root));
      if (result.removed.length > 0) process.stdout.write(`Deleted Containers:\n${result.removed.map((id) => `${id}\n`).join('')}\n`);
      process.stdout.write(`Total reclaimed space: ${humanSize(result.reclaimedBytes)}\n`);
      for (const e of result.errors) process.stderr.write(`wharf container prune: ${e}\n`);
      if (result.errors.length > 0) process.exitCode = 1;
    });
}
