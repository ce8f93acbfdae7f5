/** `wharf build`: through the node daemon's POST /build (runtime/cli/verbs/build.ts). */
import type { Command } from 'commander';
import { clientVerb, cliEnv, collect } from './verb.js';

export function registerBuildCommand(program: Command): void {
  program
    .command('build')
    .description('build an image from a Dockerfile and a context directory (or - for a tar on stdin)')
    .argument('<context>', 'context directory, or - to read a tar from stdin')
    .option('-t, --tag <name[:tag]>', 'name and optionally a tag (repeatable)', collect, [])
    .option('-f, --file <path>', 'the Dockerfile (default: CONTEXT/Dockerfile)')
    .option('--build-arg <key=value>', 'a build-time variable (repeatable)', collect, [])
    .option('--label <key=value>', 'a label for the image (repeatable)', collect, [])
    .option('--no-cache', 'do not use the cache')
    .option('--target <stage>', 'the build stage to stop at')
    .option('--network <mode>', 'network of the RUN steps: none, host (default: bridge where available, else none)')
    .option('-q, --quiet', 'print only the image ID')
    .action(async (context: string, opts: { tag: string[]; file?: string; buildArg: string[]; label: string[]; cache: boolean; target?: string; network?: string; quiet?: boolean }, cmd: Command) =>
      clientVerb(cmd, async (c) => {
        const { buildImage } = await import('./verbs/build.js');
        return buildImage(c, context, {
          tags: opts.tag,
          ...(opts.file ? { file: opts.file } : {}),
          buildArgs: opts.buildArg,
          labels: opts.label,
          noCache: opts.cache === false,
          ...(opts.target ? { target: opts.target } : {}),
          ...(opts.network ? { network: opts.network } : {}),
          quiet: opts.quiet === true,
          env: cliEnv(),
        });
      }),
    );
}
