/**
 * A container's place on the networks, for one run:
 *
 *   prepare(rec)   before the start: the network namespace (a file under the exec root),
 *                  one veth per network (eth0 with the default route, eth1 ...), an address
 *                  from each network's pool, the published ports (proxy + DNAT), the /etc
 *                  files (hosts with its address and --link entries, resolv.conf naming the
 *                  embedded DNS server on user networks). All through netlink: no process
 *                  is spawned unless ports are published (one iptables-restore).
 *   release(rec)   after the exit: proxies closed, rules gone, addresses back to the pools,
 *                  the namespace unmounted (the kernel then destroys it and the veth pair).
 *   restore(rec)   at daemon start, for a container still running: its leases claimed
 *                  again, its proxies opened again on the same host ports.
 *
 * The container records carry the leases (NetworkSettings), so they are the IPAM's
 * persistent state.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Logger } from 'pino';
import { netnsPath, type NodeLayout } from '../layout.js';
import type { ContainerRecord } from '../containers/container.js';
import { parseAddHost, readHostFile, writeEtcFiles, type DnsFlags, type EtcBind, type ExtraHost } from '../containers/etc-files.js';
import { badParameter, conflict, EngineError, notFound } from '../daemon/errors.js';
import { attachVeth, createNetns, deleteLink, removeNetns } from '../native/netlink.js';
import { macOf, macText, parseSubnet, IpamError } from './ipam.js';
import { Firewall, type FirewallState } from './iptables.js';
import { nameserversOf } from './dns.js';
import { NetworkStore, type NetworkOptions } from './networks.js';
import { checkPortBindings, parsePortKey, PortSpecError, type PortBindings } from './ports.js';
import { PortProxy } from './proxy.js';
import { emptyEndpoint, type EndpointSettings, type NetworkRecord, type PublishedPort } from './types.js';

export interface ContainerDirectory {
  /** a container by id, name or prefix (404 otherwise), with its host pid when it runs */
  find(ref: string): { rec: ContainerRecord; pid: number };
  all(): ContainerRecord[];
}

export interface NetworkPlan {
  NetworkMode: string;
  networks: Record<string, EndpointSettings>;
}

export interface Prepared {
  /** the namespace to join (absent: a new, empty one, or the host's) */
  netns?: string;
  binds: EtcBind[];
}

const isBridgeMode = (mode: string): boolean => !['host', 'none'].includes(mode) && !mode.startsWith('container:');
const vethName = (id: string, i: number): string => `wh${id.slice(0, 10)}${i.toString(36)}`;

export class NetworkManager {
  readonly store: NetworkStore;
  readonly firewall: Firewall;
  private active = new Map<string, ContainerRecord>();
  private proxies = new Map<string, PortProxy[]>();
  directory: ContainerDirectory | undefined;

  constructor(
    private readonly layout: NodeLayout,
    private readonly execRoot: string,
    o: NetworkOptions,
    private readonly log: Logger,
  ) {
    this.store = new NetworkStore(layout, o, log, (id) => (name) => this.lookup(id, name), () => this.hostNameservers);
    this.firewall = new Firewall(o.bridge === 'wharf0' ? '' : o.bridge);
  }

  private hostNameservers: string[] = [];

  async load(): Promise<void> {
    this.hostNameservers = nameserversOf(await readHostFile('/etc/resolv.conf'));
    await mkdir(dirname(netnsPath(this.execRoot, 'x')), { recursive: true, mode: 0o700 });
    await this.store.load();
  }

  /** Applies the packet filter for the networks and the published ports of the running containers. */
  syncFirewall(): Promise<void> {
    const state: FirewallState = {
      networks: this.store.all().map((n) => ({ bridge: n.bridge, subnet: n.IPAM.Config[0]!.Subnet, internal: n.Internal, icc: n.icc })),
      ports: [],
    };
    for (const rec of this.active.values()) {
      const ep = Object.values(rec.networks ?? {})[0];
      const net = ep && this.store.tryFind(ep.NetworkID);
      if (!ep || !net || !ep.IPAddress) continue;
      for (const p of rec.ports ?? []) state.ports.push({ proto: p.proto, hostIp: p.hostIp, hostPort: p.hostPort, bridge: net.bridge, ip: ep.IPAddress, port: p.containerPort });
    }
    return this.firewall.apply(state);
  }

  /* ---------- create: which networks a new container joins ---------- */

  planNetworks(mode: string, endpointsConfig: unknown, links: unknown): NetworkPlan {
    const networks: Record<string, EndpointSettings> = {};
    const cfg = (endpointsConfig ?? {}) as Record<string, { Aliases?: string[] | null; IPAMConfig?: { IPv4Address?: string } | null; Links?: string[] | null } | null>;
    if (typeof cfg !== 'object' || Array.isArray(cfg)) throw badParameter('NetworkingConfig.EndpointsConfig must be an object');
    if (links !== undefined && links !== null && (!Array.isArray(links) || !links.every((l) => typeof l === 'string'))) throw badParameter('Links must be an array of strings');
    const linkList = (links as string[] | null | undefined) ?? [];
    if (mode === 'host' || mode === 'none') {
      if (linkList.length > 0) throw badParameter('conflicting options: links and the host or none network');
      return { NetworkMode: mode, networks };
    }
    if (mode.startsWith('container:')) {
      const ref = mode.slice('container:'.length);
      if (!ref) throw badParameter('invalid network mode: container: needs a container name or id');
      const other = this.directory!.find(ref);
      if (linkList.length > 0) throw badParameter('conflicting options: links and the network of another container');
      return { NetworkMode: `container:${other.rec.id}`, networks };
    }
    const primary = mode === '' || mode === 'default' ? 'bridge' : mode;
    const nets = [primary, ...Object.keys(cfg).filter((k) => k !== primary && k !== mode && !(primary === 'bridge' && k === 'default'))];
    for (const ref of nets) {
      const net = ref === 'bridge' ? this.store.default : this.store.tryFind(ref);
      if (!net) throw notFound(`network ${ref} not found`);
      const e = cfg[ref] ?? cfg[net.Name] ?? (net.isDefault ? cfg.default : undefined) ?? null;
      const aliases = e?.Aliases ?? null;
      if (aliases !== null && (!Array.isArray(aliases) || !aliases.every((a) => typeof a === 'string' && /^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(a)))) throw badParameter('Aliases must be host names');
      if (aliases?.length && net.isDefault) throw badParameter('network-scoped alias is supported only for containers in user defined networks');
      const ip = e?.IPAMConfig?.IPv4Address;
      networks[net.Name] = emptyEndpoint(net.Id, aliases, null, ip || undefined);
    }
    if (linkList.length > 0) {
      if (!networks.bridge) throw badParameter('links are only supported on the default bridge network on this node');
      for (const l of linkList) this.parseLink(l);
      networks.bridge.Links = linkList;
    }
    return { NetworkMode: primary === 'bridge' ? 'bridge' : this.store.find(primary).Name, networks };
  }

  /** "name:alias", "name" or dockerd's "/name:/this/alias" -> [name, alias]. */
  private parseLink(l: string): [string, string] {
    const [a, b] = l.split(':');
    const name = (a ?? '').replace(/^\//, '');
    const alias = (b ?? name).replace(/^.*\//, '');
    if (!/^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/.test(name) || !/^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/.test(alias)) throw badParameter(`invalid link: ${l}`);
    return [name, alias];
  }

  /* ---------- one run ---------- */

  async prepare(rec: ContainerRecord): Promise<Prepared> {
    const hc = rec.hostConfig;
    const mode = hc.NetworkMode;
    const hostname = rec.config.Hostname || rec.id.slice(0, 12);
    const dns: DnsFlags = { servers: strings(hc.Dns), search: strings(hc.DnsSearch), options: strings(hc.DnsOptions) };
    const addHosts: ExtraHost[] = strings(hc.ExtraHosts).map((h) => parseAddHost(h)).filter((h): h is ExtraHost => h !== undefined);
    const [hostResolvConf, hostHosts] = await Promise.all([readHostFile('/etc/resolv.conf'), mode === 'host' ? readHostFile('/etc/hosts') : Promise.resolve('')]);
    const etc = (extra: { address?: string; dns?: DnsFlags; hosts?: ExtraHost[] }) =>
      writeEtcFiles(this.layout, rec.id, { hostname, hostNetwork: mode === 'host', dns: extra.dns ?? dns, addHosts: [...(extra.hosts ?? []), ...addHosts], hostResolvConf, hostHosts, ...(extra.address ? { address: extra.address } : {}) }, hc.ReadonlyRootfs);
    if (mode === 'host' || mode === 'none') return { binds: await etc({}) };
    if (mode.startsWith('container:')) {
      const other = this.directory!.find(mode.slice('container:'.length));
      if (other.pid <= 0 || other.rec.state.Status !== 'running') throw conflict(`cannot join network of a non running container: ${other.rec.id}`);
      const own = await etc({});
      // Docker: the other container's hosts and resolv.conf, its own hostname.
      return {
        netns: `/proc/${other.pid}/ns/net`,
        binds: own.map((b) => (b.target === '/etc/hosts' ? { ...b, source: this.layout.hostsPath(other.rec.id) } : b.target === '/etc/resolv.conf' ? { ...b, source: this.layout.resolvConfPath(other.rec.id) } : b)),
      };
    }
    const t0 = performance.now();
    const netns = netnsPath(this.execRoot, rec.id);
    removeNetns(netns);
    createNetns(netns);
    this.active.set(rec.id, rec);
    try {
      const entries = Object.entries(rec.networks ?? {});
      if (entries.length === 0) throw new EngineError('system', 'the container has no network to join');
      let first: { net: NetworkRecord; ep: EndpointSettings } | undefined;
      for (const [i, [, ep]] of entries.entries()) {
        const net = this.store.tryFind(ep.NetworkID);
        if (!net) throw notFound(`network ${ep.NetworkID} not found`);
        this.attach(rec.id, netns, net, ep, i);
        first ??= { net, ep };
      }
      const hosts: ExtraHost[] = [];
      for (const l of first?.ep.Links ?? []) {
        const [name, alias] = this.parseLink(l);
        const other = this.directory!.find(name);
        const ip = other.rec.networks?.bridge?.IPAddress;
        if (!ip || other.rec.state.Status !== 'running') throw badParameter(`cannot link to a non running container: /${name} AS /${rec.name}/${alias}`);
        // Docker's line: the alias, the short id, the name.
        hosts.push({ name: [...new Set([alias, other.rec.id.slice(0, 12), other.rec.name])].join(' '), ip });
      }
      await this.publish(rec);
      const userNet = first && !first.net.isDefault;
      const binds = await etc({ address: first!.ep.IPAddress, hosts, ...(userNet && dns.servers.length === 0 ? { dns: { ...dns, servers: [first!.ep.Gateway || first!.net.IPAM.Config[0]!.Gateway] } } : {}) });
      this.log.debug({ id: rec.id, ms: Number((performance.now() - t0).toFixed(3)) }, 'network ready');
      return { netns, binds };
    } catch (e) {
      await this.release(rec);
      throw e;
    }
  }

  private attach(id: string, netns: string, net: NetworkRecord, ep: EndpointSettings, i: number): void {
    const pool = this.store.pools.get(net.Id)!;
    const cfg = net.IPAM.Config[0]!;
    let ip: string;
    try {
      ip = pool.allocate(id, ep.IPAMConfig?.IPv4Address);
    } catch (e) {
      if (e instanceof IpamError) throw conflict(e.message);
      throw e;
    }
    const prefix = parseSubnet(cfg.Subnet).prefix;
    const mac = macOf(ip);
    const hostIf = vethName(id, i);
    try {
      attachVeth({ host: hostIf, peer: `eth${i}`, netns, bridge: net.bridge, ip, prefix, gateway: i === 0 && !net.Internal ? cfg.Gateway : '', mac, isolated: !net.icc });
    } catch (e) {
      pool.release(ip, id);
      throw new EngineError('system', `connecting to network ${net.Name}: ${(e as Error).message}`, { cause: e });
    }
    Object.assign(ep, { EndpointID: randomBytes(32).toString('hex'), Gateway: net.Internal ? '' : cfg.Gateway, IPAddress: ip, IPPrefixLen: prefix, MacAddress: macText(mac), ifname: `eth${i}`, hostIf });
  }

  /** The host ports of PortBindings (and, with PublishAllPorts, of every exposed port). */
  private async publish(rec: ContainerRecord, again = false): Promise<void> {
    let wanted: PublishedPort[];
    if (again) {
      wanted = rec.ports ?? [];
    } else {
      let bindings: PortBindings;
      try {
        bindings = checkPortBindings(rec.hostConfig.PortBindings);
      } catch (e) {
        if (e instanceof PortSpecError) throw badParameter(e.message);
        throw e;
      }
      if (rec.hostConfig.PublishAllPorts === true) {
        for (const key of Object.keys((rec.config.ExposedPorts as Record<string, unknown> | undefined) ?? {})) {
          const k = key.includes('/') ? key : `${key}/tcp`;
          if (!bindings[k]?.length) bindings[k] = [{ HostIp: '', HostPort: '' }];
        }
      }
      wanted = [];
      for (const [key, list] of Object.entries(bindings)) {
        const [port, proto] = parsePortKey(key);
        for (const b of list) wanted.push({ proto, containerPort: port, hostIp: b.HostIp === '0.0.0.0' ? '' : b.HostIp, hostPort: b.HostPort === '' ? 0 : Number(b.HostPort) });
      }
    }
    if (wanted.length === 0) return;
    const ip = Object.values(rec.networks ?? {})[0]!.IPAddress;
    const opened: PortProxy[] = [];
    this.proxies.set(rec.id, opened);
    const done: PublishedPort[] = [];
    for (const p of wanted) {
      const proxy = new PortProxy({ proto: p.proto, hostIp: p.hostIp, hostPort: p.hostPort, ip, port: p.containerPort });
      try {
        await proxy.open();
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        const msg = `driver failed programming external connectivity on endpoint ${rec.name}: Bind for ${p.hostIp || '0.0.0.0'}:${p.hostPort} failed: ${code === 'EADDRINUSE' ? 'port is already allocated' : (e as Error).message}`;
        if (again) {
          this.log.error({ err: e, id: rec.id }, msg);
          continue;
        }
        throw new EngineError('system', msg, { cause: e });
      }
      opened.push(proxy);
      done.push({ ...p, hostPort: proxy.port });
    }
    rec.ports = done;
    if (!again) await this.syncFirewall();
  }

  async release(rec: ContainerRecord): Promise<void> {
    const hadPorts = (rec.ports?.length ?? 0) > 0;
    for (const p of this.proxies.get(rec.id) ?? []) p.close();
    this.proxies.delete(rec.id);
    this.active.delete(rec.id);
    rec.ports = [];
    for (const ep of Object.values(rec.networks ?? {})) {
      if (ep.IPAddress) this.store.pools.get(ep.NetworkID)?.release(ep.IPAddress, rec.id);
      Object.assign(ep, { EndpointID: '', Gateway: '', IPAddress: '', IPPrefixLen: 0, MacAddress: '' });
      delete ep.ifname;
      delete ep.hostIf;
    }
    if (isBridgeMode(rec.hostConfig.NetworkMode)) removeNetns(netnsPath(this.execRoot, rec.id));
    if (hadPorts) await this.syncFirewall().catch((e: Error) => this.log.error({ err: e, id: rec.id }, 'removing the port rules failed'));
  }

  /** A container that kept running while the daemon was away: its leases and proxies back. */
  async restore(rec: ContainerRecord): Promise<void> {
    if (!isBridgeMode(rec.hostConfig.NetworkMode)) return;
    this.active.set(rec.id, rec);
    for (const ep of Object.values(rec.networks ?? {})) {
      if (!ep.IPAddress) continue;
      try {
        this.store.pools.get(ep.NetworkID)?.claim(ep.IPAddress, rec.id);
      } catch (e) {
        this.log.error({ err: e, id: rec.id }, 'the lease of a running container cannot be restored');
      }
    }
    await this.publish(rec, true);
  }

  /** Leftovers of a run that ended while the daemon was away (or a crash mid-start). */
  cleanup(rec: ContainerRecord): void {
    for (const ep of Object.values(rec.networks ?? {})) {
      if (ep.hostIf && existsSync(`/sys/class/net/${ep.hostIf}`)) {
        try {
          deleteLink(ep.hostIf);
        } catch {
          /* gone meanwhile */
        }
      }
    }
    if (isBridgeMode(rec.hostConfig.NetworkMode)) removeNetns(netnsPath(this.execRoot, rec.id));
  }

  /* ---------- connect, disconnect (docker network connect) ---------- */

  async connect(rec: ContainerRecord, running: boolean, net: NetworkRecord, aliases: string[] | null, ipv4?: string): Promise<void> {
    if (!isBridgeMode(rec.hostConfig.NetworkMode)) throw badParameter(`container sharing network namespace with another container or host cannot be connected to any other network`);
    if (rec.networks?.[net.Name]) throw new EngineError('forbidden', `endpoint with name ${rec.name} already exists in network ${net.Name}`);
    if (aliases?.length && net.isDefault) throw badParameter('network-scoped alias is supported only for containers in user defined networks');
    const ep = emptyEndpoint(net.Id, aliases, null, ipv4);
    if (running) {
      const i = Object.keys(rec.networks ?? {}).length;
      this.attach(rec.id, netnsPath(this.execRoot, rec.id), net, ep, i);
    }
    rec.networks = { ...(rec.networks ?? {}), [net.Name]: ep };
  }

  async disconnect(rec: ContainerRecord, net: NetworkRecord): Promise<void> {
    const ep = rec.networks?.[net.Name];
    if (!ep) throw new EngineError('forbidden', `container ${rec.id} is not connected to network ${net.Name}`);
    if (ep.hostIf) {
      try {
        deleteLink(ep.hostIf);
      } catch (e) {
        this.log.warn({ err: e }, 'deleting the veth failed');
      }
      this.store.pools.get(net.Id)?.release(ep.IPAddress, rec.id);
    }
    delete rec.networks![net.Name];
  }

  /* ---------- views ---------- */

  /** Containers with an address on the network (network inspect's Containers). */
  endpointsOn(networkId: string): Array<{ rec: ContainerRecord; ep: EndpointSettings }> {
    const out: Array<{ rec: ContainerRecord; ep: EndpointSettings }> = [];
    for (const rec of this.active.values()) {
      for (const ep of Object.values(rec.networks ?? {})) if (ep.NetworkID === networkId && ep.IPAddress) out.push({ rec, ep });
    }
    return out;
  }

  /** The embedded DNS: a container's name, aliases or short id on this network. */
  private lookup(networkId: string, name: string): string[] | undefined {
    const ips: string[] = [];
    for (const { rec, ep } of this.endpointsOn(networkId)) {
      const names = [rec.name, rec.id.slice(0, 12), ...(ep.Aliases ?? [])].map((n) => n.toLowerCase());
      if (names.includes(name)) ips.push(ep.IPAddress);
    }
    return ips.length > 0 ? ips : undefined;
  }

  close(): void {
    for (const list of this.proxies.values()) for (const p of list) p.close();
    this.proxies.clear();
    this.store.close();
  }
}

function strings(v: unknown): string[] {
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
}
