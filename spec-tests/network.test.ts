/**
 * Networks of `wharf daemon`, driven by the real docker CLI (and `wharf`): the default
 * bridge (veth, address, route, MASQUERADE rule), user-defined networks whose containers
 * find each other by name through the embedded DNS while another network cannot reach
 * them, published ports (-p, -P) that curl on the host reaches on 127.0.0.1, --network
 * container:, --link, icc=false, nothing left after rm -f, and a published port that
 * answers again after the daemon was SIGKILLed and restarted. Traffic goes only to
 * 127.0.0.1 and to addresses inside the namespaces the daemon made; NAT towards the
 * outside is checked as rules, never used. Bridge names, subnets and chains are the run's.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { buildImage, pushImage } from './support/images.js';
import { busyboxLayer } from './support/run-node.js';
import { startTestWharf, type TestWharf } from './support/wharf.js';
import { requireCommand } from './support/peers.js';
import { runCommand, startTestDaemon, WHARF_BIN, type TestDaemon } from './support/daemon.js';
import { chainRules, freePort, linkExists, removeRunNetworks, type RunNetworks } from './support/networks.js';

const APPLETS = ['sh', 'nc', 'httpd', 'ip', 'cat', 'echo', 'sleep', 'hostname', 'nslookup', 'true', 'mkdir', 'grep'];

let registry: TestWharf;
let daemon: TestDaemon;
let nets: RunNetworks;
let IMG = '';
const userNetworks: string[] = [];

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until<T>(what: string, f: () => Promise<T | undefined | false>, ms = 10_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

async function ok(args: string[]): Promise<string> {
  const r = await daemon.docker(args);
  assert.equal(r.code, 0, `docker ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
  return r.stdout;
}

const wharf = (args: string[]) => runCommand(process.execPath, [WHARF_BIN, ...args], { env: { ...process.env, WHARF_HOST: daemon.host } });
const inspect = async (ref: string, format: string) => (await ok(['inspect', '--format', format, ref])).trim();
const ipOf = (ref: string, net = 'bridge') => inspect(ref, `{{(index .NetworkSettings.Networks "${net}").IPAddress}}`);

async function networkCreate(args: string[]): Promise<string> {
  const name = args[args.length - 1]!;
  const id = (await ok(['network', 'create', ...args])).trim();
  userNetworks.push(name);
  return id;
}

/** A TCP server in a container: every connection gets `hello from <name>`. */
async function server(name: string, args: string[]): Promise<void> {
  await ok(['run', '-d', '--name', name, ...args, IMG, 'nc', '-ll', '-p', '7000', '-e', 'echo', `hello from ${name}`]);
}

before(async () => {
  await requireCommand('docker', 'docker.io');
  await requireCommand('busybox', 'busybox-static');
  await requireCommand('curl', 'curl');
  await requireCommand('iptables', 'iptables');
  registry = await startTestWharf();
  const layer = await busyboxLayer(APPLETS, [
    { type: 'dir', path: 'etc' },
    { type: 'file', path: 'etc/passwd', content: 'root:x:0:0:root:/root:/bin/sh\n' },
    { type: 'dir', path: 'www' },
    { type: 'file', path: 'www/index.html', content: 'served from the container\n' },
    { type: 'dir', path: 'tmp', mode: 0o1777 },
  ]);
  await pushImage(registry.url, 'net/busybox', '1', buildImage([layer], { Cmd: ['httpd', '-f', '-p', '80', '-h', '/www'], Env: ['PATH=/bin'], ExposedPorts: { '80/tcp': {} } }));
  IMG = `${registry.hostPort}/net/busybox:1`;
  daemon = await startTestDaemon({ registry: registry.hostPort });
  nets = daemon.networks;
  const r = await runCommand(process.execPath, [WHARF_BIN, 'pull', '--root', daemon.root, IMG]);
  assert.equal(r.code, 0, r.stderr);
});

after(async () => {
  if (daemon) {
    const ids = (await daemon.docker(['ps', '-aq'])).stdout.split('\n').filter(Boolean);
    if (ids.length > 0) await daemon.docker(['rm', '-f', ...ids]);
    for (const n of userNetworks) await daemon.docker(['network', 'rm', n]);
    await daemon.destroy();
  }
  if (nets) await removeRunNetworks(nets);
  await registry?.destroy();
});

describe('networks of wharf daemon', () => {
  test('the default bridge: eth0 with an address of --bip, the default route, MASQUERADE and forwarding rules', async () => {
    const out = await ok(['run', '--rm', IMG, 'sh', '-c', 'ip -4 -o addr show eth0; ip route']);
    const prefix = nets.subnet.split('.').slice(0, 3).join('.');
    assert.match(out, new RegExp(`eth0\\s+inet ${prefix.replace(/\./g, '\\.')}\\.\\d+/24`));
    assert.match(out, new RegExp(`default via ${prefix.replace(/\./g, '\\.')}\\.1 dev eth0`));
    assert.equal((await ok(['run', '--rm', '--network', 'none', IMG, 'sh', '-c', 'ls /sys/class/net'])).trim().split(/\s+/).sort().join(' '), 'lo');
    assert.match(await chainRules('nat', nets.chains.post), new RegExp(`-A ${nets.chains.post} -s ${nets.subnet.replace(/\./g, '\\.')} ! -o ${nets.bridge} -j MASQUERADE`));
    assert.match(await chainRules('nat', 'POSTROUTING'), new RegExp(`-j ${nets.chains.post}$`, 'm'));
    assert.match(await chainRules('filter', 'FORWARD'), new RegExp(`-j ${nets.chains.fwd}$`, 'm'));
    assert.equal(readFileSyncTrim('/proc/sys/net/ipv4/ip_forward'), '1');
    // The host reaches a container on its bridge address (inside the namespace the daemon made).
    await ok(['run', '-d', '--name', 'web0', IMG]);
    const ip = await ipOf('web0');
    assert.equal(await until('httpd', () => runCommand('curl', ['-s', '--max-time', '2', `http://${ip}/`]).then((r) => r.code === 0 && r.stdout)), 'served from the container\n');
    assert.equal(await inspect('web0', '{{.NetworkSettings.Networks.bridge.Gateway}}'), nets.bip.split('/')[0]);
    await ok(['rm', '-f', 'web0']);
  });

  test('--hostname, --dns, --dns-search and --add-host write the /etc files; the hostname names the bridge address', async () => {
    const out = await ok(['run', '--rm', '--hostname', 'hh', '--dns', '10.1.1.1', '--dns-search', 'example.test', '--add-host', 'foo:10.2.2.2', IMG, 'sh', '-c', 'hostname; cat /etc/resolv.conf; cat /etc/hosts; ip -4 -o addr show eth0']);
    assert.match(out, /^hh$/m);
    assert.match(out, /^nameserver 10\.1\.1\.1$/m);
    assert.match(out, /^search example\.test$/m);
    assert.match(out, /^10\.2\.2\.2\tfoo$/m);
    const ip = /inet ([\d.]+)\//.exec(out)?.[1];
    assert.ok(ip, out);
    assert.match(out, new RegExp(`^${ip.replace(/\./g, '\\.')}\\thh$`, 'm'));
  });

  test('a user network: containers reach each other by name and alias over TCP; another network reaches neither name nor address', async () => {
    await networkCreate(['--subnet', '10.' + nets.pool.split('.')[1] + '.200.0/24', '--gateway', '10.' + nets.pool.split('.')[1] + '.200.254', 'front']);
    await networkCreate(['back']);
    assert.equal(await ok(['network', 'inspect', '--format', '{{(index .IPAM.Config 0).Gateway}}', 'front']), `10.${nets.pool.split('.')[1]}.200.254\n`);
    await server('alpha', ['--network', 'front', '--network-alias', 'svc']);
    const aIp = await ipOf('alpha', 'front');
    assert.match(aIp, new RegExp(`^10\\.${nets.pool.split('.')[1]}\\.200\\.\\d+$`));
    assert.equal(await ok(['run', '--rm', '--network', 'front', IMG, 'nc', '-w', '3', 'alpha', '7000']), 'hello from alpha\n');
    assert.equal(await ok(['run', '--rm', '--network', 'front', IMG, 'nc', '-w', '3', 'svc', '7000']), 'hello from alpha\n');
    const other = await daemon.docker(['run', '--rm', '--network', 'back', IMG, 'sh', '-c', `nc -w 2 alpha 7000; echo name=$?; nc -w 2 ${aIp} 7000; echo ip=$?`]);
    assert.equal(other.code, 0, other.stderr);
    assert.doesNotMatch(other.stdout, /hello/);
    assert.match(other.stdout, /name=[1-9]/);
    assert.match(other.stdout, /ip=[1-9]/);
    // The network's DNS server is named in resolv.conf; inspect lists the endpoint.
    assert.equal(await ok(['run', '--rm', '--network', 'front', IMG, 'cat', '/etc/resolv.conf']).then((t) => /^nameserver (\S+)$/m.exec(t)?.[1]), `10.${nets.pool.split('.')[1]}.200.254`);
    assert.match(await ok(['network', 'inspect', '--format', '{{range .Containers}}{{.Name}} {{.IPv4Address}}{{end}}', 'front']), new RegExp(`^alpha ${aIp.replace(/\./g, '\\.')}/24$`, 'm'));
    assert.match(await ok(['network', 'ls', '--format', '{{.Name}} {{.Driver}}']), /^front bridge$/m);
  });

  test('--network container:a shares a\'s namespace: its address, and a\'s server on 127.0.0.1', async () => {
    const aIp = await ipOf('alpha', 'front');
    const out = await ok(['run', '--rm', '--network', 'container:alpha', IMG, 'sh', '-c', 'ip -4 -o addr show eth0; nc -w 3 127.0.0.1 7000']);
    assert.match(out, new RegExp(`inet ${aIp.replace(/\./g, '\\.')}/24`));
    assert.match(out, /^hello from alpha$/m);
  });

  test('--link name:alias on the default bridge: /etc/hosts names the linked container, and it answers', async () => {
    await server('linked', []);
    const ip = await ipOf('linked');
    const out = await ok(['run', '--rm', '--link', 'linked:db', IMG, 'sh', '-c', 'grep -w db /etc/hosts; nc -w 3 db 7000']);
    assert.match(out, new RegExp(`^${ip.replace(/\./g, '\\.')}\\s+db [0-9a-f]{12} linked$`, 'm'));
    assert.match(out, /^hello from linked$/m);
  });

  test('icc=false: two containers of the network cannot talk; each still resolves the other', async () => {
    await networkCreate(['-o', 'com.docker.network.bridge.enable_icc=false', 'closed']);
    await server('c1', ['--network', 'closed']);
    const ip = await ipOf('c1', 'closed');
    const r = await daemon.docker(['run', '--rm', '--network', 'closed', IMG, 'sh', '-c', `nslookup c1 | grep -c ${ip}; nc -w 2 ${ip} 7000; echo rc=$?`]);
    assert.equal(r.code, 0, r.stderr);
    assert.doesNotMatch(r.stdout, /hello/);
    assert.match(r.stdout, /rc=[1-9]/);
    assert.match(r.stdout, /^[1-9]/);
  });

  test('-p 127.0.0.1:PORT:80 and -P publish httpd to curl on the host; port, ps and inspect show them; DNAT rules exist', async () => {
    const port = await freePort();
    await ok(['run', '-d', '--name', 'pub', '-p', `127.0.0.1:${port}:80`, IMG]);
    assert.equal(await until('the published port', () => runCommand('curl', ['-s', '--max-time', '2', `http://127.0.0.1:${port}/`]).then((r) => r.code === 0 && r.stdout)), 'served from the container\n');
    assert.equal((await ok(['port', 'pub'])).trim(), `80/tcp -> 127.0.0.1:${port}`);
    assert.match(await ok(['ps', '--filter', 'name=pub', '--format', '{{.Ports}}']), new RegExp(`^127\\.0\\.0\\.1:${port}->80/tcp$`, 'm'));
    assert.equal(await inspect('pub', '{{json .HostConfig.PortBindings}}'), `{"80/tcp":[{"HostIp":"127.0.0.1","HostPort":"${port}"}]}`);
    const ip = await ipOf('pub');
    assert.match(await chainRules('nat', nets.chains.dnat), new RegExp(`-d 127\\.0\\.0\\.1/32 ! -i ${nets.bridge} -p tcp -m tcp --dport ${port} -j DNAT --to-destination ${ip.replace(/\./g, '\\.')}:80`));

    await ok(['run', '-d', '--name', 'all', '-P', IMG]);
    const mapped = (await ok(['port', 'all', '80/tcp'])).trim().split('\n')[0]!;
    const random = Number(/:(\d+)$/.exec(mapped)?.[1]);
    assert.ok(random > 0, mapped);
    assert.equal(await until('the -P port', () => runCommand('curl', ['-s', '--max-time', '2', `http://127.0.0.1:${random}/`]).then((r) => r.code === 0 && r.stdout)), 'served from the container\n');
  });

  test('after rm -f nothing remains: no veth, no DNAT rule, no lease, no proxy', async () => {
    const port = await freePort();
    const id = (await ok(['run', '-d', '--name', 'gone', '-p', `127.0.0.1:${port}:80`, IMG])).trim();
    const ip = await ipOf('gone');
    const ports = () => readdirSync(`/sys/class/net/${nets.bridge}/brif`);
    const before = ports();
    assert.ok(before.length > 0);
    await until('the published port', () => runCommand('curl', ['-s', '--max-time', '2', `http://127.0.0.1:${port}/`]).then((r) => r.code === 0));
    await ok(['rm', '-f', 'gone']);
    assert.doesNotMatch(await chainRules('nat', nets.chains.dnat), new RegExp(`--to-destination ${ip.replace(/\./g, '\\.')}:`));
    assert.doesNotMatch(await chainRules('filter', nets.chains.fwd), new RegExp(`-d ${ip.replace(/\./g, '\\.')}/32`));
    assert.doesNotMatch(await ok(['network', 'inspect', '--format', '{{range .Containers}}{{.IPv4Address}} {{end}}', 'bridge']), new RegExp(`${ip.replace(/\./g, '\\.')}/`));
    const curl = await runCommand('curl', ['-s', '--max-time', '2', `http://127.0.0.1:${port}/`]);
    assert.notEqual(curl.code, 0, 'the proxy still answers');
    // The kernel destroys the namespace, and the veth pair with it, once nothing holds it.
    await until('the veth to go', async () => ports().length === before.length - 1);
    assert.ok(!readdirSync(`${daemon.execRoot}/netns`).includes(id.slice(0, 32)), 'the namespace file is gone');
  });

  test('after the daemon is SIGKILLed and restarted, a running container\'s published port answers again', async () => {
    const port = await freePort();
    await ok(['run', '-d', '--name', 'survivor', '-p', `127.0.0.1:${port}:80`, IMG]);
    await until('the published port', () => runCommand('curl', ['-s', '--max-time', '2', `http://127.0.0.1:${port}/`]).then((r) => r.code === 0));
    await daemon.stop('SIGKILL');
    await daemon.start();
    assert.equal(await until('the port after the restart', () => runCommand('curl', ['-s', '--max-time', '2', `http://127.0.0.1:${port}/`]).then((r) => r.code === 0 && r.stdout)), 'served from the container\n');
    // Its lease is held again: a new container gets another address.
    const ip = await ipOf('survivor');
    const out = await ok(['run', '--rm', IMG, 'ip', '-4', '-o', 'addr', 'show', 'eth0']);
    assert.doesNotMatch(out, new RegExp(`inet ${ip.replace(/\./g, '\\.')}/`));
    await ok(['rm', '-f', 'survivor']);
  });

  test('wharf network create | ls | inspect | connect | disconnect | rm | prune, and wharf run -p', async () => {
    const c = await wharf(['network', 'create', '--internal', 'wnet']);
    assert.equal(c.code, 0, c.stderr);
    userNetworks.push('wnet');
    assert.match(c.stdout, /^[0-9a-f]{64}\n$/);
    assert.match((await wharf(['network', 'ls'])).stdout, /^[0-9a-f]{12}\s+wnet\s+bridge\s+local$/m);
    assert.equal(JSON.parse((await wharf(['network', 'inspect', 'wnet'])).stdout)[0].Internal, true);
    const port = await freePort();
    const run = await wharf(['run', '-d', '--name', 'wrun', '-p', `127.0.0.1:${port}:80`, IMG]);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(await until('wharf run -p', () => runCommand('curl', ['-s', '--max-time', '2', `http://127.0.0.1:${port}/`]).then((r) => r.code === 0 && r.stdout)), 'served from the container\n');
    assert.equal((await wharf(['port', 'wrun'])).stdout.trim(), `80/tcp -> 127.0.0.1:${port}`);
    assert.equal((await wharf(['network', 'connect', '--alias', 'w', 'wnet', 'wrun'])).code, 0);
    assert.match(await ipOf('wrun', 'wnet'), /^10\./);
    assert.equal((await wharf(['network', 'disconnect', 'wnet', 'wrun'])).code, 0);
    assert.match(await inspect('wrun', '{{index .NetworkSettings.Networks "wnet"}}'), /^<(nil|no value)>$/);
    for (const verb of ['create', 'ls', 'inspect', 'rm', 'connect', 'disconnect', 'prune']) {
      const h = await wharf(['network', verb, '--help']);
      assert.equal(h.code, 0, `${verb} --help`);
    }
    assert.equal((await wharf(['network', 'rm', 'wnet'])).code, 0);
    userNetworks.splice(userNetworks.indexOf('wnet'), 1);
    assert.equal((await wharf(['network', 'create', 'spare'])).code, 0);
    const prune = await wharf(['network', 'prune', '-f']);
    assert.match(prune.stdout, /^spare$/m);
    await ok(['rm', '-f', 'wrun']);
  });

  test('bad input gets Docker\'s errors in JSON', async () => {
    const bad = await daemon.api('POST', '/networks/create', { Name: 'x1', IPAM: { Config: [{ Subnet: '10.1.2.3/24' }] } });
    assert.equal(bad.status, 400);
    assert.match(JSON.parse(bad.body).message, /host bits/);
    const dup = await daemon.api('POST', '/networks/create', { Name: 'front' });
    assert.equal(dup.status, 409);
    assert.equal((await daemon.api('DELETE', '/networks/nope')).status, 404);
    assert.equal((await daemon.api('DELETE', '/networks/host')).status, 403);
    const inUse = await daemon.api('DELETE', '/networks/front');
    assert.equal(inUse.status, 403);
    assert.match(JSON.parse(inUse.body).message, /active endpoints/);
    const noNet = await daemon.docker(['run', '--rm', '--network', 'nosuchnet', IMG, 'true']);
    assert.notEqual(noNet.code, 0);
    assert.match(noNet.stderr, /network nosuchnet not found/);
    const badPort = await daemon.api('POST', '/containers/create', { Image: IMG, HostConfig: { PortBindings: { '80/tcp': [{ HostPort: '99999' }] } } });
    assert.equal(badPort.status, 400);
    assert.ok(linkExists(nets.bridge));
  });
});

function readFileSyncTrim(p: string): string {
  return readFileSync(p, 'utf8').trim();
}
