/**
 * Wharf over TLS with the real Docker engine: the test makes a CA and a server
 * certificate with openssl, serves HTTPS with http.tls.certificate/key, and installs the
 * CA where dockerd looks for it per request (/etc/docker/certs.d/<host:port>/ca.crt,
 * removed in cleanup).
 *
 * dockerd treats 127.0.0.0/8 as insecure: there it would skip verification and fall back
 * to plain HTTP. The server is HTTPS-only (plain HTTP gets no data, asserted below), so a
 * push to 127.0.0.1 can only have gone over TLS. Tests send traffic only to loopback, so
 * that certificate verification really happens is shown with skopeo, which verifies
 * loopback registries: without the CA its copy fails on the certificate, with it it works.
 */
import assert from 'node:assert/strict';
import { copyFile, mkdir, mkdtemp, readFile, rm, rmdir, writeFile } from 'node:fs/promises';
import { request as httpsRequest, Agent } from 'node:https';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { compileStatic } from './support/images.js';
import { ensureDockerd, execFileP, requireCommand, run } from './support/peers.js';
import { makeTestPki, type TestPki } from './support/tls.js';
import { runWharf } from './support/run-node.js';
import { startTestWharf, type TestWharf } from './support/wharf.js';

const HELLO_C = `
#include <stdio.h>
int main(void) { printf("hello over tls\\n"); return 0; }
`;
const MANIFEST_ACCEPT = 'application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json';

let work: string;
let sourceImage: string;
const tagged: string[] = [];
const installedCerts: string[] = [];

/** Put the CA where dockerd looks for registry `hostPort`; undone in cleanup. */
async function trustInDocker(hostPort: string, caCert: string): Promise<void> {
  const dir = join('/etc/docker/certs.d', hostPort);
  await mkdir(dir, { recursive: true });
  installedCerts.push(dir);
  await copyFile(caCert, join(dir, 'ca.crt'));
}

async function untrust(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
  await rmdir('/etc/docker/certs.d').catch(() => undefined); // only when no one else left a CA there
}

function tag(ref: string): string {
  tagged.push(ref);
  return ref;
}

/** GET over HTTPS trusting only `ca`; resolves status, headers, body and whether the socket was reused. */
function httpsGet(url: string, ca: Buffer, agent: Agent, headers: Record<string, string> = {}) {
  return new Promise<{ status: number; headers: Record<string, unknown>; body: string; reused: boolean }>((resolve, reject) => {
    const req = httpsRequest(url, { ca, agent, headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body, reused: req.reusedSocket }));
    });
    req.on('error', reject);
    req.end();
  });
}

async function pushPullRun(wharf: TestWharf, repo: string, ca: Buffer): Promise<void> {
  const ref = tag(`${wharf.hostPort}/${repo}:v1`);
  await run('docker', ['tag', sourceImage, ref]);
  const pushed = await run('docker', ['push', ref]);
  const digest = /digest: (sha256:[a-f0-9]{64})/.exec(pushed)?.[1];
  assert.ok(digest, pushed);
  const agent = new Agent({ keepAlive: false });
  const head = await httpsGet(`${wharf.url}/v2/${repo}/manifests/v1`, ca, agent, { accept: MANIFEST_ACCEPT });
  assert.equal(head.status, 200);
  assert.equal(head.headers['docker-content-digest'], digest);
  await run('docker', ['rmi', ref]);
  assert.match(await run('docker', ['pull', ref]), new RegExp(`Digest: ${digest}`));
  assert.equal(await run('docker', ['run', '--rm', '--network', 'none', ref]), 'hello over tls\n');
}

before(async () => {
  await ensureDockerd();
  await requireCommand('curl', 'curl');
  work = await mkdtemp(join(tmpdir(), 'wharf-e2e-tls-'));
  const buildDir = join(work, 'build');
  await mkdir(buildDir);
  await copyFile(await compileStatic(HELLO_C, 'hello'), join(buildDir, 'hello'));
  await writeFile(join(buildDir, 'Dockerfile'), 'FROM scratch\nCOPY hello /hello\nENTRYPOINT ["/hello"]\n');
  sourceImage = `wharf-e2e-tls-src:${process.pid}`;
  await run('docker', ['build', '-q', '-t', sourceImage, buildDir], { env: { DOCKER_BUILDKIT: '0' } });
});

after(async () => {
  for (const ref of [...tagged, sourceImage]) if (ref) await run('docker', ['rmi', '-f', ref]).catch(() => undefined);
  for (const dir of installedCerts) await untrust(dir);
  if (work) await rm(work, { recursive: true, force: true });
});

describe('HTTPS on 127.0.0.1', () => {
  let pki: TestPki;
  let wharf: TestWharf;
  let ca: Buffer;

  before(async () => {
    // ::ffff:127.0.0.1 is 127.0.0.1 (IPv4-mapped), a name wharf does not take for a loopback host: it asks over HTTPS.
    pki = await makeTestPki({ ips: ['127.0.0.1', '::ffff:127.0.0.1'] }, await mkdtemp(join(work, 'pki-')));
    ca = await readFile(pki.caCert);
    wharf = await startTestWharf({ env: { WHARF_HTTP_TLS_CERTIFICATE: pki.serverCert, WHARF_HTTP_TLS_KEY: pki.serverKey } });
    assert.match(wharf.url, /^https:\/\/127\.0\.0\.1:\d+$/);
  });
  after(() => wharf?.destroy());

  test('clients that trust the CA get the API; others refuse the certificate; connections are kept alive', async () => {
    assert.equal(await run('curl', ['-sS', '-f', '--cacert', pki.caCert, `${wharf.url}/v2/`]), '{}');
    await assert.rejects(run('curl', ['-sS', `${wharf.url}/v2/`]), /certificate|issuer/i);

    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const first = await httpsGet(`${wharf.url}/v2/`, ca, agent);
    assert.equal(first.status, 200);
    assert.equal(first.headers['docker-distribution-api-version'], 'registry/2.0');
    const second = await httpsGet(`${wharf.url}/v2/_catalog`, ca, agent);
    assert.equal(second.status, 200);
    assert.equal(second.reused, true, 'HTTP/1.1 keep-alive: the second request reuses the TLS connection');
    agent.destroy();
  });

  test('plain HTTP gets a TLS error, not data', async () => {
    const plain = `http://${wharf.hostPort}/v2/`;
    await assert.rejects(fetch(plain));
    await assert.rejects(execFileP('curl', ['-sS', '-o', '-', plain]), (e: { code?: number; stdout?: string }) => {
      // 52: empty reply, 56: connection reset. Never an HTTP answer.
      assert.ok(e.code === 52 || e.code === 56, `curl exit ${e.code}`);
      assert.equal(e.stdout, '');
      return true;
    });
    // Raw bytes: whatever comes back (a TLS alert or nothing) is not an HTTP response.
    const reply = await new Promise<Buffer>((resolve, reject) => {
      const chunks: Buffer[] = [];
      const socket = connect(wharf.port, '127.0.0.1', () => socket.write(`GET /v2/_catalog HTTP/1.1\r\nHost: ${wharf.hostPort}\r\n\r\n`));
      socket.setTimeout(10_000, () => socket.destroy(new Error('no answer and no close in 10 s')));
      socket.on('data', (d) => chunks.push(d));
      socket.on('error', (err) => ((err as NodeJS.ErrnoException).code === 'ECONNRESET' ? resolve(Buffer.concat(chunks)) : reject(err)));
      socket.on('close', () => resolve(Buffer.concat(chunks)));
    });
    assert.ok(!reply.toString('latin1').startsWith('HTTP/'), `plain HTTP got an HTTP answer: ${reply.toString('latin1').slice(0, 80)}`);
    assert.ok(!reply.includes('repositories'));
  });

  test('docker push, rmi, pull and run over HTTPS with the CA in /etc/docker/certs.d', async () => {
    await trustInDocker(wharf.hostPort, pki.caCert);
    await pushPullRun(wharf, 'tls/hello', ca);
    // The server speaks only TLS (previous test), so everything docker did went over HTTPS.
  });

  test('the wharf command pulls in its own process over HTTPS trusting the CA in NODE_EXTRA_CA_CERTS, though its node starts without it', async () => {
    // The bin's shebang starts node without the variable (bin/v8-flags.ts); the pull's client adds the bundle itself.
    const ref = `[::ffff:127.0.0.1]:${wharf.port}/tls/hello:v1`;
    const root = await mkdtemp(join(work, 'node-'));
    const pull = (env: NodeJS.ProcessEnv) => runWharf(['pull', '--root', root, ref], { env });
    const { NODE_EXTRA_CA_CERTS: _, WHARF_NODE_EXTRA_CA_CERTS: __, ...env } = process.env;
    const untrusted = await pull(env);
    assert.notEqual(untrusted.code, 0, 'without the CA the pull fails');
    assert.match(untrusted.stderr, /certificate/i);
    const trusted = await pull({ ...env, NODE_EXTRA_CA_CERTS: pki.caCert });
    assert.equal(trusted.code, 0, trusted.stderr);
    const images = await runWharf(['images', '--root', root], { env });
    assert.equal(images.code, 0, images.stderr);
    assert.match(images.stdout.toString(), /tls\/hello +v1 /, 'the image is in the node root');
  });
});

describe('CA verification on 127.0.0.1 (skopeo verifies loopback registries, unlike dockerd)', () => {
  let pki: TestPki;
  let wharf: TestWharf;

  before(async () => {
    await requireCommand('skopeo', 'skopeo');
    pki = await makeTestPki({ ips: ['127.0.0.1'] }, await mkdtemp(join(work, 'pki-')));
    wharf = await startTestWharf({ env: { WHARF_HTTP_TLS_CERTIFICATE: pki.serverCert, WHARF_HTTP_TLS_KEY: pki.serverKey } });
  });
  after(() => wharf?.destroy());

  test('without the CA the copy fails on the certificate and nothing arrives; with it, the image goes in and out', async () => {
    const dest = `docker://${wharf.hostPort}/tls/verified:v1`;
    await assert.rejects(run('skopeo', ['copy', `docker-daemon:${sourceImage}`, dest]), /x509|certificate/i);
    const ca = await readFile(pki.caCert);
    const catalog = await httpsGet(`${wharf.url}/v2/_catalog`, ca, new Agent());
    assert.deepEqual(JSON.parse(catalog.body), { repositories: [] }, 'nothing reached the registry');

    const certDir = await mkdtemp(join(work, 'certs-'));
    await copyFile(pki.caCert, join(certDir, 'ca.crt'));
    await run('skopeo', ['copy', '--dest-cert-dir', certDir, `docker-daemon:${sourceImage}`, dest]);
    const head = await httpsGet(`${wharf.url}/v2/tls/verified/manifests/v1`, ca, new Agent(), { accept: MANIFEST_ACCEPT });
    assert.equal(head.status, 200);
    const back = join(work, 'back');
    await run('skopeo', ['copy', '--src-cert-dir', certDir, dest, `oci:${back}:v1`]);
    const index = JSON.parse(await readFile(join(back, 'index.json'), 'utf8')) as { manifests: { digest: string }[] };
    assert.equal(index.manifests.length, 1);
  });
});
