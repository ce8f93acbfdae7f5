/** CLI verbs of the registry side: `wharf serve`. Heavy modules load inside the action. */
import type { Command } from 'commander';

export function registerServerCommands(program: Command): void {
  program
    .command('serve')
    .description('run the registry (Docker Registry HTTP API v2 / OCI distribution-spec v1.1)')
    .option('-c, --config <file>', 'YAML config file (see config/example.yml)')
    .option('--addr <host:port>', 'listen address (overrides http.addr and WHARF_HTTP_ADDR)')
    .option('--root <dir>', 'data directory (overrides storage.root and WHARF_STORAGE_ROOT)')
    .action(async (opts: { config?: string; addr?: string; root?: string }) => {
      const { loadConfig, ConfigError } = await import('../config/config.js');
      const { StorageError } = await import('../storage/errors.js');
      const { startRegistry } = await import('./index.js');
      let registry;
      try {
        const env: Record<string, string | undefined> = { ...process.env };
        if (opts.addr) env.WHARF_HTTP_ADDR = opts.addr;
        if (opts.root) env.WHARF_STORAGE_ROOT = opts.root;
        registry = await startRegistry(loadConfig(opts.config, env));
      } catch (err) {
        if (err instanceof ConfigError || err instanceof StorageError) {
          process.stderr.write(`wharf serve: ${err.message}\n`);
          process.exit(2);
        }
        if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE') {
          process.stderr.write(`wharf serve: the address is already in use; choose another with --addr or WHARF_HTTP_ADDR\n`);
          process.exit(2);
        }
        throw err;
      }
      // Stopped however a user stops it: a signal to this process (kill, Ctrl-C, a closed
      // terminal), or the death of `npm start` (npm 11 does not pass SIGTERM on to its script).
      let stopping = false;
      const stop = (why: string): void => {
        if (stopping) {
          process.stderr.write(`wharf serve: ${why} again, exiting now\n`);
          process.exit(1);
        }
        stopping = true;
        process.stderr.write(`wharf serve: ${why}, shutting down\n`);
        registry.close().then(() => process.exit(0), () => process.exit(1));
      };
      for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, () => stop(`got ${signal}`));
      if (process.env.npm_lifecycle_event !== undefined) watchParent(() => stop('npm, which started this server, is gone'));
    });

  program
    .command('gc')
    .description('collect garbage now on a running registry, and print what was freed')
    .option('--dry-run', 'report what a collection would free, and free nothing')
    .option('--url <url>', 'the registry', 'http://127.0.0.1:5000')
    .option('-u, --user <user:password>', 'credentials of a user who may delete everywhere (sent as Basic, or traded for a token when the registry challenges for one)')
    .action(async (opts: { dryRun?: boolean; url: string; user?: string }) => {
      const { runGcCommand } = await import('./gc-command.js');
      process.exitCode = await runGcCommand(opts, (line) => process.stdout.write(`${line}\n`), (line) => process.stderr.write(`${line}\n`));
    });
}

/** Under npm, the server is npm's child (`exec` in the start script): when npm dies, the parent changes. */
function watchParent(onGone: () => void): void {
  const parent = process.ppid;
  const timer = setInterval(() => {
    if (process.ppid !== parent) {
      clearInterval(timer);
      onGone();
    }
  }, 200);
  timer.unref();
}
