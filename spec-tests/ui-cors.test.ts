/**
 * CORS for third-party registry UIs (http.cors.origins): off by default; when on, the
 * preflight on /v2 and /v1 is answered with what such UIs need, and only the listed
 * origins are allowed.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { buildImage, buildLayer, pushImage } from './support/images.js';
import { startTestWharf, type TestWharf } from './support/wharf.js';

const UI = 'https://registry-ui.example.com';

describe('CORS off by default', () => {
  let wharf: TestWharf;
  before(async () => void (wharf = await startTestWharf()));
  after(async () => wharf?.destroy());

  test('no CORS headers, and OPTIONS is not an API method', async () => {
    const get = await fetch(`${wharf.url}/v2/`, { headers: { origin: UI } });
    assert.equal(get.headers.get('access-control-allow-origin'), null);
    const preflight = await fetch(`${wharf.url}/v2/_catalog`, { method: 'OPTIONS', headers: { origin: UI, 'access-control-request-method': 'GET' } });
    assert.equal(preflight.headers.get('access-control-allow-origin'), null);
    assert.equal(preflight.status, 405);
  });
});

describe('CORS with http.cors.origins', () => {
  let wharf: TestWharf;
  before(async () => {
    wharf = await startTestWharf({ configure: (c) => void (c.http.cors.origins = [UI]) });
    const image = buildImage([await buildLayer([{ type: 'file', path: 'x', content: 'x' }])]);
    await pushImage(wharf.url, 'cors/app', 'v1', image);
  });
  after(async () => wharf?.destroy());

  test('the preflight of a listed origin allows Authorization and Accept, on /v2 and /v1', async () => {
    for (const path of ['/v2/cors/app/manifests/v1', '/v1/search?q=app']) {
      const res = await fetch(`${wharf.url}${path}`, {
        method: 'OPTIONS',
        headers: { origin: UI, 'access-control-request-method': 'GET', 'access-control-request-headers': 'authorization, accept' },
      });
      assert.equal(res.status, 204, path);
      assert.equal(res.headers.get('access-control-allow-origin'), UI);
      assert.equal(res.headers.get('access-control-allow-credentials'), 'true');
      assert.match(res.headers.get('access-control-allow-headers') ?? '', /Authorization/);
      assert.match(res.headers.get('access-control-allow-headers') ?? '', /Accept/);
      assert.match(res.headers.get('access-control-allow-methods') ?? '', /DELETE/);
    }
  });

  test('responses expose Docker-Content-Digest to the listed origin', async () => {
    const res = await fetch(`${wharf.url}/v2/cors/app/manifests/v1`, { headers: { origin: UI, accept: 'application/vnd.oci.image.manifest.v1+json' } });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('access-control-allow-origin'), UI);
    assert.match(res.headers.get('access-control-expose-headers') ?? '', /Docker-Content-Digest/);
    assert.match(res.headers.get('access-control-expose-headers') ?? '', /WWW-Authenticate/);
  });

  test('another origin is not allowed', async () => {
    const res = await fetch(`${wharf.url}/v2/`, { headers: { origin: 'https://evil.example.net' } });
    assert.equal(res.headers.get('access-control-allow-origin'), null);
  });

  test('a bad origin in the config is refused at load', async () => {
    const { loadConfig, ConfigError } = await import('../config/config.js');
    const { writeFile, mkdtemp, rm } = await import('node:fs/promises');
    const { join } = await import('node:path');
    const { tmpdir } = await import('node:os');
    const dir = await mkdtemp(join(tmpdir(), 'wharf-cors-config-'));
    await writeFile(join(dir, 'c.yml'), 'http:\n  cors:\n    origins: ["https://ui.example.com/path"]\n');
    assert.throws(() => loadConfig(join(dir, 'c.yml')), (e: unknown) => e instanceof ConfigError && /http\.cors\.origins/.test(e.message));
    await rm(dir, { recursive: true, force: true });
  });
});
