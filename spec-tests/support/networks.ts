/**
 * Network names for one test run, and their removal: a default bridge, a subnet and a
 * user-network pool no other interface on the machine uses (the shared machine runs other
 * tests), the iptables chains the daemon makes for that bridge, and a free host port.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { networkInterfaces } from 'node:os';
import { promisify } from 'node:util';
import { chainNames, removeChains } from '../../runtime/network/iptables.js';

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
