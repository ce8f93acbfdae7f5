/**
 * Network names for one test run, and their removal: a default bridge, a subnet and a
 * user-network pool no other interface on the machine uses (the shared machine runs other
 * tests), the iptables chains the daemon makes for that bridge, and a free host port.
 */
import { execFile, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { networkInterfaces } from 'node:os';
import { promisify } from 'node:util';
import { chainNames, jumps, removeChains } from '../../runtime/network/iptables.js';

const execFileP = promisify(execFile);

export interface RunNetworks {
  /** the default bridge's interface (also the chains' tag) */
  bridge: string;
  /** the default bridge's gateway/prefix */
  bip: string;
  subnet: string;
  /** base=...,size=24 for user networks */
  pool: string;
  /** daemon flags for all of it */
  args: string[];
  chains: ReturnType<typeof chainNames>;
}

function usedSecondOctets(): Set<number> {
  const used = new Set<number>();
  for (const addrs of Object.values(networkInterfaces())) for (const a of addrs ?? []) if (a.family === 'IPv4' && a.address.startsWith('10.')) used.add(Number(a.address.split('.')[1]));
  return used;
}

export function runNetworks(): RunNetworks {
  const used = usedSecondOctets();
  const free = Array.from({ length: 100 }, (_, i) => 150 + i).filter((o) => !used.has(o));
  const pick = () => free.splice(randomBytes(1)[0]! % free.length, 1)[0]!;
  const a = pick();
  const b = pick();
  const bridge = `wt${randomBytes(4).toString('hex')}`;
  return {
    bridge,
    bip: `10.${a}.0.1/24`,
    subnet: `10.${a}.0.0/24`,
    pool: `base=10.${b}.0.0/16,size=24`,
    args: ['--bridge', bridge, '--bip', `10.${a}.0.1/24`, '--default-address-pool', `base=10.${b}.0.0/16,size=24`],
    chains: chainNames(bridge),
  };
}

export const linkExists = (name: string): boolean => existsSync(`/sys/class/net/${name}`);

/** Removes the run's default bridge and chains (user networks are removed through the daemon). */
export async function removeRunNetworks(n: RunNetworks, extraLinks: string[] = []): Promise<void> {
  for (const l of [n.bridge, ...extraLinks]) if (linkExists(l)) await execFileP('ip', ['link', 'del', l]).catch(() => undefined);
  await removeChains(n.bridge);
}

/** `iptables -t <table> -S <chain>` lines ('' when the chain does not exist). */
export async function chainRules(table: string, chain: string): Promise<string> {
  return execFileP('iptables', ['-w', '-t', table, '-S', chain]).then(
    (r) => r.stdout,
    () => '',
  );
}

/** A host port nothing listens on right now (ephemeral range: the kernel's pick). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/** The same, synchronously, for a process 'exit' hook (a suite that stops its daemon and ends). */
export function removeRunNetworksSync(n: RunNetworks): void {
  const quiet = { stdio: 'ignore' as const };
  if (linkExists(n.bridge)) {
    try {
      execFileSync('ip', ['link', 'del', n.bridge], quiet);
    } catch {
      /* gone meanwhile */
    }
  }
  for (const j of jumps(n.chains)) {
    for (let i = 0; i < 8; i++) {
      try {
        execFileSync('iptables', ['-w', '-t', j.table, ...j.rule.replace(/^-A /, '-D ').split(' ')], quiet);
      } catch {
        break;
      }
    }
  }
  for (const [table, chain] of [['nat', n.chains.dnat], ['nat', n.chains.post], ['filter', n.chains.fwd]] as const) {
    for (const op of ['-F', '-X']) {
      try {
        execFileSync('iptables', ['-w', '-t', table, op, chain], quiet);
      } catch {
        /* not there */
      }
    }
  }
}

/** `wharf daemon` flags for a bridge, subnet and chains of the run's own, removed when this process exits. */
export function ownNetworkArgs(): string[] {
  const n = runNetworks();
  process.once('exit', () => removeRunNetworksSync(n));
  return n.args;
}
