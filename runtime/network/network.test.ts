/** The pure parts of the network room: IPAM, port specs, the rendered rules, DNS answers (over a real UDP socket). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { AddressPool, gatewayOf, IpamError, macOf, macText, overlaps, parseSubnet } from './ipam.js';
import { checkPortBindings, mergeBindings, parsePublish, PortSpecError } from './ports.js';
import { chainNames, renderRules } from './iptables.js';
import { DnsServer, parseQuestion } from './dns.js';

test('IPAM: subnets, gateways, one address at a time, no immediate reuse', () => {
  assert.throws(() => parseSubnet('10.1.2.3/24'), IpamError);
  assert.throws(() => parseSubnet('10.1.2.0/31'), IpamError);
  const s = parseSubnet('10.9.0.0/29');
  assert.equal(gatewayOf(s), '10.9.0.1');
  assert.equal(gatewayOf(s, '10.9.0.6'), '10.9.0.6');
  assert.throws(() => gatewayOf(s, '10.9.0.7'), IpamError);
  assert.ok(overlaps(parseSubnet('10.9.0.0/16'), s));
  assert.ok(!overlaps(parseSubnet('10.10.0.0/16'), s));
  const pool = new AddressPool(s, '10.9.0.1');
  const got = ['a', 'b', 'c', 'd', 'e'].map((o) => pool.allocate(o));
  assert.deepEqual(got, ['10.9.0.2', '10.9.0.3', '10.9.0.4', '10.9.0.5', '10.9.0.6']);
  assert.throws(() => pool.allocate('f'), /no address left/);
  pool.release('10.9.0.3', 'b');
  pool.release('10.9.0.4', 'not-the-owner');
  assert.equal(pool.allocate('f'), '10.9.0.3');
  assert.throws(() => pool.claim('10.9.0.2', 'g'), /already in use/);
  pool.claim('10.9.0.2', 'a');
  assert.equal(macText(macOf('10.9.0.2')), '02:42:0a:09:00:02');
});

test('-p specs as the docker CLI parses them, and PortBindings checked', () => {
  assert.deepEqual(parsePublish('127.0.0.1:8080:80'), { '80/tcp': [{ HostIp: '127.0.0.1', HostPort: '8080' }] });
  assert.deepEqual(parsePublish('127.0.0.1::53/udp'), { '53/udp': [{ HostIp: '127.0.0.1', HostPort: '' }] });
  assert.deepEqual(parsePublish('80'), { '80/tcp': [{ HostIp: '', HostPort: '' }] });
  assert.deepEqual(parsePublish('8000-8001:80-81'), { '80/tcp': [{ HostIp: '', HostPort: '8000' }], '81/tcp': [{ HostIp: '', HostPort: '8001' }] });
  assert.deepEqual(Object.keys(mergeBindings(['1:2', '3:4/udp'])), ['2/tcp', '4/udp']);
  for (const bad of ['0:80', '80:99999', 'x:80', '1.2.3:80:80', '80/sctp', '8000-8002:80-81']) assert.throws(() => parsePublish(bad), PortSpecError, bad);
  assert.throws(() => checkPortBindings({ '80/tcp': [{ HostPort: '70000' }] }), PortSpecError);
  assert.deepEqual(checkPortBindings({ 80: [{ HostIp: '0.0.0.0', HostPort: '81' }] }), { '80/tcp': [{ HostIp: '0.0.0.0', HostPort: '81' }] });
});

test('rules: MASQUERADE for non-internal networks, DNAT per port, isolation and icc drops before accepts', () => {
  const c = chainNames('wt1');
  assert.deepEqual(c, { dnat: 'WHARF-DNAT-wt1', post: 'WHARF-POST-wt1', fwd: 'WHARF-FWD-wt1' });
  const { nat, filter } = renderRules(c, {
    networks: [
      { bridge: 'b1', subnet: '10.1.0.0/24', internal: false, icc: true },
      { bridge: 'b2', subnet: '10.2.0.0/24', internal: true, icc: false },
    ],
    ports: [{ proto: 'tcp', hostIp: '127.0.0.1', hostPort: 8080, bridge: 'b1', ip: '10.1.0.2', port: 80 }],
  });
  assert.ok(nat.includes('-A WHARF-POST-wt1 -s 10.1.0.0/24 ! -o b1 -j MASQUERADE'));
  assert.ok(!nat.some((l) => l.includes('10.2.0.0/24')), 'an internal network is not masqueraded');
  assert.ok(nat.includes('-A WHARF-DNAT-wt1 -d 127.0.0.1/32 ! -i b1 -p tcp -m tcp --dport 8080 -j DNAT --to-destination 10.1.0.2:80'));
  const drop = filter.indexOf('-A WHARF-FWD-wt1 -i b1 -o b2 -j DROP');
  const icc = filter.indexOf('-A WHARF-FWD-wt1 -i b2 -o b2 -j DROP');
  const accept = filter.indexOf('-A WHARF-FWD-wt1 -i b1 -o b1 -j ACCEPT');
  assert.ok(drop > 0 && icc > 0 && accept > icc && accept > drop);
  assert.ok(filter.includes('-A WHARF-FWD-wt1 -i b2 ! -o b2 -j DROP'));
});

test('the embedded DNS answers its names and forwards the rest to the upstream', async () => {
  // An upstream on 127.0.0.1 that answers every query with its id only (a marker).
  const upstream = createSocket('udp4');
  upstream.on('message', (m, from) => upstream.send(Buffer.concat([m.subarray(0, 2), Buffer.from([0x81, 0x80, 0, 0, 0, 0, 0, 0, 0, 0])]), from.port, from.address));
  await new Promise<void>((r) => upstream.bind(0, '127.0.0.1', () => r()));
  const server = new DnsServer('127.0.0.1', (n) => (n === 'web' ? ['10.1.0.5'] : undefined), () => [{ address: '127.0.0.1', port: (upstream.address() as { port: number }).port }], 0);
  await server.start();
  const query = (name: string, type = 1) => {
    const labels = Buffer.concat([...name.split('.').map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l)])), Buffer.from([0])]);
    return Buffer.concat([Buffer.from([0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]), labels, Buffer.from([0, type, 0, 1])]);
  };
  const ask = (msg: Buffer) =>
    new Promise<Buffer>((resolve) => {
      const s = createSocket('udp4');
      s.on('message', (b) => {
        s.close();
        resolve(b);
      });
      s.send(msg, server.boundPort, '127.0.0.1');
    });
  assert.equal(parseQuestion(query('Web'))?.name, 'web');
  const a = await ask(query('WEB'));
  assert.equal(a.readUInt16BE(6), 1, 'one answer');
  assert.deepEqual([...a.subarray(a.length - 4)], [10, 1, 0, 5]);
  const aaaa = await ask(query('web', 28));
  assert.equal(aaaa.readUInt16BE(6), 0);
  assert.equal(aaaa.readUInt16BE(2) & 0xf, 0, 'NOERROR');
  const forwarded = await ask(query('example.invalid'));
  assert.equal(forwarded.readUInt16BE(0), 0x1234);
  assert.equal(forwarded.length, 12, "the upstream's answer, relayed as it came");
  server.close();
  upstream.close();
});
