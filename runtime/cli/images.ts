/**
 * `wharf pull`, `wharf images`, `wharf rmi`, `wharf tag`. Through the node daemon's Engine
 * API when one is chosen or answers (runtime/cli/verbs/images.ts, docker's output); with
 * `--root`, or when no daemon runs, on the node root in this process (as before the
 * daemon existed). Only commander types load here; the rest is imported in the actions.
 */
import type { Command } from 'commander';
import { clientVerb, collect, qualifyName, useDaemon } from './verb.js';
import { DEFAULT_NODE_ROOT } from '../layout.js';
import { DEFAULT_REGISTRY } from '../../oci/reference.js';

interface CommonOptions {
  root: string;
  registry: string;
}

function addCommon(cmd: Command): Command {
  return cmd
    .option('--root <dir>', 'node root directory (content store, layers, containers)', DEFAULT_NODE_ROOT)
    .option('--registry <host[:port]>', 'registry for image names without a host', DEFAULT_REGISTRY);
}

async function openStore(opts: CommonOptions) {
  const { ImageStore } = await import('../images/store.js');
  return new ImageStore(opts.root, { defaultRegistry: opts.registry });
}

function parsePlatform(s: string): { os: string; architecture: string; variant?: string } {
  const [os, architecture, variant] = s.split('/');
  if (!os || !architecture) throw Object.assign(new Error(`--platform: expected os/arch[/variant], got "${s}"`), { exitCode: 2 });
  return variant ? { os, architecture, variant } : { os, architecture };
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
}

export function registerImageCommands(program: Command): void {
  addCommon(
    program
      .command('pull')
      .description('pull an image from a registry into the node: [registry/]name[:tag|@digest]')
      .argument('<image>', 'image reference, e.g. localhost:5000/app:1.0')
      .option('--platform <os/arch[/variant]>', 'platform to pick from a multi-arch index', 'linux/amd64')
      .option('-u, --username <name>', 'user name for the registry')
      .option('--password-stdin', 'read the registry password from standard input')
      .option('--plain-http', 'use HTTP instead of HTTPS (localhost and 127.0.0.0/8 use HTTP anyway)')
      .option('-q, --quiet', 'print only the image reference'),
  ).action(
    async (
      image: string,
      opts: CommonOptions & { platform: string; username?: string; passwordStdin?: boolean; plainHttp?: boolean; quiet?: boolean },
      cmd: Command,
    ) => {
      const { storedAuthFor } = await import('./image-workflow.js');
      if (await useDaemon(cmd)) {
        const ref = qualifyName(image, cmd.getOptionValueSource('registry') === 'cli' ? opts.registry : undefined);
        const auth = opts.username ? { username: opts.username, password: opts.passwordStdin ? await readStdin() : '' } : await storedAuthFor(ref);
        return clientVerb(cmd, async (c) => {
          const { pullImage } = await import('./verbs/images.js');
          await pullImage(c, ref, { quiet: opts.quiet, platform: opts.platform, ...(auth ? { auth } : {}) });
        });
      }
      const store = await openStore(opts);
      const { progressFor } = await import('../images/progress.js');
      const display = opts.quiet ? undefined : await progressFor(process.stdout);
      const pullOpts: import('../images/store.js').PullOptions = { platform: parsePlatform(opts.platform) };
      let downloaded = false;
      pullOpts.onProgress = (p) => {
        if (p.phase === 'downloading') downloaded = true;
        display?.onProgress(p);
      };
      const stored = opts.username ? undefined : await storedAuthFor(qualifyName(image, opts.registry));
      if (opts.username) pullOpts.credentials = { username: opts.username, password: opts.passwordStdin ? await readStdin() : '' };
      else if (stored) pullOpts.credentials = stored;
      if (opts.plainHttp) pullOpts.scheme = 'http';
      try {
        const rec = await store.pull(image, pullOpts);
        display?.stop();
        if (!opts.quiet)           process.stdout.write(
            `Digest: ${rec.indexDigest ?? rec.digest}\nStatus: ${downloaded ? 'Downloaded newer image for' : 'Image is up to date for'} ${rec.reference}\n`,
          );
        process.stdout.write(`${rec.reference}\n`);
      } catch (err) {
        display?.stop();
        throw err;
      }
    },
  );

  addCommon(
    program
      .command('images')
      .description('list the images on this node')
      .option('-q, --quiet', 'print only image IDs')
      .option('--digests', 'show manifest digests')
      .option('--json', 'print the image records as JSON (without a daemon)')
      .option('-a, --all', 'show all images (daemon)')
      .option('-f, --filter <key=value>', 'filter output (reference=, dangling=); repeatable (daemon)', collect)
      .option('--format <template>', 'format output with a Go template (daemon)')
      .option('--no-trunc', "don't truncate output (daemon)")
      .argument('[repository]', 'only images of this repository (or repository:tag)'),
  ).action(async (repository: string | undefined, opts: CommonOptions & { quiet?: boolean; digests?: boolean; json?: boolean }, cmd: Command) => {
    if (await useDaemon(cmd)) {
      return clientVerb(cmd, async (c) => (await import('./verbs/images.js')).images(c, repository, opts));
    }
    const store = await openStore(opts);
    const records = (await store.list()).filter(
      (r) => !repository || [r.reference, `${r.registry}/${r.repository}`, r.repository].includes(repository),
    );
    if (opts.json) return void process.stdout.write(`${JSON.stringify(records, null, 2)}\n`);
    const { shortId, formatBytes } = await import('../images/progress.js');
    if (opts.quiet) return void process.stdout.write([...new Set(records.map((r) => shortId(r.configDigest)))].map((s) => `${s}\n`).join(''));
    const rows = [['REPOSITORY', 'TAG', ...(opts.digests ? ['DIGEST'] : []), 'IMAGE ID', 'CREATED', 'SIZE']];
    for (const r of records) {
      rows.push([
        `${r.registry}/${r.repository}`,
        r.tag ?? '<none>',
        ...(opts.digests ? [r.digest] : []),
        shortId(r.configDigest),
        r.created ? r.created.slice(0, 19).replace('T', ' ') : '<unknown>',
        formatBytes(r.size),
      ]);
    }
    const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
    process.stdout.write(rows.map((row) => row.map((c, i) => (i === row.length - 1 ? c : c.padEnd(widths[i]! + 3))).join('')).join('\n') + '\n');
  });

  addCommon(
    program
      .command('rmi')
      .description('remove images (by reference or image ID) and the blobs and layers nothing else uses')
      .argument('<image...>', 'image references or IDs')
      .option('--no-prune', 'keep blobs and unpacked layers (only untag)')
      .option('-f, --force', 'force removal of the image (daemon: even while a stopped container uses it)'),
  ).action(async (images: string[], opts: CommonOptions & { prune: boolean; force?: boolean }, cmd: Command) => {
    if (await useDaemon(cmd)) {
      return clientVerb(cmd, async (c) => (await import('./verbs/images.js')).rmi(c, images, opts));
    }
    const store = await openStore(opts);
    let failed = false;
    for (const image of images) {
      try {
        const res = await store.remove(image, { gc: opts.prune });
        for (const r of res.removed) process.stdout.write(`Untagged: ${r}\n`);
        for (const d of [...res.deletedBlobs, ...res.deletedLayers]) process.stdout.write(`Deleted: ${d}\n`);
      } catch (err) {
        failed = true;
        process.stderr.write(`wharf rmi: ${(err as Error).message}\n`);
      }
    }
    if (failed) process.exitCode = 1;
  });

  program
    .command('tag')
    .description('create a tag TARGET_IMAGE that refers to SOURCE_IMAGE (through the daemon)')
    .argument('<source>', 'SOURCE_IMAGE[:TAG]')
    .argument('<target>', 'TARGET_IMAGE[:TAG]')
    .action(async (source: string, target: string, _opts, cmd: Command) => {
      await clientVerb(cmd, async (c) => (await import('./verbs/images.js')).tag(c, source, target));
    });
}
