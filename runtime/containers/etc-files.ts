/**
 * The container's /etc/hosts, /etc/hostname and /etc/resolv.conf, written per container
 * under the node root (NodeLayout decides where) and bind-mounted over the image's, as
 * Docker does (libnetwork's etchosts and resolvconf):
 *
 *   hosts        Docker's default entries, then --link and --add-host, then the container's
 *                hostname on its bridge address (on loopback with --network none); with
 *                --network host, the host's /etc/hosts plus --add-host
 *   hostname     the container's hostname
 *   resolv.conf  the host's, without loopback nameservers (unreachable from the container's
 *                network namespace; Google's when none is left, like Docker); with --dns,
 *                --dns-search or --dns-option, rebuilt from those (the host's for the rest);
 *                with --network host, the host's as is
 */
import { BlockList, isIP } from 'node:net';
import { readFileSync, writeFileSync } from 'node:fs';
import type { NodeLayout } from '../layout.js';

export interface ExtraHost {
  name: string;
  ip: string;
}

export interface DnsFlags {
  /** --dns: nameserver addresses */
  servers: string[];
  /** --dns-search: search domains ('.' alone: none) */
  search: string[];
  /** --dns-option: options entries (ndots:2, rotate, ...) */
  options: string[];
}

export interface EtcFilesPlan {
  hostname: string;
  /** host: the host's network, so its files as they are */
  hostNetwork: boolean;
  dns: DnsFlags;
  addHosts: ExtraHost[];
  /** the host's files, as read (missing: '') */
  hostResolvConf: string;
  hostHosts: string;
  /** the container's address on its first network (bridge networking): its hostname's line */
  address?: string;
}

/** A bind mount for the helper: a file of the node root over a path of the container. */
export interface EtcBind {
  source: string;
  target: string;
  readonly: boolean;
}

const DEFAULT_HOSTS = [
  ['127.0.0.1', 'localhost'],
  ['::1', 'localhost ip6-localhost ip6-loopback'],
  ['fe00::0', 'ip6-localnet'],
  ['ff00::0', 'ip6-mcastprefix'],
  ['ff02::1', 'ip6-allnodes'],
  ['ff02::2', 'ip6-allrouters'],
] as const;

/** libnetwork's defaults when the host has no nameserver the container can reach. */
const FALLBACK_NAMESERVERS = ['8.8.8.8', '8.8.4.4'];

export function hostsFile(plan: EtcFilesPlan): string {
  const extra = plan.addHosts.map((h) => `${h.ip}\t${h.name}\n`).join('');
  if (plan.hostNetwork) {
    const host = plan.hostHosts === '' || plan.hostHosts.endsWith('\n') ? plan.hostHosts : `${plan.hostHosts}\n`;
    return host + extra;
  }
  const defaults = DEFAULT_HOSTS.map(([ip, names]) => `${ip}\t${names}\n`).join('');
  return `${defaults}${extra}${plan.address ?? '127.0.0.1'}\t${plan.hostname}\n`;
}

const LOOPBACK = new BlockList();
LOOPBACK.addSubnet('127.0.0.0', 8, 'ipv4');
LOOPBACK.addAddress('::1', 'ipv6');
LOOPBACK.addSubnet('::ffff:127.0.0.0', 104, 'ipv6');

function isLoopback(ip: string): boolean {
  const bare = ip.replace(/%.*$/, ''); // fe80::1%eth0
  const family = isIP(bare);
  return family !== 0 && LOOPBACK.check(bare, family === 4 ? 'ipv4' : 'ipv6');
}

interface ParsedResolv {
  nameservers: string[];
  search: string[];
  options: string[];
}

function parseResolvConf(text: string): ParsedResolv {
  const out: ParsedResolv = { nameservers: [], search: [], options: [] };
  for (const line of text.split('\n')) {
    const [key, ...values] = line.trim().split(/\s+/);
    if (key === 'nameserver' && values[0]) out.nameservers.push(values[0]);
    // resolv.conf(5): the last search (or domain) line wins.
    else if (key === 'search' || key === 'domain') out.search = values;
    else if (key === 'options') out.options.push(...values);
  }
  return out;
}

export function resolvConfFile(plan: EtcFilesPlan): string {
  if (plan.hostNetwork && plan.dns.servers.length + plan.dns.search.length + plan.dns.options.length === 0) return plan.hostResolvConf;
  const { dns } = plan;
  if (dns.servers.length + dns.search.length + dns.options.length === 0) {
    // Docker's FilterResolvDNS: the host's file, loopback nameserver lines dropped.
    const kept = plan.hostResolvConf
      .split('\n')
      .filter((line) => {
        const [key, value] = line.trim().split(/\s+/);
        return !(key === 'nameserver' && value !== undefined && isLoopback(value));
      })
      .join('\n');
    let text = kept === '' || kept.endsWith('\n') ? kept : `${kept}\n`;
    if (parseResolvConf(text).nameservers.length === 0) text += FALLBACK_NAMESERVERS.map((ns) => `nameserver ${ns}\n`).join('');
    return text;
  }
  // Docker's resolvconf.Build: what was given, the host's for the rest.
  const host = parseResolvConf(plan.hostResolvConf);
  let servers = dns.servers.length > 0 ? dns.servers : host.nameservers.filter((ns) => !isLoopback(ns));
  if (servers.length === 0) servers = FALLBACK_NAMESERVERS;
  const search = dns.search.length > 0 ? (dns.search.length === 1 && dns.search[0] === '.' ? [] : dns.search) : host.search;
  const options = dns.options.length > 0 ? dns.options : host.options;
  let text = '';
  if (search.length > 0) text += `search ${search.join(' ')}\n`;
  for (const ns of servers) text += `nameserver ${ns}\n`;
  if (options.length > 0) text += `options ${options.join(' ')}\n`;
  return text;
}

/** Reads a host file the plan copies; a missing one is empty (a host without resolv.conf). */
/* The host's /etc files and the container's three are a few hundred bytes each: read and
 * written synchronously, cheaper on this thread than a libuv pool round trip per file. */
export async function readHostFile(path: string): Promise<string> {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

/**
 * Writes the three files into the container's directory and returns their binds (read-only
 * with --read-only, as Docker mounts them).
 */
export async function writeEtcFiles(layout: NodeLayout, id: string, plan: EtcFilesPlan, readonly: boolean): Promise<EtcBind[]> {
  const files: [string, string, string][] = [
    [layout.hostsPath(id), '/etc/hosts', hostsFile(plan)],
    [layout.hostnamePath(id), '/etc/hostname', `${plan.hostname}\n`],
    [layout.resolvConfPath(id), '/etc/resolv.conf', resolvConfFile(plan)],
  ];
  for (const [source, , text] of files) writeFileSync(source, text, { mode: 0o644 });
  return files.map(([source, target]) => ({ source, target, readonly }));
}

/** `--add-host name:ip` (an IPv6 address keeps its colons: the name ends at the first one). */
export function parseAddHost(s: string): ExtraHost | undefined {
  const i = s.indexOf(':');
  if (i <= 0) return undefined;
  const name = s.slice(0, i);
  const ip = s.slice(i + 1).replace(/^\[(.*)\]$/, '$1');
  if (!/^[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?$/.test(name) || isIP(ip) === 0) return undefined;
  return { name, ip };
}
