/**
 * Registry credentials and search through the daemon (moby api/server/router/system and
 * image):
 *
 *   POST /auth                  {username, password, serveraddress}: checked against the
 *                               registry's /v2/ (the auth challenge, as docker login); 200
 *                               {"Status":"Login Succeeded"}, 401 with dockerd's words
 *   GET  /images/search?term=&limit=   a registry's /v1/search (HOST/term picks the registry,
 *                               else the daemon's default), as [{name, description, …}]
 *
 * The daemon keeps no credentials: the client stores them (wharf login: ~/.wharf/config.json,
 * docker login: ~/.docker/config.json) and sends them with each pull and push.
 */
import type { Call, Router } from './router.js';
import { readJson, sendJson } from './router.js';
import type { DaemonDeps } from './deps.js';
import { EngineError, badParameter } from './errors.js';
import { decodeRegistryAuth } from './image-views.js';

/** `https://index.docker.io/v1/`, `http://127.0.0.1:5000`, `127.0.0.1:5000` -> host[:port]. */
export function registryHost(serverAddress: string): string {
  const s = serverAddress.trim().replace(/^[a-z]+:\/\//i, '');
  return s.split('/')[0]!;
}

export function registerAuthRoutes(router: Router, deps: DaemonDeps): void {
  router.post('/auth', (call) => login(call, deps));
  router.get('/images/search', (call) => search(call, deps));
}

async function login(call: Call, deps: DaemonDeps): Promise<void> {
  const body = await readJson<{ username?: unknown; password?: unknown; serveraddress?: unknown; identitytoken?: unknown }>(call);
  if (typeof body !== 'object' || body === null) throw badParameter('the request body must be a JSON object');
  const username = typeof body.username === 'string' ? body.username : '';
  const password = typeof body.password === 'string' ? body.password : typeof body.identitytoken === 'string' ? body.identitytoken : '';
  const host = registryHost(typeof body.serveraddress === 'string' && body.serveraddress !== '' ? body.serveraddress : deps.defaultRegistry);
  if (!host) throw badParameter('serveraddress is empty');
  // The registry client (undici) loads on first use: the daemon's idle footprint stays small.
  const { RegistryClient, RegistryUnreachableError, UnauthorizedError } = await import('../../oci/client.js');
  const client = new RegistryClient({ registry: host, ...(username || password ? { credentials: { username, password } } : {}) });
  try {
    await client.ping();
  } catch (e) {
    if (e instanceof UnauthorizedError) throw new EngineError('unauthorized', `login attempt to ${client.baseUrl}/v2/ failed with status: 401 Unauthorized`, { cause: e });
    if (e instanceof RegistryUnreachableError) throw new EngineError('system', `Get "${client.baseUrl}/v2/": ${e.message}`, { cause: e });
    throw new EngineError('system', `login to ${host}: ${(e as Error).message}`, { cause: e });
  } finally {
    await client.close();
  }
  sendJson(call, 200, { Status: 'Login Succeeded', IdentityToken: '' });
}

async function search(call: Call, deps: DaemonDeps): Promise<void> {
  const term = call.query.get('term');
  if (!term) throw badParameter('term is required: GET /images/search?term=TERM');
  const limitText = call.query.get('limit') || '25';
  const limit = Number(limitText);
  if (!Number.isInteger(limit) || limit < 1 || limit > 100) throw badParameter(`invalid limit ${limitText}: it must be between 1 and 100`);
  // HOST/term: the first component names a registry when it looks like a host (docker's rule).
  const slash = term.indexOf('/');
  const first = slash > 0 ? term.slice(0, slash) : '';
  const hasHost = first.includes('.') || first.includes(':') || first === 'localhost';
  const host = hasHost ? first : deps.defaultRegistry;
  const q = hasHost ? term.slice(slash + 1) : term;
  const credentials = decodeRegistryAuth(call.req.headers['x-registry-auth']);
  const { RegistryClient, UnauthorizedError } = await import('../../oci/client.js');
  const client = new RegistryClient({ registry: host, ...(credentials ? { credentials } : {}) });
  try {
    const found = await client.search(q, limit);
    sendJson(
      call,
      200,
      (found.results ?? []).slice(0, limit).map((r) => ({
        name: hasHost ? `${host}/${r.name}` : r.name,
        description: r.description ?? '',
        star_count: r.star_count ?? 0,
        is_official: r.is_official ?? false,
        is_automated: r.is_automated ?? false,
      })),
    );
  } catch (e) {
    if (e instanceof UnauthorizedError) throw new EngineError('unauthorized', `searching ${host}: unauthorized: ${e.message}`, { cause: e });
    if (e instanceof EngineError) throw e;
    const status = (e as { status?: number }).status;
    if (status === 404) throw new EngineError('notFound', `${host} has no search endpoint (/v1/search answered 404)`, { cause: e });
    throw new EngineError('system', `searching ${host}: ${(e as Error).message}`, { cause: e });
  } finally {
    await client.close();
  }
}
