/**
 * The image workflow verbs, thin clients of the node daemon with the docker CLI's flags:
 * push, login, logout, save, load, history, search, commit, image inspect|prune|history.
 * Credentials live in the client's config file (auth-config.ts), never in the daemon.
 * Only commander loads here; each action imports its module when it runs.
 */
import type { Command } from 'commander';
import { clientVerb, cliEnv, collect } from './verb.js';
import { DEFAULT_REGISTRY } from '../../oci/reference.js';

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
}

/** The stored credentials for the registry of `image` (a user's -u wins). */
export async function storedAuthFor(image: string): Promise<{ username: string; password: string } | undefined> {
  const { lookupAuth, registryOf } = await import('./auth-config.js');
  return lookupAuth(cliEnv(), registryOf(image, DEFAULT_REGISTRY));
}

export function registerImageWorkflowCommands(program: Command): void {
  program
    .command('push')
    .description('push an image (or every tag of a repository with -a) to its registry; layers the registry has are skipped, blobs of another repository there mounted')
    .argument('<name>', 'NAME[:TAG], e.g. 127.0.0.1:5000/team/app:1.0')
    .option('-a, --all-tags', 'push all tags of the repository')
    .option('-q, --quiet', 'suppress verbose output')
    .action(async (name: string, opts: { allTags?: boolean; quiet?: boolean }, cmd: Command) => {
      const auth = await storedAuthFor(name);
      await clientVerb(cmd, async (c) => (await import('./verbs/image-workflow.js')).push(c, name, { ...opts, ...(auth ? { auth } : {}) }));
    });

  program
    .command('login')
    .description(`log in to a registry (checked by the daemon against it); the credentials are kept 0600 in $WHARF_CONFIG or ~/.wharf/config.json (default server ${DEFAULT_REGISTRY})`)
    .argument('[server]', 'registry host[:port]', DEFAULT_REGISTRY)
    .option('-u, --username <name>', 'username')
    .option('-p, --password <password>', 'password (visible to other users of this machine: prefer --password-stdin)')
    .option('--password-stdin', 'take the password from stdin')
    .action(async (server: string, opts: { username?: string; password?: string; passwordStdin?: boolean }, cmd: Command) => {
      const { CliError } = await import('./engine/client.js');
      await clientVerb(cmd, async (c) => {
        if (opts.password !== undefined && opts.passwordStdin) throw new CliError('--password and --password-stdin are mutually exclusive');
        if (!opts.username) throw new CliError('Must provide --username with --password-stdin or --password');
        const password = opts.passwordStdin ? await readStdin() : opts.password;
        if (password === undefined || password === '') throw new CliError('Must provide --password or --password-stdin');
        if (opts.password !== undefined) process.stderr.write('WARNING! Using --password via the CLI is insecure. Use --password-stdin.\n');
        await (await import('./verbs/image-workflow.js')).login(c, server, { username: opts.username, password });
        const { storeAuth } = await import('./auth-config.js');
        const path = await storeAuth(cliEnv(), server, { username: opts.username, password });
        process.stdout.write(`WARNING! Your password will be stored unencrypted in ${path}.\n\nLogin Succeeded\n`);
      });
    });

  program
    .command('logout')
    .description('remove the stored credentials of a registry')
    .argument('[server]', 'registry host[:port]', DEFAULT_REGISTRY)
    .action(async (server: string) => {
      const { removeAuth, authKey } = await import('./auth-config.js');
      const removed = await removeAuth(cliEnv(), server);
      process.stdout.write(removed ? `Removing login credentials for ${authKey(server)}\n` : `Not logged in to ${authKey(server)}\n`);
    });

  program
    .command('save')
    .description('save images to a tar archive (docker save format, which is also an OCI layout); --format oci: an OCI image layout only (a directory unless -o ends in .tar)')
    .argument('<image...>', 'images (references or IDs)')
    .option('-o, --output <file>', 'write to a file (or, with --format oci, a directory), instead of stdout')
    .option('--format <format>', 'docker-archive (default) or oci', 'docker-archive')
    .action(async (images: string[], opts: { output?: string; format: string }, cmd: Command) => {
      await clientVerb(cmd, async (c) => (await import('./verbs/image-workflow.js')).save(c, images, opts));
    });

  program
    .command('load')
    .description('load images from a tar archive (docker save, or an OCI layout tar); every digest is verified before anything is stored')
    .option('-i, --input <file>', 'read from a tar archive file, instead of stdin')
    .option('-q, --quiet', 'suppress the load output')
    .action(async (opts: { input?: string; quiet?: boolean }, cmd: Command) => {
      await clientVerb(cmd, async (c) => (await import('./verbs/image-workflow.js')).load(c, opts));
    });

  const historyCommand = (cmd: Command) =>
    cmd
      .description('show the history of an image')
      .argument('<image>')
      .option('-H, --human [bool]', 'print sizes and dates in human readable format', (v) => v !== 'false', true)
      .option('--no-trunc', "don't truncate output")
      .option('-q, --quiet', 'only show image IDs')
      .option('--format <template>', 'format output with a Go template')
      .action(async (image: string, opts: { human?: boolean; trunc?: boolean; quiet?: boolean; format?: string }, c: Command) => {
        await clientVerb(c, async (client) => (await import('./verbs/image-workflow.js')).history(client, image, opts));
      });
  historyCommand(program.command('history'));

  program
    .command('search')
    .description("search a registry's images: HOST/TERM (else the default registry); the registry must serve /v1/search (Wharf does)")
    .argument('<term>')
    .option('--limit <n>', 'max number of search results', '25')
    .option('--format <template>', 'format output with a Go template')
    .option('--no-trunc', "don't truncate output")
    .action(async (term: string, opts: { limit: string; format?: string; trunc?: boolean }, cmd: Command) => {
      const auth = await storedAuthFor(term);
      await clientVerb(cmd, async (c) => (await import('./verbs/image-workflow.js')).search(c, term, { ...opts, ...(auth ? { auth } : {}) }));
    });

  program
    .command('commit')
    .description("create a new image from a container's changes (its upper dir becomes a layer)")
    .argument('<container>')
    .argument('[repository]', 'REPOSITORY[:TAG]')
    .option('-a, --author <author>', 'author (e.g. "John Hannibal Smith <hannibal@a-team.com>")')
    .option('-m, --message <message>', 'commit message')
    .option('-c, --change <instruction>', 'apply a Dockerfile instruction to the image (CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, USER, VOLUME, WORKDIR, STOPSIGNAL); repeatable', collect)
    .option('-p, --pause [bool]', 'pause the container during commit', (v) => v !== 'false', true)
    .action(async (container: string, repository: string | undefined, opts: { author?: string; message?: string; change?: string[]; pause: boolean }, cmd: Command) => {
      await clientVerb(cmd, async (c) => (await import('./verbs/commit.js')).commit(c, container, repository, opts));
    });

  const image = program.command('image').description('manage images (inspect, prune, history)');
  image
    .command('inspect')
    .description('display detailed information on one or more images')
    .argument('<image...>')
    .option('-f, --format <template>', 'format output with a Go template')
    .action(async (names: string[], opts: { format?: string }, cmd: Command) => {
      await clientVerb(cmd, async (c) => (await import('./verbs/image-workflow.js')).imageInspect(c, names, opts));
    });
  image
    .command('prune')
    .description('remove unused images: dangling ones (no tag), with -a every image no container uses')
    .option('-a, --all', 'remove all unused images, not just dangling ones')
    .option('-f, --force', 'do not prompt for confirmation')
    .option('--filter <key=value>', 'provide filter values (until=<timestamp>, label=<key>[=<value>]); repeatable', collect)
    .action(async (opts: { all?: boolean; force?: boolean; filter?: string[] }, cmd: Command) => {
      if (!opts.force) {
        const { createInterface } = await import('node:readline/promises');
        const rl = createInterface({ input: process.stdin, output: process.stderr });
        const warning = opts.all ? 'WARNING! This will remove all images without at least one container associated to them.' : 'WARNING! This will remove all dangling images.';
        const answer = await rl.question(`${warning}\nAre you sure you want to continue? [y/N] `).catch(() => '');
        rl.close();
        if (!/^y(es)?$/i.test(answer.trim())) return;
      }
      await clientVerb(cmd, async (c) => (await import('./verbs/image-workflow.js')).imagePrune(c, opts));
    });
  historyCommand(image.command('history'));
}
