/**
 * `wharf network create | ls | inspect | rm | connect | disconnect | prune` and
 * `wharf port`: thin clients of the daemon's /networks routes and of container inspect,
 * with the docker CLI's flags. Only commander loads here; the verb module loads in the action.
 */
import type { Command } from 'commander';
import { clientVerb, collect } from './verb.js';

export function registerNetworkCommands(program: Command): void {
  const network = program.command('network').description('manage networks (bridge networks of the node daemon)');

  network
    .command('create')
    .description('create a network (driver bridge); prints its ID')
    .argument('<name>')
    .option('-d, --driver <driver>', 'driver to manage the network (bridge)', 'bridge')
    .option('--subnet <cidr>', 'subnet in CIDR format, e.g. 10.90.0.0/24 (default: a free one of the daemon pool)')
    .option('--gateway <ip>', 'gateway of the subnet (default: its first address)')
    .option('--internal', 'restrict external access to the network (no route out, no MASQUERADE)')
    .option('--attachable', 'enable manual container attachment')
    .option('-o, --opt <key=value>', 'driver options, e.g. com.docker.network.bridge.enable_icc=false; repeatable', collect)
    .option('--label <key=value>', 'set metadata on a network; repeatable', collect)
    .action(async (name: string, opts, cmd: Command) => {
      await clientVerb(cmd, async (c) => (await import('./verbs/network.js')).create(c, name, opts));
    });

  network
    .command('ls')
    .alias('list')
    .description('list networks')
    .option('-f, --filter <key=value>', 'filter output (name=, id=, driver=, type=custom|builtin, label=, dangling=); repeatable', collect)
    .option('--format <template>', 'format output with a Go template')
    .option('-q, --quiet', 'only display network IDs')
    .option('--no-trunc', 'do not truncate the output')
    .action(async (opts, cmd: Command) => {
      await clientVerb(cmd, async (c) => (await import('./verbs/network.js')).ls(c, opts));
    });

  network
    .command('inspect')
    .description('display detailed information on one or more networks')
    .argument('<network...>')
    .option('-f, --format <template>', 'format output with a Go template')
    .action(async (names: string[], opts, cmd: Command) => {
      await clientVerb(cmd, async (c) => (await import('./verbs/network.js')).inspect(c, names, opts));
    });

  network
    .command('rm')
    .alias('remove')
    .description('remove one or more networks')
    .argument('<network...>')
    .option('-f, --force', 'do not error if the network does not exist')
    .action(async (names: string[], opts, cmd: Command) => {
      await clientVerb(cmd, async (c) => (await import('./verbs/network.js')).rm(c, names, opts));
    });

  network
    .command('connect')
    .description('connect a container to a network')
    .argument('<network>')
    .argument('<container>')
    .option('--alias <name>', 'add network-scoped alias for the container; repeatable', collect)
    .option('--ip <address>', 'IPv4 address (e.g. 10.90.0.20)')
    .action(async (net: string, container: string, opts, cmd: Command) => {
      await clientVerb(cmd, async (c) => (await import('./verbs/network.js')).connect(c, net, container, opts));
    });

  network
    .command('disconnect')
    .description('disconnect a container from a network')
    .argument('<network>')
    .argument('<container>')
    .option('-f, --force', 'force the container to disconnect from a network')
    .action(async (net: string, container: string, opts, cmd: Command) => {
      await clientVerb(cmd, async (c) => (await import('./verbs/network.js')).disconnect(c, net, container, opts));
    });

  network
    .command('prune')
    .description('remove all unused networks')
    .option('-f, --force', 'do not prompt for confirmation')
    .option('--filter <key=value>', 'provide filter values (label=)', collect)
    .action(async (opts, cmd: Command) => {
      await clientVerb(cmd, async (c) => (await import('./verbs/network.js')).prune(c, opts));
    });

  program
    .command('port')
    .description('list port mappings or a specific mapping for the container')
    .argument('<container>')
    .argument('[port]', 'PRIVATE_PORT[/PROTO]')
    .action(async (container: string, port: string | undefined, _opts, cmd: Command) => {
      await clientVerb(cmd, async (c) => (await import('./verbs/network.js')).port(c, container, port));
    });
}
