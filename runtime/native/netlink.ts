/**
 * The typed face of the addon's rtnetlink requests (runtime/native/netlink.cc): what a
 * bridge network needs, without spawning `ip`. Validates its arguments; the native side
 * trusts them. Failures arrive as NetlinkError with the errno and the request.
 *
 *   createNetns(path)          a new network namespace held by a bind mount on `path`
 *   removeNetns(path)          its mount detached and the file removed (idempotent)
 *   ensureBridge(name, ip, p)  the bridge, created when missing, `ip/p` on it, up
 *   attachVeth(o)              veth pair: host end on the bridge, peer as eth0 in the netns
 *                              with its address, lo up, default route via the gateway
 *   deleteLink(name)           false when there was none
 */
import { closeSync, openSync, rmSync } from 'node:fs';
import { isIPv4 } from 'node:net';
import { native } from './spawn.js';

export class NetlinkError extends Error {
  override name = 'NetlinkError';
  constructor(
    message: string,
    readonly errno: number,
    readonly request: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

const IFNAME = /^[A-Za-z0-9_.-]{1,15}$/;

function wrap<T>(what: string, f: () => T): T {
  try {
    return f();
  } catch (e) {
    const err = e as Error & { errno?: number; syscall?: string };
    if (err.errno === undefined) throw e;
    throw new NetlinkError(`${what}: ${err.message}`, err.errno, err.syscall ?? '', { cause: e });
  }
}

function ifname(what: string, name: string): string {
  if (typeof name !== 'string' || !IFNAME.test(name)) throw new TypeError(`${what} must be an interface name (1-15 of [A-Za-z0-9_.-]): ${String(name)}`);
  return name;
}

function prefixLen(p: number): number {
  if (!Number.isInteger(p) || p < 1 || p > 30) throw new TypeError(`prefix length must be 1..30: ${p}`);
  return p;
}

function ipv4(what: string, ip: string): string {
  if (!isIPv4(ip)) throw new TypeError(`${what} must be an IPv4 address: ${ip}`);
  return ip;
}

export function createNetns(path: string): void {
  if (!path.startsWith('/')) throw new TypeError(`netns path must be absolute: ${path}`);
  closeSync(openSync(path, 'w', 0o444));
  try {
    wrap(`creating network namespace ${path}`, () => native().netnsCreate(path));
  } catch (e) {
    rmSync(path, { force: true });
    throw e;
  }
}

export function removeNetns(path: string): void {
  try {
    native().umount(path, native().umountFlags.detach);
  } catch {
    /* not mounted (already removed, or a reboot emptied the exec root) */
  }
  rmSync(path, { force: true });
}

export function ensureBridge(name: string, ip: string, prefix: number): void {
  wrap(`setting up bridge ${name}`, () => native().bridgeEnsure(ifname('bridge', name), ipv4('bridge address', ip), prefixLen(prefix)));
}

export interface VethOptions {
  /** the host end's name (on the bridge) */
  host: string;
  /** the name inside the namespace (eth0) */
  peer: string;
  netns: string;
  bridge: string;
  ip: string;
  prefix: number;
  /** '' for none (an internal network has no default route) */
  gateway: string;
  mac: Buffer;
  /** a bridge port isolated from the other isolated ports (icc=false) */
  isolated: boolean;
}

export function attachVeth(o: VethOptions): void {
  if (!(o.mac instanceof Buffer) || o.mac.length !== 6) throw new TypeError('mac must be 6 bytes');
  const args = {
    host: ifname('host', o.host),
    peer: ifname('peer', o.peer),
    netns: o.netns,
    bridge: ifname('bridge', o.bridge),
    ip: ipv4('ip', o.ip),
    prefix: prefixLen(o.prefix),
    gateway: o.gateway === '' ? '' : ipv4('gateway', o.gateway),
    mac: o.mac,
    isolated: o.isolated === true,
  };
  wrap(`attaching ${o.host} to ${o.bridge}`, () => native().vethAttach(args));
}

export function deleteLink(name: string): boolean {
  return wrap(`deleting link ${name}`, () => native().linkDelete(ifname('link', name)));
}
