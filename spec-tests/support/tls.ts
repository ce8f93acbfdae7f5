/**
 * A throwaway PKI for the TLS tests, made with the openssl command line: a CA, and a
 * server certificate it signed for the given IP addresses and DNS names (as SANs).
 */
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { requireCommand, run } from './peers.js';

export interface TestPki {
  dir: string;
  /** PEM paths */
  caCert: string;
  serverCert: string;
  serverKey: string;
}

export async function makeTestPki(names: { ips?: string[]; dns?: string[] }, dir?: string): Promise<TestPki> {
  await requireCommand('openssl', 'openssl');
  const d = dir ?? (await mkdtemp(join(tmpdir(), 'wharf-tls-')));
  const p = (f: string) => join(d, f);
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  await run('openssl', [
    'req', '-x509', ...ec, '-days', '2', '-subj', '/CN=Wharf test CA', '-keyout', p('ca.key'), '-out', p('ca.crt'),
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
  ]);
  const sans = [...(names.ips ?? []).map((ip) => `IP:${ip}`), ...(names.dns ?? []).map((n) => `DNS:${n}`)];
  if (sans.length === 0) throw new Error('makeTestPki: name at least one IP or DNS name');
  const cn = names.ips?.[0] ?? names.dns![0]!;
  await run('openssl', ['req', ...ec, '-subj', `/CN=${cn}`, '-keyout', p('server.key'), '-out', p('server.csr')]);
  await writeFile(
    p('server.ext'),
    `basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=${sans.join(',')}\n`,
  );
  await run('openssl', [
    'x509', '-req', '-in', p('server.csr'), '-CA', p('ca.crt'), '-CAkey', p('ca.key'), '-CAcreateserial',
    '-days', '2', '-sha256', '-extfile', p('server.ext'), '-out', p('server.crt'),
  ]);
  return { dir: d, caCert: p('ca.crt'), serverCert: p('server.crt'), serverKey: p('server.key') };
}
