/** The container's /etc files as Docker's libnetwork writes them (spec-tests/isolation-etc compares with dockerd). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hostsFile, parseAddHost, resolvConfFile, type EtcFilesPlan } from './etc-files.js';

const plan = (over: Partial<EtcFilesPlan> = {}): EtcFilesPlan => ({
  hostname: 'box',
  hostNetwork: false,
  dns: { servers: [], search: [], options: [] },
  addHosts: [],
  hostResolvConf: '',
  hostHosts: '127.0.0.1 localhost\n',
  ...over,
});

test("hosts: Docker's entries, --add-host lines, then the hostname on loopback", () => {
  assert.equal(
    hostsFile(plan({ addHosts: [{ name: 'db', ip: '10.0.0.2' }] })),
    '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n10.0.0.2\tdb\n127.0.0.1\tbox\n',
  );
});

test("hosts with --network host: the host's file (a final newline added) and --add-host", () => {
  assert.equal(hostsFile(plan({ hostNetwork: true, hostHosts: '127.0.0.1 vm', addHosts: [{ name: 'db', ip: '::2' }] })), '127.0.0.1 vm\n::2\tdb\n');
});

test('resolv.conf: loopback nameservers dropped (127/8, ::1, mapped), the rest kept as is', () => {
  const host = '# generated\nnameserver 127.0.0.53\nnameserver ::1\nnameserver ::ffff:127.0.0.1\nnameserver 192.0.2.1\nsearch corp.example\noptions edns0\n';
  assert.equal(resolvConfFile(plan({ hostResolvConf: host })), '# generated\nnameserver 192.0.2.1\nsearch corp.example\noptions edns0\n');
});

test("resolv.conf: none left, Docker's fallback nameservers", () => {
  assert.equal(resolvConfFile(plan({ hostResolvConf: 'nameserver 127.0.0.53\nsearch lan\n' })), 'search lan\nnameserver 8.8.8.8\nnameserver 8.8.4.4\n');
  assert.equal(resolvConfFile(plan({ hostResolvConf: '' })), 'nameserver 8.8.8.8\nnameserver 8.8.4.4\n');
});

test("resolv.conf with --dns flags: what was given, the host's (filtered) for the rest; '.' clears the search", () => {
  const hostResolvConf = 'nameserver 127.0.0.53\nnameserver 192.0.2.1\nsearch lan\noptions ndots:1\n';
  assert.equal(resolvConfFile(plan({ hostResolvConf, dns: { servers: ['192.0.2.9'], search: [], options: [] } })), 'search lan\nnameserver 192.0.2.9\noptions ndots:1\n');
  assert.equal(resolvConfFile(plan({ hostResolvConf, dns: { servers: [], search: ['.'], options: ['rotate'] } })), 'nameserver 192.0.2.1\noptions rotate\n');
});

test("resolv.conf with --network host: the host's as is", () => {
  assert.equal(resolvConfFile(plan({ hostNetwork: true, hostResolvConf: 'nameserver 127.0.0.53\n' })), 'nameserver 127.0.0.53\n');
});

test('--add-host name:ip (IPv6 keeps its colons), bad ones refused', () => {
  assert.deepEqual(parseAddHost('db:10.0.0.2'), { name: 'db', ip: '10.0.0.2' });
  assert.deepEqual(parseAddHost('v6:fd00::1'), { name: 'v6', ip: 'fd00::1' });
  assert.deepEqual(parseAddHost('v6:[fd00::1]'), { name: 'v6', ip: 'fd00::1' });
  for (const bad of ['db', ':10.0.0.2', 'db:', 'db:host', 'bad name:10.0.0.1', 'db:10.0.0.2\n']) assert.equal(parseAddHost(bad), undefined, bad);
});
