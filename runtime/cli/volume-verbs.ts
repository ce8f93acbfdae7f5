/**
 * `wharf volume …`: thin clients of the node daemon's /volumes routes, with the docker
 * CLI's flags and output. Only commander loads here; each action imports its verb module.
 */
import type { Command } from 'commander';
import { clientVerb, collect } from './verb.js';

export function registerVolumeVerbs(program: Command): void {
  const volume = program.command('volume').description('manage volumes of the node daemon');
  const verbs = async () => import('./verbs/volume.js');

  volume
    .command('create')
    .description('create a volume (a random name when none is given); prints its name')
    .argument('[name]')
    .option('-d, --driver <name>', 'volume driver name (only local)', 'local')
    .option('--label <key=value>', 'set metadata for a volume; repeatable', collect)
    .option('-o, --opt <key=value>', 'set driver specific options; repeatable', collect)
    .option('--name <name>', 'volume name')
    .action(async (name: string | undefined, opts, cmd: Command) => {
      await clientVerb(cmd, async (c) => (await verbs()).create(c, name, opts));
    });

  volume
    .command('ls')
    .alias('list')
    .description('list volumes')
    .option('-q, --quiet', 'only display volume names')
    .option('-f, --filter <key=value>', 'provide filter values (dangling=true, name=, driver=, label=); repeatable', collect)
    .option('--format <template>', "format output with a Go template ('table {{.Name}}\\t{{.Mountpoint}}', 'json')")
    .action(async (opts, cmd: Command) => {
      await clientVerb(cmd, async (c) => (await verbs()).ls(c, opts));
    });

  volume
    .command('inspect')
    .description('display detailed information on one or more volumes')
    .argument('<volume...>')
    .option('-f, --format <template>', "format output with a Go template, e.g. '{{.Mountpoint}}'")
    .action(async (names: string[], opts, cmd: Command) => {
      await clientVerb(cmd, async (c) => (await verbs()).inspect(c, names, opts));
    });

  volume
    .command('rm')
    .alias('remove')
    .description('remove one or more volumes (not while a container uses them)')
    .argument('<volume...>')
    .option('-f, --force', 'do not fail on a volume that does not exist')
    .action(async (names: string[], opts, cmd: Command) => {
      await clientVerb(cmd, async (c) => (await verbs()).rm(c, names, opts));
    });

  volume
    .command('prune')
    .description('remove all local volumes not used by at least one container')
    .option('-f, --force', 'do not prompt for confirmation')
    .option('--filter <key=value>', 'provide filter values (label=, label!=); repeatable', collect)
    .action(async (opts: { force?: boolean; filter?: string[] }, cmd: Command) => {
      if (!opts.force) {
        const { confirm } = await import('./containers.js');
        if (!(await confirm('WARNING! This will remove all local volumes not used by at least one container.\nAre you sure you want to continue? [y/N] '))) return;
      }
      await clientVerb(cmd, async (c) => (await verbs()).prune(c, opts));
    });
}
