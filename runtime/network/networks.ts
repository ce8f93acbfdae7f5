/**
 * The daemon's networks: the default bridge ("bridge", whose interface and subnet the
 * daemon's flags choose), user-defined bridge networks (records under the node root),
 * and the pseudo networks host and none. Creating a network sets up its bridge and, for
 * a user network, its embedded DNS server; the packet filter follows every change
 * (iptables.ts). Which containers sit on a network, and with which address, is the
 * endpoints' business (endpoints.ts); this file only asks it.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rm } from 'node:fs/promises';
import { networkInterfaces } from 'node:os';
import type { Logger } from 'pino';
import type { NodeLayout } from '../layout.js';
import { writeDurable } from '../containers/container.js';
import { badParameter, conflict, EngineError, notFound } from '../daemon/errors.js';
import { AddressPool, gatewayOf, intToIp, IpamError, ipToInt, overlaps, parseSubnet, subnetText, type Subnet } from './ipam.js';
import { ensureBridge, deleteLink } from '../native/netlink.js';
import { DnsServer, type Lookup } from './dns.js';
import type { NetworkRecord } from './types.js';

export interface NetworkOptions {
  /** the default bridge's interface (dockerd --bridge; default wharf0) */
  bridge: string;
  /** its gateway address and prefix (dockerd --bip), e.g. 10.87.0.1/16 */
  bip: string;
  /** where user networks get their subnets (dockerd --default-address-pool) */
  pool: { base: string; size: number };
}

export const DEFAULT_BRIDGE = 'wharf0';
export const DEFAULT_BIP = '10.87.0.1/16';
export const DEFAULT_POOL = { base: '10.88.0.0/16', size: 24 };

export interface CreateNetworkBody {
  Name?: string;
  Driver?: string;
  Internal?: boolean;
  Attachable?: boolean;
  EnableIPv6?: boolean;
  IPAM?: { Driver?: string; Config?: Array<{ Subnet?: string; Gateway?: string; IPRange?: string }> | null; Options?: Record<string, string> | null } | null;
  Options?: Record<string, string> | null;
  Labels?: Record<string, string> | null;
  CheckDuplicate?: boolean;
}

const NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;
export const PSEUDO_NETWORKS = ['host', 'none'] as const;

/** "10.87.0.1/16" -> the subnet and the gateway. */
export function parseBip(bip: string): { subnet: Subnet; gateway: string } {
  const m = /^([\d.]+)\/(\d{1,2})$/.exec(bip);
  if (!m) throw new IpamError(`invalid --bip ${bip}: expected a.b.c.d/n (the bridge's address)`);
  const prefix = Number(m[2]);
  const ip = ipToInt(m[1]!);
  const base = (ip & (prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0)) >>> 0;
  const subnet = parseSubnet(`${intToIp(base)}/${prefix}`);
  return { subnet, gateway: gatewayOf(subnet, m[1]) };
}

export class NetworkStore {
  private byId = new Map<string, NetworkRecord>();
  readonly pools = new Map<string, AddressPool>();
  private dns = new Map<string, DnsServer>();
  private mutation: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly layout: NodeLayout,
    private readonly o: NetworkOptions,
    private readonly log: Logger,
    private readonly lookupOn: (networkId: string) => Lookup,
    private readonly upstreams: () => string[],
  ) {}

  /** Reads the records, makes (or updates) the default bridge, sets up every bridge and DNS server. */
  async load(): Promise<void> {
    await mkdir(this.layout.networksDir, { recursive: true, mode: 0o700 });
    for (const f of await readdir(this.layout.networksDir)) {
      if (!/^[0-9a-f]{64}\.json$/.test(f)) continue;
      try {
        const rec = JSON.parse(await readFile(`${this.layout.networksDir}/${f}`, 'utf8')) as NetworkRecord;
        this.byId.set(rec.Id, rec);
      } catch (e) {
        this.log.warn({ err: e, file: f }, 'unreadable network record skipped');
      }
    }
    const { subnet, gateway } = parseBip(this.o.bip);
    let def = [...this.byId.values()].find((n) => n.isDefault);
    const want = { bridge: this.o.bridge, Subnet: subnetText(subnet), Gateway: gateway };
    if (!def || def.bridge !== want.bridge || def.IPAM.Config[0]?.Subnet !== want.Subnet || def.IPAM.Config[0]?.Gateway !== want.Gateway) {
      def = {
        ...this.newRecord('bridge', def?.Id),
        IPAM: { Driver: 'default', Options: null, Config: [{ Subnet: want.Subnet, Gateway: want.Gateway }] },
        Options: {
          'com.docker.network.bridge.default_bridge': 'true',
          'com.docker.network.bridge.enable_icc': 'true',
          'com.docker.network.bridge.enable_ip_masquerade': 'true',
          'com.docker.network.bridge.name': want.bridge,
        },
        bridge: want.bridge,
        isDefault: true,
      };
      await writeDurable(this.layout.networkRecordPath(def.Id), def);
      this.byId.set(def.Id, def);
    }
    for (const n of this.byId.values()) await this.bringUp(n);
  }

  private newRecord(name: string, id = randomBytes(32).toString('hex')): NetworkRecord {
    return {
      Id: id,
      Name: name,
      Created: new Date().toISOString(),
      Scope: 'local',
      Driver: 'bridge',
      EnableIPv6: false,
      IPAM: { Driver: 'default', Options: null, Config: [] },
      Internal: false,
      Attachable: false,
      Options: {},
      Labels: {},
      bridge: `wh-${id.slice(0, 12)}`,
      icc: true,
      isDefault: false,
    };
  }

  private async bringUp(n: NetworkRecord): Promise<void> {
    const cfg = n.IPAM.Config[0]!;
    const subnet = parseSubnet(cfg.Subnet);
    ensureBridge(n.bridge, cfg.Gateway, subnet.prefix);
    if (!this.pools.has(n.Id)) this.pools.set(n.Id, new AddressPool(subnet, cfg.Gateway));
    if (!n.isDefault && !this.dns.has(n.Id)) {
      const dns = new DnsServer(cfg.Gateway, this.lookupOn(n.Id), this.upstreams);
      try {
        await dns.start();
        this.dns.set(n.Id, dns);
      } catch (e) {
        this.log.error({ err: e, network: n.Name }, 'the embedded DNS server of the network cannot listen');
      }
    }
  }

  all(): NetworkRecord[] {
    return [...this.byId.values()];
  }

  get default(): NetworkRecord {
    return [...this.byId.values()].find((n) => n.isDefault)!;
  }

  /** By full id, name, or unique id prefix (moby's FindNetwork order). */
  find(ref: string): NetworkRecord {
    const n = this.tryFind(ref);
    if (!n) throw notFound(`network ${ref} not found`);
    return n;
  }

  tryFind(ref: string): NetworkRecord | undefined {
    const exact = this.byId.get(ref);
    if (exact) return exact;
    const byName = [...this.byId.values()].find((n) => n.Name === ref);
    if (byName) return byName;
    if (/^[0-9a-f]+$/.test(ref)) {
      const hits = [...this.byId.values()].filter((n) => n.Id.startsWith(ref));
      if (hits.length === 1) return hits[0];
      if (hits.length > 1) throw badParameter(`network ${ref} is ambiguous (${hits.length} matches found based on ID prefix)`);
    }
    return undefined;
  }

  private serial<T>(f: () => Promise<T>): Promise<T> {
    const next = this.mutation.then(f, f);
    this.mutation = next.catch(() => undefined);
    return next;
  }

  create(body: CreateNetworkBody): Promise<NetworkRecord> {
    return this.serial(async () => {
      if (typeof body !== 'object' || body === null || Array.isArray(body)) throw badParameter('the network create body must be a JSON object');
      const name = body.Name;
      if (typeof name !== 'string' || name === '') throw badParameter('network name is required');
      if (!NAME.test(name)) throw badParameter(`invalid network name "${name}": only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`);
      if ((PSEUDO_NETWORKS as readonly string[]).includes(name) || name === 'bridge' || name === 'default') throw new EngineError('forbidden', `${name} is a pre-defined network and cannot be created`);
      if ([...this.byId.values()].some((n) => n.Name === name)) throw conflict(`network with name ${name} already exists`);
      const driver = body.Driver || 'bridge';
      if (driver !== 'bridge') throw badParameter(`the ${driver} driver is not supported on this node: use bridge`);
      if (body.EnableIPv6) throw badParameter('IPv6 networks are not supported on this node');
      const opts = body.Options ?? {};
      for (const [k, v] of Object.entries(opts)) {
        if (typeof v !== 'string') throw badParameter(`option ${k} must be a string`);
      }
      const icc = opts['com.docker.network.bridge.enable_icc'];
      if (icc !== undefined && !['true', 'false'].includes(icc)) throw badParameter(`invalid value for com.docker.network.bridge.enable_icc: ${icc} (true or false)`);
      const configs = body.IPAM?.Config ?? [];
      if (configs.length > 1) throw badParameter('only one IPAM config (one IPv4 subnet) per network on this node');
      let subnet: Subnet;
      let gateway: string;
      try {
        const c = configs[0];
        if (c?.Gateway && !c.Subnet) throw new IpamError('a gateway needs a subnet (--subnet)');
        subnet = c?.Subnet ? parseSubnet(c.Subnet) : this.freeSubnet();
        gateway = gatewayOf(subnet, c?.Gateway || undefined);
      } catch (e) {
        if (e instanceof IpamError) throw badParameter(e.message);
        throw e;
      }
      const clash = this.overlapping(subnet);
      if (clash) throw new EngineError('forbidden', `Pool overlaps with other one on this address space (${clash})`);
      const rec: NetworkRecord = {
        ...this.newRecord(name),
        IPAM: { Driver: 'default', Options: body.IPAM?.Options ?? null, Config: [{ Subnet: subnetText(subnet), Gateway: gateway }] },
        Internal: body.Internal === true,
        Attachable: body.Attachable === true,
        Options: { ...opts },
        Labels: { ...(body.Labels ?? {}) },
        icc: icc !== 'false',
      };
      const custom = opts['com.docker.network.bridge.name'];
      if (custom !== undefined) {
        if (!/^[A-Za-z0-9_.-]{1,15}$/.test(custom)) throw badParameter(`invalid bridge name ${custom}`);
        rec.bridge = custom;
      }
      await writeDurable(this.layout.networkRecordPath(rec.Id), rec);
      this.byId.set(rec.Id, rec);
      try {
        await this.bringUp(rec);
      } catch (e) {
        await this.forget(rec);
        throw new EngineError('system', `setting up network ${name}: ${(e as Error).message}`, { cause: e });
      }
      return rec;
    });
  }

  /** The subnet in use (ours or on a host interface) that overlaps, if any. */
  private overlapping(s: Subnet): string | undefined {
    for (const n of this.byId.values()) {
      const cfg = n.IPAM.Config[0];
      if (cfg && overlaps(parseSubnet(cfg.Subnet), s)) return `${n.Name} ${cfg.Subnet}`;
    }
    for (const [ifname, addrs] of Object.entries(networkInterfaces())) {
      for (const a of addrs ?? []) {
        if (a.family !== 'IPv4' || a.internal) continue;
        const [, p] = (a.cidr ?? `${a.address}/32`).split('/');
        const prefix = Number(p);
        const base = (ipToInt(a.address) & (prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0)) >>> 0;
        if (overlaps({ base, prefix }, s)) return `${ifname} ${a.cidr}`;
      }
    }
    return undefined;
  }

  /** The first subnet of the pool that overlaps nothing (dockerd's default address pools). */
  private freeSubnet(): Subnet {
    const base = parseSubnet(this.o.pool.base);
    const size = this.o.pool.size;
    const count = 2 ** (size - base.prefix);
    for (let i = 0; i < count; i++) {
      const s = { base: (base.base + i * 2 ** (32 - size)) >>> 0, prefix: size };
      if (!this.overlapping(s)) return s;
    }
    throw new IpamError('could not find an available, non-overlapping IPv4 address pool among the defaults to assign to the network');
  }

  remove(n: NetworkRecord): Promise<void> {
    return this.serial(async () => {
      if (n.isDefault) throw new EngineError('forbidden', `bridge is a pre-defined network and cannot be removed`);
      await this.forget(n);
    });
  }

  private async forget(n: NetworkRecord): Promise<void> {
    this.dns.get(n.Id)?.close();
    this.dns.delete(n.Id);
    this.pools.delete(n.Id);
    this.byId.delete(n.Id);
    try {
      deleteLink(n.bridge);
    } catch (e) {
      this.log.warn({ err: e, bridge: n.bridge }, 'cannot delete the bridge');
    }
    await rm(this.layout.networkRecordPath(n.Id), { force: true });
  }

  close(): void {
    for (const d of this.dns.values()) d.close();
    this.dns.clear();
  }
}
