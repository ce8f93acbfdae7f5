/**
 * `wharf run`: flags in Docker's words. Through the node daemon (runtime/cli/verbs/run.ts)
 * when one is chosen or answers, so the container outlives this process; with `--root`,
 * or when no daemon runs, in the foreground in this process (the container ends with it).
 * Only commander types load here; the run module (and with it the native addon) is
 * imported inside the action.
 */
import type { Command } from 'commander';
import { clientVerb, cliEnv, useDaemon } from './verb.js';
import { DEFAULT_NODE_ROOT } from '../layout.js';
import { DEFAULT_REGISTRY } from '../../oci/reference.js';
import type { RawRunFlags } from '../containers/run-options.js';

const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

/** Signals `wharf run` passes on to the container (Docker's sig-proxy). */
const FORWARDED: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2'];

interface RunCliOptions extends RawRunFlags {
  root: string;
  registry: string;
  detach?: boolean;
  tty?: boolean;
  restart?: string;
  detachKeys?: string;
  sigProxy?: boolean;
  publish?: string[];
  publishAll?: boolean;
  link?: string[];
  networkAlias?: string[];
}

/** Commander's usage errors in Docker's words (`docker run --nope` says "unknown flag: --nope"). */
function dockerUsageMessage(text: string): string {
  const line = text.replace(/\n$/, '');
  const m =
    /^error: unknown option '([^']*)'(.*)$/s.exec(line) ??
    /^error: (missing required argument) 'image'$/.exec(line) ??
    /^error: option '([^']*)' argument missing$/.exec(line);
  if (m && line.startsWith('error: unknown option')) return `wharf run: unknown flag: ${m[1]}${m[2]}\n`;
  if (m && m[1] === 'missing required argument') return '"wharf run" requires at least 1 argument\nUsage:  wharf run [OPTIONS] IMAGE [COMMAND] [ARG...]\n';
  if (m) return `wharf run: flag needs an argument: ${m[1]}\n`;
  return `wharf run: ${line.replace(/^error: /, '')}\n`;
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
    .description('run a command in a new container (through the node daemon; with --root or without a daemon: in this process, root needed); exits with its exit code')
    .argument('<image>', 'image reference (pulled first when not on the node)')
    .argument('[command...]', 'command and arguments (default: the image Entrypoint/Cmd)')
    .helpOption('--help', 'display help for command')
    .passThroughOptions()
    // Usage errors exit 125, as docker run's do.
    .configureOutput({ outputError: (text, write) => write(dockerUsageMessage(text)) })
    .showHelpAfterError("See 'wharf run --help'.")
    .exitOverride((err) => process.exit(err.exitCode === 0 ? 0 : 125))
    .option('--rm', 'remove the container (rootfs, records) when it exits')
    .option('-d, --detach', 'run the container in the background and print its ID (daemon)')
    .option('-t, --tty', 'allocate a pseudo-TTY (daemon)')
    .option('--restart <policy>', 'restart policy: no, on-failure[:max-retries], always, unless-stopped (daemon)')
    .option('--detach-keys <keys>', 'key sequence for detaching from the container (default ctrl-p,ctrl-q; daemon)')
    .option('--no-sig-proxy', 'do not proxy received signals to the container (daemon)')
    .option('--name <name>', 'container name, unique among all containers')
    .option('-e, --env <KEY=value|KEY>', 'set an environment variable (KEY alone: the host value); repeatable', collect)
    .option('--env-file <file>', 'read environment variables from a file; repeatable', collect)
    .option('-h, --hostname <name>', 'container host name (default: the short container ID)')
    .option('-w, --workdir <dir>', 'working directory inside the container (created if missing)')
    .option('-u, --user <name|uid[:group|gid]>', 'user (and group) to run as')
    .option('--group-add <group|gid>', "add a supplementary group (a name from the image's /etc/group, or a gid); repeatable", collect)
    .option('--dns <ip>', "nameserver for the container's /etc/resolv.conf; repeatable", collect)
    .option('--dns-search <domain>', "search domain for /etc/resolv.conf ('.' for none); repeatable", collect)
    .option('--dns-option <option>', 'resolver option for /etc/resolv.conf (e.g. ndots:2); repeatable', collect)
    .option('--add-host <host:ip>', 'add a line to /etc/hosts; repeatable', collect)
    .option('--entrypoint <program>', "override the image's Entrypoint (drops its Cmd); '' resets it")
    .option('-m, --memory <bytes>', 'memory limit, e.g. 32m, 1g')
    .option('--memory-swap <bytes>', 'memory + swap limit; -1 unlimited (default: twice --memory)')
    .option('--cpus <n>', 'CPU quota, e.g. 1.5')
    .option('-c, --cpu-shares <n>', 'relative CPU weight')
    .option('--cpuset-cpus <list>', 'CPUs to run on, e.g. 0-1 or 0,1')
    .option('--pids-limit <n>', 'maximum number of processes (-1: unlimited)')
    .option('--network <mode>', 'bridge (the daemon\'s default), a user network, container:<name|id>, none or host (in this process: none or host, default none)')
    .option('-p, --publish <[ip:]hostPort:containerPort[/proto]>', "publish a container's port to the host (127.0.0.1:8080:80, 8080:80, 127.0.0.1::80, 80); repeatable (daemon)", collect)
    .option('-P, --publish-all', 'publish every exposed port to a random host port (daemon)')
    .option('--expose <port[/proto]>', 'expose a port without publishing it; repeatable', collect)
    .option('--link <name[:alias]>', 'add a link to another container (its name in /etc/hosts; default bridge); repeatable (daemon)', collect)
    .option('--network-alias <name>', 'add a network-scoped alias for the container (user networks); repeatable (daemon)', collect)
    .option('--read-only', 'mount the root filesystem read-only')
    .option('-v, --volume <[src:]dst[:opts]>', 'bind mount a host path (/src) or mount a volume (name, or none: anonymous); opts ro, rw, nocopy; repeatable', collect)
    .option('--mount <k=v,...>', 'attach a filesystem mount: type=bind|volume|tmpfs,source=,target=,readonly,volume-nocopy,tmpfs-size=,tmpfs-mode=; repeatable', collect)
    .option('--tmpfs <dst[:opts]>', 'mount a tmpfs (default noexec,nosuid,nodev; opts size=, mode=, exec ...); repeatable', collect)
    .option('--volumes-from <container[:ro|rw]>', "mount the volumes and binds of another container; repeatable", collect)
    .option('--cap-add <cap>', 'add a Linux capability (NET_ADMIN, CAP_SYS_TIME, ALL); repeatable', collect)
    .option('--cap-drop <cap>', 'drop a Linux capability (CHOWN, ALL); repeatable', collect)
    .option('--privileged', 'all capabilities, no seccomp, no masked paths, /sys writable, every host device')
    .option('--security-opt <opt>', 'seccomp=unconfined|builtin|<profile.json>, no-new-privileges[=true|false]; repeatable', collect)
    .option('--device <host[:container][:rwm]>', 'give the container a host device; repeatable', collect)
    .option('-i, --interactive', 'pass standard input to the container (default: /dev/null)')
    .option('--cidfile <file>', 'write the container ID to this file')
    .option('--init', 'run a tiny init as PID 1 that forwards signals to the command and reaps zombies')
    .option('--root <dir>', 'run in this process on this node root, without the daemon', DEFAULT_NODE_ROOT)
    .option('--registry <host[:port]>', 'registry for image names without a host', DEFAULT_REGISTRY)
    .action(async (image: string, command: string[], opts: RunCliOptions, cmd: Command) => {
      if (await useDaemon(cmd)) {
        return clientVerb(
          cmd,
          async (c) => {
            const { availableParallelism } = await import('node:os');
            const { run } = await import('./verbs/run.js');
            const qualifyWith = cmd.getOptionValueSource('registry') === 'cli' ? opts.registry : undefined;
            return run(c, image, command, { ...opts, ...(qualifyWith ? { qualifyWith } : {}) }, cliEnv(), availableParallelism());
          },
          'wharf: ',
        );
      }
      const o = opts as RunCliOptions & { volume?: string[]; mount?: string[]; tmpfs?: string[]; volumesFrom?: string[] };
      if (o.volume?.length || o.mount?.length || o.tmpfs?.length || o.volumesFrom?.length) {
        fail('-v, --mount, --tmpfs and --volumes-from need the node daemon (start it with `wharf daemon`, or point -H / WHARF_HOST at one)', 125);
      }
      if (opts.detach || opts.tty || opts.restart || opts.publish || opts.publishAll || opts.link || opts.networkAlias) {
        fail(`-d, -t, --restart, -p, -P, --link and --network-alias need the node daemon (start it with \`wharf daemon\`, or point -H / WHARF_HOST at one)`, 125);
      }
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
        const flags = await parseRunFlags(opts, cliEnv(), availableParallelism());
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
