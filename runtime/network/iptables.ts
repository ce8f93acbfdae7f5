/**
 * The daemon's packet filter rules, in chains of its own (Docker's layout, our names):
 *
 *   nat    WHARF-DNAT[-tag]   published ports: DNAT to the container; jumped to from
 *                             PREROUTING and OUTPUT for local destinations (OUTPUT not for
 *                             127/8: loopback traffic goes through the userland proxy)
 *          WHARF-POST[-tag]   MASQUERADE of each non-internal network's outbound traffic
 *   filter WHARF-FWD[-tag]    isolation between networks, internal networks, icc=false,
 *                             published ports accepted, the rest into a network dropped
 *
 * The tag (the default bridge's name unless it is wharf0) keeps the chains of two daemons
 * on one machine apart. The whole content of our chains is rendered from the daemon's
 * state and applied with one `iptables-restore --noflush` (declaring a user chain there
 * flushes it), so a change costs one process, and a restart re-applies what the records
 * say. The jumps from the built-in chains are added once, when `iptables-save` lacks them.
 */
import { execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';

const execFileP = promisify(execFile);

export interface FirewallNetwork {
  bridge: string;
  subnet: string;
  internal: boolean;
  icc: boolean;
}

export interface FirewallPort {
  proto: 'tcp' | 'udp';
  /** '' or 0.0.0.0: every host address */
  hostIp: string;
  hostPort: number;
  bridge: string;
  ip: string;
  port: number;
}

export interface FirewallState {
  networks: FirewallNetwork[];
  ports: FirewallPort[];
}

export interface ChainNames {
  dnat: string;
  post: string;
  fwd: string;
}

export function chainNames(tag: string): ChainNames {
  const t = tag ? `-${tag}` : '';
  return { dnat: `WHARF-DNAT${t}`, post: `WHARF-POST${t}`, fwd: `WHARF-FWD${t}` };
}

export function jumps(c: ChainNames): { table: 'nat' | 'filter'; rule: string; insert: boolean }[] {
  return [
    { table: 'nat', rule: `-A PREROUTING -m addrtype --dst-type LOCAL -j ${c.dnat}`, insert: false },
    { table: 'nat', rule: `-A OUTPUT ! -d 127.0.0.0/8 -m addrtype --dst-type LOCAL -j ${c.dnat}`, insert: false },
    { table: 'nat', rule: `-A POSTROUTING -j ${c.post}`, insert: false },
    { table: 'filter', rule: `-A FORWARD -j ${c.fwd}`, insert: true },
  ];
}

/** The iptables-restore input for our chains (without the jumps). */
export function renderRules(c: ChainNames, s: FirewallState): { nat: string[]; filter: string[] } {
  const nat = [`:${c.dnat} - [0:0]`, `:${c.post} - [0:0]`];
  const filter = [`:${c.fwd} - [0:0]`];
  for (const n of s.networks) if (!n.internal) nat.push(`-A ${c.post} -s ${n.subnet} ! -o ${n.bridge} -j MASQUERADE`);
  for (const p of s.ports) {
    const dst = p.hostIp && p.hostIp !== '0.0.0.0' ? ` -d ${p.hostIp}/32` : '';
    nat.push(`-A ${c.dnat}${dst} ! -i ${p.bridge} -p ${p.proto} -m ${p.proto} --dport ${p.hostPort} -j DNAT --to-destination ${p.ip}:${p.port}`);
  }
  // Drops first: traffic between two of our networks, in or out of an internal one.
  for (const n of s.networks) {
    for (const m of s.networks) if (m !== n) filter.push(`-A ${c.fwd} -i ${n.bridge} -o ${m.bridge} -j DROP`);
    if (n.internal) {
      filter.push(`-A ${c.fwd} -i ${n.bridge} ! -o ${n.bridge} -j DROP`);
      filter.push(`-A ${c.fwd} -o ${n.bridge} ! -i ${n.bridge} -j DROP`);
    }
    // icc=false: also dropped when bridged traffic passes iptables (br_netfilter); the
    // bridge ports are isolated either way (netlink.cc).
    if (!n.icc) filter.push(`-A ${c.fwd} -i ${n.bridge} -o ${n.bridge} -j DROP`);
  }
  for (const p of s.ports) filter.push(`-A ${c.fwd} -d ${p.ip}/32 ! -i ${p.bridge} -o ${p.bridge} -p ${p.proto} -m ${p.proto} --dport ${p.port} -j ACCEPT`);
  for (const n of s.networks) {
    filter.push(`-A ${c.fwd} -o ${n.bridge} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT`);
    if (!n.internal) filter.push(`-A ${c.fwd} -i ${n.bridge} ! -o ${n.bridge} -j ACCEPT`);
    if (n.icc) filter.push(`-A ${c.fwd} -i ${n.bridge} -o ${n.bridge} -j ACCEPT`);
    filter.push(`-A ${c.fwd} -o ${n.bridge} ! -i ${n.bridge} -j DROP`);
  }
  return { nat, filter };
}

function restore(input: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('iptables-restore', ['--noflush', '--wait'], { stdio: ['pipe', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (b: Buffer) => (err += b.toString()));
    child.on('error', (e) => reject(new Error(`iptables-restore: ${e.message} (install iptables)`, { cause: e })));
    child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`iptables-restore exited ${code}: ${err.trim()}`))));
    child.stdin.end(input);
  });
}

/** Applies the rules of `state`, one change at a time (later changes wait for earlier ones). */
export class Firewall {
  readonly chains: ChainNames;
  private queue: Promise<unknown> = Promise.resolve();
  private jumpsChecked = false;

  constructor(tag: string) {
    this.chains = chainNames(tag);
  }

  apply(state: FirewallState): Promise<void> {
    const next = this.queue.then(() => this.applyNow(state));
    this.queue = next.catch(() => undefined);
    return next;
  }

  private async applyNow(state: FirewallState): Promise<void> {
    const { nat, filter } = renderRules(this.chains, state);
    if (!this.jumpsChecked) {
      const { stdout } = await execFileP('iptables-save', ['-t', 'nat']).catch(() => ({ stdout: '' }));
      const { stdout: f } = await execFileP('iptables-save', ['-t', 'filter']).catch(() => ({ stdout: '' }));
      const saved = new Set(`${stdout}\n${f}`.split('\n'));
      // The chains must exist before a jump to them: declare first, jump after.
      const missing = jumps(this.chains).filter((j) => !saved.has(j.rule));
      const natJumps = missing.filter((j) => j.table === 'nat').map((j) => j.rule);
      const filterJumps = missing.filter((j) => j.table === 'filter').map((j) => (j.insert ? j.rule.replace(/^-A /, '-I ') : j.rule));
      await restore(`*nat\n${[...nat, ...natJumps].join('\n')}\nCOMMIT\n*filter\n${[...filter, ...filterJumps].join('\n')}\nCOMMIT\n`);
      this.jumpsChecked = true;
      return;
    }
    await restore(`*nat\n${nat.join('\n')}\nCOMMIT\n*filter\n${filter.join('\n')}\nCOMMIT\n`);
  }
}

/** Removes our chains and the jumps to them (tests, and `wharf daemon` cleanup tools). */
export async function removeChains(tag: string): Promise<void> {
  const c = chainNames(tag);
  for (const j of jumps(c)) {
    const del = j.rule.replace(/^-A /, '-D ').split(' ');
    while (await execFileP('iptables', ['-w', '-t', j.table, ...del]).then(() => true, () => false));
  }
  for (const [table, chain] of [['nat', c.dnat], ['nat', c.post], ['filter', c.fwd]] as const) {
    await execFileP('iptables', ['-w', '-t', table, '-F', chain]).catch(() => undefined);
    await execFileP('iptables', ['-w', '-t', table, '-X', chain]).catch(() => undefined);
  }
}
