/**
 * `wharf run`: flags in Docker's words. Only commander types load here; the run module
 * (and with it the native addon) is imported inside the action.
 */
import type { Command } from 'commander';
import { DEFAULT_NODE_ROOT } from '../layout.js';
import { DEFAULT_REGISTRY } from '../../oci/reference.js';
import type { RawRunFlags } from '../containers/run-options.js';

const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

/** Signals `wharf run` passes on to the container (Docker's sig-proxy). */
const FORWARDED: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2'];

interface RunCliOptions extends RawRunFlags {
  root: string;
  registry: string;
}

function fail(message: string, exitCode: number): never {
  process.stderr.write(`wharf run: ${message}\n`);
  process.exit(exitCode);
}

export function registerRunCommand(program: Command): void {
  // Everything after the image name belongs to the container's command.
  program.enablePositionalOptions();
  program
    .command('run')
    .description('run a command in a new container, in the foreground (root needed); exits with its exit code')
    .argument('<image>', 'image reference (pulled first when not on the node)')
    .argument('[command...]', 'command and arguments (default: the image Entrypoint/Cmd)')
    .helpOption('--help', 'display help for command')
    .passThroughOptions()
    .option('--rm', 'remove the container (rootfs, records) when it exits')
    .option('--name <name>', 'container name, unique among running containers')
    .option('-e, --env <KEY=value|KEY>', 'set an environment variable (KEY alone: the host value); repeatable', collect)
    .option('--env-file <file>', 'read environment variables from a file; repeatable', collect)
    .option('-h, --hostname <name>', 'container host name (default: the short container ID)')
    .option('-w, --workdir <dir>', 'working directory inside the container (created if missing)')
    .option('-u, --user <name|uid[:group|gid]>', 'user (and group) to run as')
    .option('--entrypoint <program>', "override the image's Entrypoint (drops its Cmd); '' resets it")
    .option('-m, --memory <bytes>', 'memory limit, e.g. 32m, 1g')
    .option('--memory-swap <bytes>', 'memory + swap limit; -1 unlimited (default: twice --memory)')
    .option('--cpus <n>', 'CPU quota, e.g. 1.5')
    .option('-c, --cpu-shares <n>', 'relative CPU weight')
    .option('--cpuset-cpus <list>', 'CPUs to run on, e.g. 0-1 or 0,1')
    .option('--pids-limit <n>', 'maximum number of processes (-1: unlimited)')
    .option('--network <mode>', 'none (default: only lo) or host', 'none')
    .option('--read-only', 'mount the root filesystem read-only')
    .option('-i, --interactive', 'pass standard input to the container (default: /dev/null)')
    .option('--cidfile <file>', 'write the container ID to this file')
    .option('--root <dir>', 'node root directory (content store, layers, containers)', DEFAULT_NODE_ROOT)
    .option('--registry <host[:port]>', 'registry for image names without a host', DEFAULT_REGISTRY)
    .action(async (image: string, command: string[], opts: RunCliOptions) => {
      if (process.getuid?.() !== 0) fail('running containers needs root (namespaces, mounts, cgroups)', 125);
      // Signals that arrive before the program runs are delivered as soon as it does.
      let target: { kill(sig: NodeJS.Signals): void } | undefined;
      const pending: NodeJS.Signals[] = [];
      const forward = (sig: NodeJS.Signals) => (target ? target.kill(sig) : pending.push(sig));
      for (const sig of FORWARDED) process.on(sig, forward);

      const { parseRunFlags } = await import('../containers/run-options.js');
      const { runContainer, RunError } = await import('../containers/run.js');
      const { availableParallelism } = await import('node:os');
      try {
        const flags = await parseRunFlags(opts, process.env, availableParallelism());
        const result = await runContainer({
          image,
          args: command,
          flags,
          root: opts.root,
          defaultRegistry: opts.registry,
          onStart(proc) {
            target = proc;
            for (const sig of pending.splice(0)) proc.kill(sig);
          },
        });
        if (result.oomKilled) {
          process.stderr.write(`wharf run: container ${result.id.slice(0, 12)} was OOM-killed (memory limit reached)\n`);
        }
        process.exitCode = result.exitCode;
      } catch (e) {
        fail((e as Error).message, e instanceof RunError ? e.exitCode : 125);
      } finally {
        for (const sig of FORWARDED) process.off(sig, forward);
      }
    });
}
