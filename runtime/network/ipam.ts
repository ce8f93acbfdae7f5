/**
 * IPv4 address management of a bridge network (libnetwork's default IPAM, in small):
 * a subnet, its gateway (the first address unless given), and the addresses in use. An
 * address is handed out once at a time; allocation walks on from the last one handed
 * out (so a released address is not reused at once: peers' ARP caches forget it first),
 * wrapping around. The leases live in the container records (their NetworkSettings), so
 * the pool is rebuilt from them when the daemon starts.
 */
export class IpamError extends Error {
  override name = 'IpamError';
}

export interface Subnet {
  /** network address as an unsigned 32-bit number */
  base: number;
  prefix: number;
}

export function ipToInt(ip: string): number {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(ip);
  if (!m) throw new IpamError(`invalid IPv4 address: ${ip}`);
  const parts = m.slice(1).map(Number);
  if (parts.some((p) => p > 255)) throw new IpamError(`invalid IPv4 address: ${ip}`);
  return ((parts[0]! << 24) | (parts[1]! << 16) | (parts[2]! << 8) | parts[3]!) >>> 0;
}

export function intToIp(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

const mask = (prefix: number): number => (prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0);

/** "10.88.0.0/16" -> Subnet; refuses host bits set, as Docker does ("invalid subnet"). */
export function parseSubnet(cidr: string): Subnet {
  const m = /^([\d.]+)\/(\d{1,2})$/.exec(cidr);
  if (!m) throw new IpamError(`invalid subnet ${cidr}: expected a.b.c.d/n`);
  const prefix = Number(m[2]);
  if (prefix < 8 || prefix > 30) throw new IpamError(`invalid subnet ${cidr}: the prefix length must be 8..30`);
  const ip = ipToInt(m[1]!);
  if ((ip & ~mask(prefix)) >>> 0 !== 0) throw new IpamError(`invalid subnet ${cidr}: host bits are set (use ${intToIp((ip & mask(prefix)) >>> 0)}/${prefix})`);
  return { base: ip, prefix };
}

export const subnetText = (s: Subnet): string => `${intToIp(s.base)}/${s.prefix}`;

export function contains(s: Subnet, ip: number): boolean {
  return (ip & mask(s.prefix)) >>> 0 === s.base;
}

export function overlaps(a: Subnet, b: Subnet): boolean {
  const p = Math.min(a.prefix, b.prefix);
  return (a.base & mask(p)) >>> 0 === (b.base & mask(p)) >>> 0;
}

/** The gateway: given (inside the subnet, not its network or broadcast address) or the first address. */
export function gatewayOf(s: Subnet, given?: string): string {
  if (!given) return intToIp(s.base + 1);
  const g = ipToInt(given);
  const last = (s.base | ~mask(s.prefix)) >>> 0;
  if (!contains(s, g) || g === s.base || g === last) throw new IpamError(`gateway ${given} is not a usable address of ${subnetText(s)}`);
  return given;
}

export class AddressPool {
  private readonly used = new Map<number, string>();
  private cursor: number;
  private readonly first: number;
  private readonly last: number;
  private readonly gateway: number;

  constructor(
    readonly subnet: Subnet,
    gateway: string,
  ) {
    this.first = subnet.base + 1;
    this.last = ((subnet.base | ~mask(subnet.prefix)) >>> 0) - 1;
    this.gateway = ipToInt(gateway);
    this.cursor = this.first - 1;
  }

  /** Marks an address as held by `owner` (a lease read back from a record). */
  claim(ip: string, owner: string): void {
    const n = ipToInt(ip);
    const holder = this.used.get(n);
    if (holder !== undefined && holder !== owner) throw new IpamError(`address ${ip} is already in use`);
    if (!contains(this.subnet, n) || n < this.first || n > this.last || n === this.gateway) throw new IpamError(`address ${ip} is not usable in ${subnetText(this.subnet)}`);
    this.used.set(n, owner);
  }

  /** The next free address after the last one handed out; `wanted` when given and free. */
  allocate(owner: string, wanted?: string): string {
    if (wanted) {
      this.claim(wanted, owner);
      return wanted;
    }
    const size = this.last - this.first + 1;
    for (let i = 0; i < size; i++) {
      const n = this.cursor + 1 + i > this.last ? this.cursor + 1 + i - size : this.cursor + 1 + i;
      if (n === this.gateway || this.used.has(n)) continue;
      this.used.set(n, owner);
      this.cursor = n;
      return intToIp(n);
    }
    throw new IpamError(`no address left in ${subnetText(this.subnet)}`);
  }

  release(ip: string, owner: string): void {
    const n = ipToInt(ip);
    if (this.used.get(n) === owner) this.used.delete(n);
  }

  leases(): Array<{ ip: string; owner: string }> {
    return [...this.used].map(([n, owner]) => ({ ip: intToIp(n), owner }));
  }
}

/** Docker's MAC for an address: 02:42 and the four bytes of the IPv4 address. */
export function macOf(ip: string): Buffer {
  const n = ipToInt(ip);
  return Buffer.from([0x02, 0x42, n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255]);
}

export const macText = (mac: Buffer): string => [...mac].map((b) => b.toString(16).padStart(2, '0')).join(':');
