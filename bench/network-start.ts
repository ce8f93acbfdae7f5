/**
 * What bridge networking adds to a container start, in one run:
 *
 *   API -> wharf, none     create, start, wait, delete of /true over the daemon's socket,
 *                          --network none (a new, empty namespace)
 *   API -> wharf, bridge   the same on the default bridge: netns file, veth pair, address,
 *                          route, /etc files, and at the exit the namespace let go
 *   (the two interleaved, run by run, so that the machine's load hits both alike)
 *
 * and the endpoint setup alone, the two ways the issue asked to compare:
 *
 *   netlink (addon)        createNetns + attachVeth (runtime/native/netlink.ts): no process
 *   ip (iproute2)          `ip netns add`, `ip link add ... netns`, `ip link set master up`,
 *                          `ip -n addr add`, `ip -n link set up` x2, `ip -n route add`
 *
 * Usage: as root, after a build: node dist/bench/network-start.js [--runs 30]
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir, loadavg } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { buildImage, buildLayer, compileStatic, pushImage } from '../spec-tests/support/images.js';
import { startTestWharf } from '../spec-tests/support/wharf.js';
import { runCommand, startTestDaemon, WHARF_BIN } from '../spec-tests/support/daemon.js';
import { attachVeth, createNetns, deleteLink, ensureBridge, removeNetns } from '../runtime/native/netlink.js';
import { removeRunNetworks, runNetworks } from '../spec-tests/support/networks.js';

const execFileP = promisify(execFile);
const argv = process.argv.slice(2);
const RUNS = argv.includes('--runs') ? Number(argv[argv.indexOf('--runs') + 1]) : 30;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

function line(name: string, xs: number[]): void {
  process.stdout.write(`  ${name.padEnd(22)} median ${median(xs).toFixed(2).padStart(7)} ms   min ${Math.min(...xs).toFixed(2)}   max ${Math.max(...xs).toFixed(2)}\n`);
}

function api(socket: string, method: string, path: string, body?: object): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const data = body ? JSON.stringify(body) : undefined;
    const req = request({ socketPath: socket, method, path, headers: data ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) } : {} }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
    });
    req.on('error', reject);
    req.end(data);
  });
}

async function startOnce(socket: string, ref: string, network: string): Promise<number> {
  const t0 = process.hrtime.bigint();
  const c = await api(socket, 'POST', '/v1.41/containers/create', { Image: ref, Cmd: ['/true'], HostConfig: { NetworkMode: network } });
  if (c.status !== 201) throw new Error(`create: ${c.status} ${c.body}`);
  const id = (JSON.parse(c.body) as { Id: string }).Id;
  const wait = api(socket, 'POST', `/v1.41/containers/${id}/wait?condition=next-exit`);
  await new Promise((res) => setTimeout(res, 0));
  const s = await api(socket, 'POST', `/v1.41/containers/${id}/start`);
  if (s.status !== 204) throw new Error(`start: ${s.status} ${s.body}`);
  await wait;
  await api(socket, 'DELETE', `/v1.41/containers/${id}`);
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

async function endpointSetup(): Promise<void> {
  const n = runNetworks();
  const [gw, prefix] = n.bip.split('/') as [string, string];
  const base = gw.split('.').slice(0, 3).join('.');
  ensureBridge(n.bridge, gw, Number(prefix));
  const dir = await mkdtemp(join(tmpdir(), 'wharf-bench-netns-'));
  const viaNetlink: number[] = [];
  const viaIp: number[] = [];
  try {
    for (let i = 0; i < RUNS + 1; i++) {
      const ip = `${base}.${10 + (i % 200)}`;
      let t0 = process.hrtime.bigint();
      const ns = join(dir, `ns${i}`);
      createNetns(ns);
      attachVeth({ host: `wb${process.pid % 100000}n${i % 100}`, peer: 'eth0', netns: ns, bridge: n.bridge, ip, prefix: Number(prefix), gateway: gw, mac: Buffer.from([2, 0x42, 10, 0, 0, i % 250]), isolated: false });
      const tNetlink = Number(process.hrtime.bigint() - t0) / 1e6;
      removeNetns(ns);
      deleteLink(`wb${process.pid % 100000}n${i % 100}`);

      const name = `wb${process.pid % 100000}i${i % 100}`;
      const nsName = `wharf-bench-${process.pid}-${i}`;
      t0 = process.hrtime.bigint();
      await execFileP('ip', ['netns', 'add', nsName]);
      await execFileP('ip', ['link', 'add', name, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', nsName]);
      await execFileP('ip', ['link', 'set', name, 'master', n.bridge, 'up']);
      await execFileP('ip', ['-n', nsName, 'addr', 'add', `${ip}/${prefix}`, 'dev', 'eth0']);
      await execFileP('ip', ['-n', nsName, 'link', 'set', 'eth0', 'up']);
      await execFileP('ip', ['-n', nsName, 'link', 'set', 'lo', 'up']);
      await execFileP('ip', ['-n', nsName, 'route', 'add', 'default', 'via', gw]);
      const tIp = Number(process.hrtime.bigint() - t0) / 1e6;
      await execFileP('ip', ['netns', 'del', nsName]);
      await execFileP('ip', ['link', 'del', name]).catch(() => undefined);
      if (i > 0) {
        viaNetlink.push(tNetlink);
        viaIp.push(tIp);
      }
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
    await removeRunNetworks(n);
  }
  process.stdout.write(`endpoint setup (netns + veth + address + route), ${RUNS} runs:\n`);
  line('netlink (addon)', viaNetlink);
  line('ip (iproute2)', viaIp);
  process.stdout.write(`  ip / netlink  ${(median(viaIp) / median(viaNetlink)).toFixed(1)}x\n`);
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('the network-start bench needs root');
  process.stdout.write(`load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}\n`);
  await endpointSetup();
  const registry = await startTestWharf();
  const daemon = await startTestDaemon({ registry: registry.hostPort });
  try {
    const trueBin = await readFile(await compileStatic('int main(void) { return 0; }\n', 'true'));
    const image = buildImage([await buildLayer([{ type: 'file', path: 'true', content: trueBin, mode: 0o755 }])], { Cmd: ['/true'] });
    await pushImage(registry.url, 'bench/true', 'net', image);
    const ref = `${registry.hostPort}/bench/true:net`;
    const pulled = await runCommand(process.execPath, [WHARF_BIN, 'pull', '--root', daemon.root, ref]);
    if (pulled.code !== 0) throw new Error(pulled.stderr);
    await startOnce(daemon.socket, ref, 'none');
    await startOnce(daemon.socket, ref, 'bridge');
    const none: number[] = [];
    const bridge: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      none.push(await startOnce(daemon.socket, ref, 'none'));
      bridge.push(await startOnce(daemon.socket, ref, 'bridge'));
    }
    process.stdout.write(`daemon start of /true (create, start, wait, delete), ${RUNS} runs each, interleaved:\n`);
    line('API -> wharf, none', none);
    line('API -> wharf, bridge', bridge);
    process.stdout.write(`  bridge - none  ${(median(bridge) - median(none)).toFixed(2)} ms on the median (goal <= 10 ms)\n`);
    // The daemon's own account of the bridge setup of each start (netns, veth, address,
    // route, /etc files), from its debug log: the part of a start that networking adds.
    const ready = (await daemon.log())
      .split('\n')
      .filter((l) => l.includes('"network ready"'))
      .map((l) => (JSON.parse(l) as { ms: number }).ms)
      .slice(-RUNS);
    line('network setup (daemon)', ready);
    process.stdout.write(`load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}\n`);
  } finally {
    await daemon.stop('SIGTERM');
    await rm(daemon.dir, { recursive: true, force: true });
    await registry.destroy();
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`${(e as Error).stack ?? String(e)}\n`);
  process.exit(1);
});
