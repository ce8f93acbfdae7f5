/**
 * The container verbs (besides `run`, `container prune`), thin clients of the node daemon's Engine API with the docker CLI's
 * flags: create, start, stop, kill, restart, rm, ps, logs, exec, inspect, top, wait,
 * attach, cp, pause, unpause, rename, stats. Only commander loads here; each action
 * imports its verb module (and with it the client) when it runs.
 */
import type { Command } from 'commander';
import { clientVerb, cliEnv, collect } from './verb.js';

export function registerContainerVerbs(program: Command): void {
  program
    .command('ps')
    .description('list containers (running ones; -a for all)')
    .option('-a, --all', 'show all containers (default shows just running)')
    .option('-q, --quiet', 'only display container IDs')
    .option('-f, --filter <key=value>', 'filter output (status=, name=, id=, label=, exited=, ancestor=); repeatable', collect)
    .option('--format <template>', "format output with a Go template ('table {{.ID}}\\t{{.Names}}', '{{json .}}')")
    .option('-n, --last <n>', 'show n last created containers (includes all states)')
    .option('-l, --latest', 'show the latest created container (includes all states)')
    .option('-s, --size', 'display total file sizes')
    .option('--no-trunc', "don't truncate output")
    .action(async (opts, cmd: Command) => {
      await clientVerb(cmd, async (c) => (await import('./verbs/ps.js')).ps(c, opts));
    });

  program
    .command('inspect')
    .description('return low-level information on containers or images (JSON, or --format)')
    .argument('<name...>', 'container or image names or IDs')
    .option('-f, --format <template>', "format output with a Go template, e.g. '{{.State.ExitCode}}' or '{{json .Config}}'")
    .option('--type <type>', 'only this type of object: container or image')
    .option('-s, --size', 'display total file sizes (containers)')
    .action(async (names: string[], opts, cmd: Command) => {
      await clientVerb(cmd, async (c) => (await import('./verbs/inspect.js')).inspect(c, names, opts));
    });

  program
    .command('logs')
    .description("fetch the logs of a container (its json-file log, stdout and stderr apart)")
    .argument('<container>')
    .option('-f, --follow', 'follow log output')
    .option('-t, --timestamps', 'show timestamps')
    .option('-n, --tail <n>', 'number of lines to show from the end of the logs ("all")')
    .option('--since <time>', 'show logs since a timestamp (2013-01-02T13:23:37Z) or relative (42m)')
    .option('--until <time>', 'show logs before a timestamp or relative (42m)')
    .option('--details', 'show extra details provided to logs')
    .action(async (name: string, opts, cmd: Command) => {
      await clientVerb(cmd, async (c) => (await import('./verbs/logs.js')).logs(c, name, opts));
    });

  const lifecycle = (
    verb: 'stop' | 'restart' | 'kill' | 'rm' | 'pause' | 'unpause',
    description: string,
    withOptions: (cmd: Command) => Command = (cmd) => cmd,
  ) =>
    withOptions(program.command(verb).description(description).argument('<container...>')).action(async (names: string[], opts, cmd: Command) => {
      await clientVerb(cmd, async (c) => {
        const m = await import('./verbs/lifecycle.js');
        await m[verb](c, names, opts);
      });
    });
  lifecycle('stop', "stop running containers: the image's StopSignal (default SIGTERM), SIGKILL after the grace time", (c) =>
    c.option('-t, --time <seconds>', 'seconds to wait before killing the container').option('-s, --signal <signal>', 'signal to send to the container'),
  );
  lifecycle('restart', 'restart containers', (c) =>
    c.option('-t, --time <seconds>', 'seconds to wait before killing the container').option('-s, --signal <signal>', 'signal to send to the container'),
  );
  lifecycle('kill', 'kill running containers (SIGKILL unless -s)', (c) => c.option('-s, --signal <signal>', 'signal to send to the container'));
  lifecycle('rm', 'remove containers', (c) =>
    c.option('-f, --force', 'force the removal of a running container (uses SIGKILL)').option('-v, --volumes', 'remove anonymous volumes associated with the container'),
  );
  lifecycle('pause', 'pause all processes within containers (cgroup freezer)');
  lifecycle('unpause', 'unpause all processes within containers');

  program
    .command('rename')
    .description('rename a container')
    .argument('<container>')
    .argument('<new-name>')
    .action(async (from: string, to: string, _opts, cmd: Command) => {
      await clientVerb(cmd, async (c) => (await import('./verbs/lifecycle.js')).rename(c, from, to));
    });

  program
    .command('wait')
    .description('block until containers stop, then print their exit codes')
    .argument('<container...>')
    .action(async (names: string[], _opts, cmd: Command) => {
      await clientVerb(cmd, async (c) => (await import('./verbs/lifecycle.js')).wait(c, names));
    });

  program
    .command('start')
    .description('start stopped containers')
    .argument('<container...>')
    .option('-a, --attach', "attach stdout/stderr and forward signals; exit with the container's code")
    .option('-i, --interactive', "attach the container's stdin")
    .option('--detach-keys <keys>', 'override the key sequence for detaching a container (default ctrl-p,ctrl-q)')
    .action(async (names: string[], opts: { attach?: boolean; interactive?: boolean; detachKeys?: string }, cmd: Command) => {
      await clientVerb(cmd, async (c) => {
        if (opts.attach || opts.interactive) {
          const { CliError } = await import('./engine/client.js');
          if (names.length > 1) throw new CliError('you cannot start and attach multiple containers at once');
          return (await import('./verbs/run.js')).startAttached(c, names[0]!, opts);
        }
        return (await import('./verbs/lifecycle.js')).startDetached(c, names);
      });
    });

  program
    .command('attach')
    .description("attach the terminal's standard input, output and error to a running container")
    .argument('<container>')
    .option('--no-stdin', 'do not attach STDIN')
    .option('--sig-proxy', 'proxy all received signals to the process (default true)', true)
    .option('--no-sig-proxy', 'do not proxy signals')
    .option('--detach-keys <keys>', 'override the key sequence for detaching a container (default ctrl-p,ctrl-q)')
    .action(async (name: string, opts: { stdin?: boolean; sigProxy?: boolean; detachKeys?: string }, cmd: Command) => {
      await clientVerb(cmd, async (c) => (await import('./verbs/run.js')).attach(c, name, opts));
    });

  program
    .command('exec')
    .description('execute a command in a running container; exits with its exit code')
    .argument('<container>')
    .argument('<command...>')
    .passThroughOptions()
    .option('-d, --detach', 'detached mode: run command in the background')
    .option('-i, --interactive', 'keep STDIN open even if not attached')
    .option('-t, --tty', 'allocate a pseudo-TTY')
    .option('-e, --env <KEY=value>', 'set environment variables; repeatable', collect)
    .option('-w, --workdir <dir>', 'working directory inside the container')
    .option('-u, --user <name|uid[:group|gid]>', 'username or UID')
    .option('--privileged', 'give extended privileges to the command')
    .option('--detach-keys <keys>', 'override the key sequence for detaching (default ctrl-p,ctrl-q)')
    .action(async (name: string, command: string[], opts, cmd: Command) => {
      await clientVerb(cmd, async (c) => (await import('./verbs/run.js')).exec(c, name, command, opts, cliEnv()), '');
    });

  program
    .command('create')
    .description('create a new container (as `run`, without starting it); prints its ID')
    .argument('<image>')
    .argument('[command...]')
    .helpOption('--help', 'display help for command')
    .passThroughOptions()
    .option('--name <name>', 'assign a name to the container')
    .option('-e, --env <KEY=value|KEY>', 'set environment variables; repeatable', collect)
    .option('--env-file <file>', 'read in a file of environment variables; repeatable', collect)
    .option('-h, --hostname <name>', 'container host name')
    .option('-w, --workdir <dir>', 'working directory inside the container')
    .option('-u, --user <name|uid[:group|gid]>', 'username or UID')
    .option('--entrypoint <program>', 'overwrite the default ENTRYPOINT of the image')
    .option('-i, --interactive', 'keep STDIN open even if not attached')
    .option('-t, --tty', 'allocate a pseudo-TTY')
    .option('--rm', 'automatically remove the container when it exits')
    .option('--restart <policy>', 'restart policy: no, on-failure[:max-retries], always, unless-stopped')
    .option('-m, --memory <bytes>', 'memory limit')
    .option('--memory-swap <bytes>', "swap limit equal to memory plus swap: '-1' to enable unlimited swap")
    .option('--cpus <n>', 'number of CPUs')
    .option('-c, --cpu-shares <n>', 'CPU shares (relative weight)')
    .option('--cpuset-cpus <list>', 'CPUs in which to allow execution (0-3, 0,1)')
    .option('--pids-limit <n>', 'tune container pids limit (-1 for unlimited)')
    .option('--network <mode>', 'connect a container to a network (bridge, a user network, container:<name|id>, none, host)')
    .option('-p, --publish <[ip:]hostPort:containerPort[/proto]>', "publish a container's port to the host (127.0.0.1:8080:80, 8080:80, 127.0.0.1::80, 80); repeatable", collect)
    .option('-P, --publish-all', 'publish every exposed port to a random host port')
    .option('--expose <port[/proto]>', 'expose a port without publishing it; repeatable', collect)
    .option('--link <name[:alias]>', 'add a link to another container (its name in /etc/hosts; default bridge); repeatable', collect)
    .option('--network-alias <name>', 'add a network-scoped alias for the container (user networks); repeatable', collect)
    .option('--read-only', "mount the container's root filesystem as read only")
    .option('-v, --volume <[src:]dst[:opts]>', 'bind mount a host path (/src) or mount a volume (name, or none: anonymous); opts ro, rw, nocopy; repeatable', collect)
    .option('--mount <k=v,...>', 'attach a filesystem mount: type=bind|volume|tmpfs,source=,target=,readonly,volume-nocopy,tmpfs-size=,tmpfs-mode=; repeatable', collect)
    .option('--tmpfs <dst[:opts]>', 'mount a tmpfs (default noexec,nosuid,nodev; opts size=, mode=, exec ...); repeatable', collect)
    .option('--volumes-from <container[:ro|rw]>', "mount the volumes and binds of another container; repeatable", collect)
    .option('--cidfile <file>', 'write the container ID to the file')
    .action(async (image: string, command: string[], opts, cmd: Command) => {
      await clientVerb(
        cmd,
        async (c) => {
          const { availableParallelism } = await import('node:os');
          const { CliError } = await import('./engine/client.js');
          try {
            const id = await (await import('./verbs/run.js')).createContainer(c, image, command, opts, cliEnv(), availableParallelism());
            process.stdout.write(`${id}\n`);
          } catch (e) {
            // docker create: the daemon's refusals exit 1 (run says 125 for the same).
            if (e instanceof CliError && e.message.startsWith('Error response from daemon:')) throw new CliError(e.message, 1);
            throw e;
          }
        },
      );
    });

  program
    .command('top')
    .description('display the running processes of a container')
    .argument('<container>')
    .argument('[ps-options...]', 'options for ps (default -ef)')
    .passThroughOptions()
    .action(async (name: string, psArgs: string[], _opts, cmd: Command) => {
      await clientVerb(cmd, async (c) => (await import('./verbs/top-stats.js')).top(c, name, psArgs));
    });

  program
    .command('stats')
    .description('display a sample of containers\' resource usage (--no-stream)')
    .argument('[container...]')
    .option('-a, --all', 'show all containers (default shows just running)')
    .option('--no-stream', 'disable streaming stats and only pull the first result')
    .option('--format <template>', 'format output with a Go template')
    .action(async (names: string[], opts: { all?: boolean; stream?: boolean; format?: string }, cmd: Command) => {
      await clientVerb(cmd, async (c) =>
        (await import('./verbs/top-stats.js')).stats(c, names, { ...opts, noStream: opts.stream === false }),
      );
    });

  program
    .command('cp')
    .description('copy files/folders between a container and the local filesystem (CONTAINER:SRC DEST, SRC CONTAINER:DEST; - for a tar stream)')
    .argument('<src>')
    .argument('<dest>')
    .action(async (src: string, dest: string, _opts, cmd: Command) => {
      await clientVerb(cmd, async (c) => (await import('./verbs/cp.js')).cp(c, src, dest));
    });
}
