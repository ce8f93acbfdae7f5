/**
 * The userland proxy of a published port (Docker's docker-proxy, inside the daemon): it
 * holds the host port, and carries what DNAT cannot, connections to the host's loopback
 * addresses, to the container. TCP: one connection to the container per client. UDP: one
 * socket towards the container per client address, dropped after a minute without
 * traffic. When the daemon dies the DNAT rules keep working; the daemon opens the proxies
 * again when it comes back (manager.ts restores the published ports of running containers).
 */
import { createServer, connect, type Server } from 'node:net';
import { createSocket, type Socket } from 'node:dgram';

export interface ProxyTarget {
  proto: 'tcp' | 'udp';
  hostIp: string;
  /** 0: any free port (read it back from `port` once listening) */
  hostPort: number;
  ip: string;
  port: number;
}

export class PortProxy {
  private server: Server | undefined;
  private udp: Socket | undefined;
  private clients = new Map<string, { socket: Socket; timer: NodeJS.Timeout }>();
  port = 0;

  constructor(readonly target: ProxyTarget) {}

  async open(): Promise<void> {
    const t = this.target;
    const host = t.hostIp === '' ? '0.0.0.0' : t.hostIp;
    if (t.proto === 'tcp') {
      const server = createServer((client) => {
        const upstream = connect({ host: t.ip, port: t.port });
        client.pipe(upstream).pipe(client);
        const end = () => {
          client.destroy();
          upstream.destroy();
        };
        client.on('error', end);
        upstream.on('error', end);
        client.on('close', end);
        upstream.on('close', end);
      });
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen({ host, port: t.hostPort, exclusive: true }, () => {
          server.off('error', reject);
          resolve();
        });
      });
      this.server = server;
      this.port = (server.address() as { port: number }).port;
      return;
    }
    const s = createSocket('udp4');
    s.on('message', (msg, from) => this.fromClient(msg, from.address, from.port));
    await new Promise<void>((resolve, reject) => {
      s.once('error', reject);
      s.bind(t.hostPort, host, () => {
        s.off('error', reject);
        resolve();
      });
    });
    s.on('error', () => undefined);
    this.udp = s;
    this.port = s.address().port;
  }

  private fromClient(msg: Buffer, address: string, port: number): void {
    const key = `${address}:${port}`;
    let c = this.clients.get(key);
    if (!c) {
      const socket = createSocket('udp4');
      socket.on('message', (reply) => this.udp?.send(reply, port, address));
      socket.on('error', () => undefined);
      c = { socket, timer: setTimeout(() => undefined, 0) };
      this.clients.set(key, c);
    }
    clearTimeout(c.timer);
    const entry = c;
    c.timer = setTimeout(() => {
      entry.socket.close();
      this.clients.delete(key);
    }, 60_000).unref();
    c.socket.send(msg, this.target.port, this.target.ip);
  }

  close(): void {
    this.server?.close();
    this.udp?.close();
    for (const c of this.clients.values()) {
      clearTimeout(c.timer);
      c.socket.close();
    }
    this.clients.clear();
    this.server = undefined;
    this.udp = undefined;
  }
}
