/**
 * The embedded DNS server of a user-defined network (Docker's answers at 127.0.0.11 inside
 * each container; ours listens on the network's gateway address, which every container of
 * the network reaches, and its resolv.conf names it). It answers A queries for the names
 * and aliases of the containers on the network (and their short ids), an empty NOERROR
 * for their other types (the network has no IPv6), and forwards everything else to the
 * host's resolvers, relaying their answer as it comes.
 */
import { createSocket, type Socket } from 'node:dgram';

export type Lookup = (name: string) => string[] | undefined;
/** an upstream resolver: its address (port 53), or an address and port */
export type Upstream = string | { address: string; port: number };

interface Question {
  name: string;
  type: number;
  /** offset just past the question */
  end: number;
}

const TYPE_A = 1;
const TTL = 600;

/** The first question of a query (names without compression, as resolvers send them). */
export function parseQuestion(msg: Buffer): Question | undefined {
  if (msg.length < 12 || msg.readUInt16BE(4) < 1) return undefined;
  let off = 12;
  const labels: string[] = [];
  for (;;) {
    if (off >= msg.length) return undefined;
    const len = msg[off]!;
    if (len === 0) break;
    if (len > 63 || off + 1 + len > msg.length) return undefined;
    labels.push(msg.toString('latin1', off + 1, off + 1 + len));
    off += 1 + len;
  }
  if (off + 5 > msg.length) return undefined;
  return { name: labels.join('.').toLowerCase(), type: msg.readUInt16BE(off + 1), end: off + 5 };
}

/** The answer to `query` with these A records (for other types: none, NOERROR). */
export function answer(query: Buffer, q: Question, ips: string[]): Buffer {
  const records = q.type === TYPE_A ? ips : [];
  const out = Buffer.alloc(q.end + records.length * 16);
  query.copy(out, 0, 0, q.end);
  const rd = query.readUInt16BE(2) & 0x0100;
  out.writeUInt16BE(0x8000 | 0x0400 | rd | 0x0080, 2); // QR, AA, RD as asked, RA; NOERROR
  out.writeUInt16BE(1, 4);
  out.writeUInt16BE(records.length, 6);
  out.writeUInt16BE(0, 8);
  out.writeUInt16BE(0, 10);
  let off = q.end;
  for (const ip of records) {
    out.writeUInt16BE(0xc00c, off); // the name: a pointer to the question's
    out.writeUInt16BE(TYPE_A, off + 2);
    out.writeUInt16BE(1, off + 4);
    out.writeUInt32BE(TTL, off + 6);
    out.writeUInt16BE(4, off + 10);
    ip.split('.').forEach((b, i) => (out[off + 12 + i] = Number(b)));
    off += 16;
  }
  return out;
}

/** SERVFAIL for a query nobody could answer. */
function servfail(query: Buffer): Buffer {
  const out = Buffer.from(query.subarray(0, Math.min(query.length, 512)));
  if (out.length >= 4) out.writeUInt16BE(0x8000 | (query.readUInt16BE(2) & 0x0100) | 0x0080 | 2, 2);
  return out;
}

export class DnsServer {
  private socket: Socket | undefined;

  constructor(
    private readonly address: string,
    private readonly lookup: Lookup,
    private readonly upstreams: () => Upstream[],
    private readonly port = 53,
  ) {}

  async start(): Promise<void> {
    const s = createSocket({ type: 'udp4', reuseAddr: true });
    s.on('message', (msg, from) => this.onQuery(msg, from.address, from.port));
    s.on('error', () => undefined);
    await new Promise<void>((resolve, reject) => {
      s.once('error', reject);
      s.bind(this.port, this.address, () => {
        s.off('error', reject);
        resolve();
      });
    });
    this.socket = s;
  }

  get boundPort(): number {
    return this.socket?.address().port ?? 0;
  }

  private onQuery(msg: Buffer, host: string, port: number): void {
    const q = parseQuestion(msg);
    if (!q) return;
    const ips = this.lookup(q.name.replace(/\.$/, ''));
    if (ips) return void this.socket?.send(answer(msg, q, ips), port, host);
    void this.forward(msg).then((reply) => this.socket?.send(reply, port, host));
  }

  /** Asks each upstream in turn (2 s each); SERVFAIL when none answers. */
  private async forward(msg: Buffer): Promise<Buffer> {
    for (const up of this.upstreams()) {
      const { address: ns, port } = typeof up === 'string' ? { address: up, port: 53 } : up;
      const reply = await new Promise<Buffer | undefined>((resolve) => {
        const s = createSocket(ns.includes(':') ? 'udp6' : 'udp4');
        const timer = setTimeout(() => done(undefined), 2000);
        const done = (b: Buffer | undefined) => {
          clearTimeout(timer);
          s.close();
          resolve(b);
        };
        s.on('error', () => done(undefined));
        s.on('message', (b) => {
          if (b.length >= 2 && b.readUInt16BE(0) === msg.readUInt16BE(0)) done(b);
        });
        s.send(msg, port, ns);
      });
      if (reply) return reply;
    }
    return servfail(msg);
  }

  close(): void {
    this.socket?.close();
    this.socket = undefined;
  }
}

/** The host's nameservers (from its resolv.conf text). */
export function nameserversOf(resolvConf: string): string[] {
  return resolvConf
    .split('\n')
    .map((l) => l.trim().split(/\s+/))
    .filter((w) => w[0] === 'nameserver' && w[1])
    .map((w) => w[1]!.replace(/%.*$/, ''));
}
