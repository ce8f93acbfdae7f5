/**
 * `wharf import FILE REPO[:TAG]` and `wharf export REPO:TAG -o FILE`: image archives to
 * and from a running registry, over its HTTP API (so they work next to `wharf serve`
 * and against any v2 registry). Heavy modules load inside the actions.
 */
import type { Command } from 'commander';

interface RegistryFlags {
  registry: string;
  username?: string;
  passwordStdin?: boolean;
}

const DEFAULT_URL = 'http://127.0.0.1:5000';

function usageError(message: string): Error {
  return Object.assign(new Error(message), { exitCode: 2 });
}

/** REPO[:TAG] with a tag only after the last slash. */
function splitReference(ref: string): { repository: string; tag?: string } {
  const slash = ref.lastIndexOf('/');
  const colon = ref.lastIndexOf(':');
  if (colon > slash) return { repository: ref.slice(0, colon), tag: ref.slice(colon + 1) };
  return { repository: ref };
}

async function credentials(flags: RegistryFlags): Promise<{ username: string; password: string } | undefined> {
  if (!flags.username) {
    if (flags.passwordStdin) throw usageError('--password-stdin needs --username');
    return undefined;
  }
  if (!flags.passwordStdin) throw usageError('pass the password on standard input with --password-stdin');
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return { username: flags.username, password: Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '') };
}

function addRegistryFlags(cmd: Command): Command {
  return cmd
    .option('--registry <url>', 'the registry to talk to', DEFAULT_URL)
    .option('-u, --username <name>', 'user name for the registry')
    .option('--password-stdin', 'read the password from standard input');
}

export function registerArchiveCommands(program: Command): void {
  addRegistryFlags(
    program
      .command('import')
      .description('push the image(s) of a `docker save` archive or an OCI layout tar (gzip or not) into a registry; the whole archive is verified before anything is stored')
      .argument('<file>', 'the archive')
      .argument('<repository[:tag]>', 'where to store it; the tag defaults to the archive\'s own (else latest)'),
  ).action(async (file: string, target: string, flags: RegistryFlags) => {
    const { repository, tag } = splitReference(target);
    const { parseRepositoryName, parseTag } = await import('../../oci/names.js');
    if (!parseRepositoryName(repository)) throw usageError(`"${repository}" is not a valid repository name (lower-case letters, digits, separators . _ - and /)`);
    if (tag !== undefined && !parseTag(tag)) throw usageError(`"${tag}" is not a valid tag`);
    const { createReadStream, statSync } = await import('node:fs');
    let size: number;
    try {
      size = statSync(file).size;
    } catch (err) {
      throw usageError(`cannot read ${file}: ${(err as Error).message}`);
    }
    const { importArchive } = await import('../../oci/archive-import.js');
    const { HttpRegistry } = await import('./registry-http.js');
    const creds = await credentials(flags);
    const registry = new HttpRegistry({ url: flags.registry, repository, actions: ['pull', 'push'], ...(creds ? { credentials: creds } : {}) });
    await registry.connect();
    const progress = await progressBar(process.stderr);
    progress.start(`verifying ${file}`, size);
    const images = await importArchive(
      () => {
        const stream = createReadStream(file);
        stream.on('data', (c) => progress.add(c.length));
        return stream;
      },
      registry,
      {
        ...(tag !== undefined ? { tag } : {}),
        onPlan: (plan) => {
          progress.stop();
          process.stderr.write(`verified: ${plan.images.length} image(s), ${plan.blobs.size} blobs, ${formatBytes(plan.totalBlobBytes)}\n`);
          progress.start('storing', plan.totalBlobBytes, true);
        },
        onBlobBytes: (n) => progress.add(n),
      },
    ).finally(() => progress.stop());
    for (const image of images) {
      const names = image.tags.length > 0 ? image.tags.map((t) => `${repository}:${t}`) : [`${repository}@${image.digest}`];
      process.stdout.write(`imported ${names.join(', ')} (${image.digest}, ${image.platforms.join(', ')})\n`);
    }
  });

  addRegistryFlags(
    program
      .command('export')
      .description('write an image from a registry as a docker-archive (that `docker load` reads; also an OCI layout)')
      .argument('<repository:tag>', 'the image, e.g. team/app:v1 (or team/app@sha256:...)')
      .requiredOption('-o, --output <file>', 'the archive to write')
      .option('--platform <os/arch[/variant]>', 'the platform to pick from a multi-arch index', 'linux/amd64'),
  ).action(async (ref: string, flags: RegistryFlags & { output: string; platform: string }) => {
    const at = ref.indexOf('@');
    const { repository, tag } = at >= 0 ? { repository: ref.slice(0, at), tag: ref.slice(at + 1) } : splitReference(ref);
    const reference = tag ?? 'latest';
    const { HttpRegistry } = await import('./registry-http.js');
    const { writeDockerArchive } = await import('../../oci/archive-write.js');
    const { createWriteStream } = await import('node:fs');
    const { rename, rm } = await import('node:fs/promises');
    const creds = await credentials(flags);
    const registry = new HttpRegistry({ url: flags.registry, repository, actions: ['pull'], ...(creds ? { credentials: creds } : {}) });
    await registry.connect();
    let manifest = await registry.getManifest(reference);
    let body = JSON.parse(manifest.bytes.toString('utf8')) as { manifests?: { digest: string; platform?: { os: string; architecture: string; variant?: string } }[]; config?: { digest: string; size: number }; layers?: { digest: string; size: number }[] };
    if (body.manifests) {
      const [os, architecture, variant] = flags.platform.split('/');
      const pick = body.manifests.find((m) => m.platform?.os === os && m.platform.architecture === architecture && (variant === undefined || m.platform.variant === variant));
      if (!pick) throw usageError(`${ref} has no image for ${flags.platform}; choose one with --platform`);
      manifest = await registry.getManifest(pick.digest);
      body = JSON.parse(manifest.bytes.toString('utf8')) as typeof body;
    }
    if (!body.config || !body.layers) throw new Error(`${ref} is not an image manifest`);
    const { createHash } = await import('node:crypto');
    const configChunks: Buffer[] = [];
    for await (const c of await registry.getBlob(body.config.digest)) configChunks.push(c as Buffer);
    const configBytes = Buffer.concat(configChunks);
    const digestOf = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
    if (digestOf(configBytes) !== body.config.digest) throw new Error(`the config of ${ref} does not match its digest`);
    const host = new URL(flags.registry).host;
    const total = body.layers.reduce((n, l) => n + l.size, 0);
    const progress = await progressBar(process.stderr);
    progress.start(`exporting ${ref}`, total, true);
    const temp = `${flags.output}.${process.pid}.tmp`;
    const out = createWriteStream(temp);
    try {
      await writeDockerArchive(
        {
          repoTag: `${host}/${repository}:${tag !== undefined && at < 0 ? tag : 'latest'}`,
          manifest: { digest: digestOf(manifest.bytes), mediaType: manifest.mediaType, bytes: manifest.bytes },
          config: { digest: body.config.digest, bytes: configBytes },
          layers: body.layers.map((l) => ({ digest: l.digest, size: l.size, open: () => registry.getBlob(l.digest) })),
        },
        out,
        (n) => progress.add(n),
      );
      await rename(temp, flags.output);
    } catch (err) {
      // The write stream may still be creating the file when the export fails: rm after its close.
      if (!out.closed) await new Promise<void>((resolve) => out.once('close', () => resolve()).destroy());
      await rm(temp, { force: true });
      throw err;
    } finally {
      progress.stop();
    }
    process.stdout.write(`exported ${repository}:${reference} to ${flags.output}\n`);
  });
}

function formatBytes(n: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let i = 0;
  while (n >= 1000 && i < units.length - 1) {
    n /= 1000;
    i++;
  }
  return `${i === 0 ? n : n.toFixed(1)}${units[i]}`;
}

interface Progress {
  start(label: string, total: number, bytes?: boolean): void;
  add(n: number): void;
  stop(): void;
}

/** A bar on a TTY (cli-progress, loaded only then); one line per phase otherwise. */
async function progressBar(out: NodeJS.WriteStream): Promise<Progress> {
  if (!out.isTTY) {
    let done = 0;
    let label = '';
    let total = 0;
    return {
      start(l, t) {
        label = l;
        total = t;
        done = 0;
        out.write(`${label} (${formatBytes(total)})...\n`);
      },
      add(n) {
        done += n;
      },
      stop() {
        if (label) out.write(`${label}: ${formatBytes(done)} done\n`);
        label = '';
      },
    };
  }
  const { default: cliProgress } = await import('cli-progress');
  let bar: InstanceType<typeof cliProgress.SingleBar> | undefined;
  return {
    start(label, total) {
      bar = new cliProgress.SingleBar({ stream: out, format: `${label} [{bar}] {percentage}% {value}/{total} bytes`, hideCursor: true }, cliProgress.Presets.shades_classic);
      bar.start(total, 0);
    },
    add(n) {
      bar?.increment(n);
    },
    stop() {
      bar?.stop();
      bar = undefined;
    },
  };
}
