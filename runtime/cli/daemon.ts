/**
 * `wharf daemon`: the node daemon, serving the Docker Engine API (dockerd's flag names).
 * The daemon module loads inside the action.
 */
import type { Command } from 'commander';
import { DEFAULT_EXEC_ROOT, DEFAULT_NODE_ROOT } from '../layout.js';
import { DEFAULT_REGISTRY } from '../../oci/reference.js';

const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

interface DaemonCliOptions {
  root: string;
  execRoot: string;
  host?: string[];
  group?: string;
  registry: string;
  tlsverify?: boolean;
  tlscacert?: string;
  tlscert?: string;
  tlskey?: string;
  logLevel: string;
  bridge: string;
  bip: string;
  defaultAddressPool?: string;
  registryData?: string[];
}

export function registerDaemonCommand(program: Command): void {
  program
    .command('daemon')
    .description('run the node daemon: the Docker Engine API on a unix socket (root needed); containers outlive it')
    .option('--root <dir>', 'node root directory (images, layers, containers)', DEFAULT_NODE_ROOT)
    .option('--exec-root <dir>', 'directory of the sockets (the shims\' and the default API socket)', DEFAULT_EXEC_ROOT)
    .option('-H, --host <address>', `listen on unix:///path or tcp://host:port (TLS client verification required); repeatable (default unix://${DEFAULT_EXEC_ROOT}/wharf.sock)`, collect)
    .option('-G, --group <group>', 'group that may use the unix socket (mode 0660)')
    .option('--registry <host[:port]>', 'registry for image names without a host', DEFAULT_REGISTRY)
    .option('--tlsverify', 'require client certificates signed by --tlscacert (needed for tcp://)')
    .option('--tlscacert <file>', 'CA certificate that signs the client certificates')
    .option('--tlscert <file>', "the daemon's certificate")
    .option('--tlskey <file>', "the daemon's key")
    .option('-l, --log-level <level>', 'debug, info, warn, error', 'info')
    .option('-b, --bridge <name>', "the default bridge network's interface", 'wharf0')
    .option('--bip <cidr>', "the default bridge's address and prefix (its subnet follows)", '10.87.0.1/16')
    .option('--default-address-pool <base=cidr,size=n>', 'where user-defined networks get their subnets (default base=10.88.0.0/16,size=24)')
    .option(
      '--registry-data <host:port=dir>',
      "a Wharf registry on this machine and its data directory: pulls from it link its blobs into the node's store, pushes link them the other way (hard links, else reflinks; no HTTP body); repeatable",
      collect,
    )
    .action(async (opts: DaemonCliOptions) => {
      const fail = (message: string): never => {
        process.stderr.write(`wharf daemon: ${message}\n`);
        process.exit(2);
      };
      if (process.getuid?.() !== 0) fail('the daemon needs root (namespaces, mounts, cgroups)');
      const { pino } = await import('pino');
      const log = pino({ level: opts.logLevel, base: { pid: process.pid, name: 'wharf-daemon' } });
      const { startDaemon } = await import('../daemon/daemon.js');
      const { resolve } = await import('node:path');
      let tls;
      if (opts.tlsverify || opts.tlscacert || opts.tlscert || opts.tlskey) {
        if (!opts.tlsverify || !opts.tlscacert || !opts.tlscert || !opts.tlskey) fail('TLS needs --tlsverify with --tlscacert, --tlscert and --tlskey');
        tls = { ca: opts.tlscacert!, cert: opts.tlscert!, key: opts.tlskey! };
      }
      const execRoot = resolve(opts.execRoot);
      let pool;
      if (opts.defaultAddressPool !== undefined) {
        const m = /^base=([\d./]+),size=(\d+)$/.exec(opts.defaultAddressPool);
        if (!m) fail(`invalid --default-address-pool ${opts.defaultAddressPool}: expected base=a.b.c.d/n,size=n`);
        pool = { base: m![1]!, size: Number(m![2]) };
      }
      const shared = [];
      for (const spec of opts.registryData ?? []) {
        const eq = spec.indexOf('=');
        if (eq <= 0 || eq === spec.length - 1) fail(`--registry-data ${spec}: expected HOST:PORT=DIR`);
        const { cliContext } = await import('./verb.js');
        const open = cliContext().openRegistryBlobStore;
        if (!open) fail('--registry-data: this build of wharf cannot open a registry data directory');
        try {
          shared.push({ host: spec.slice(0, eq), blobs: await open!(resolve(spec.slice(eq + 1))) });
        } catch (e) {
          fail(`--registry-data ${spec}: ${(e as Error).message}`);
        }
      }
      const { Colocation } = await import('../images/colocated.js');
      let daemon;
      try {
        daemon = await startDaemon({
          root: resolve(opts.root),
          execRoot,
          hosts: opts.host ?? [`unix://${execRoot}/wharf.sock`],
          ...(opts.group !== undefined ? { group: opts.group } : {}),
          ...(tls ? { tls } : {}),
          defaultRegistry: opts.registry,
          log,
          network: { bridge: opts.bridge, bip: opts.bip, ...(pool ? { pool } : {}) },
          ...(shared.length > 0 ? { colocation: new Colocation(shared) } : {}),
        });
      } catch (e) {
        return fail((e as Error).message);
      }
      log.info({ root: opts.root, containers: daemon.containers.counts() }, 'daemon ready');
      let stopping = false;
      const stop = (sig: string) => {
        if (stopping) return;
        stopping = true;
        log.info({ signal: sig }, 'stopping (containers keep running)');
        void daemon.close().then(() => process.exit(0));
      };
      process.on('SIGTERM', () => stop('SIGTERM'));
      process.on('SIGINT', () => stop('SIGINT'));
    });
}
