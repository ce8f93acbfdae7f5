/**
 * `docker search` and `podman search` against Wharf (GET /v1/search): the shape both
 * clients read, substring matching, pagination, descriptions from the image's
 * org.opencontainers.image.description label, and filtering by the access rules (a
 * repository the caller may not pull is never listed). One data dir, served in turn
 * with htpasswd rules, token auth and htpasswd without anonymous access.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { buildImage, buildLayer, pushImage } from './support/images.js';
import { ensureDockerd, requireCommand, run } from './support/peers.js';
import { startTestWharf, type TestWharf } from './support/wharf.js';

const USERS = { alice: 'alice-pw', bob: 'bob-pw' };
const RULES = [
  { subjects: ['anonymous'], repositories: ['public/**'], actions: ['pull'] },
  { subjects: ['alice'], repositories: ['team/**'], actions: ['pull'] },
  { subjects: ['bob'], repositories: ['secret/**'], actions: ['pull'] },
];
const REPOS: Record<string, string> = {
  'public/term-app': 'a public terminal app',
  'public/other': 'does not match',
  'team/term-tool': 'the team\'s terminal tool',
  'secret/term-vault': 'nobody but bob',
};

let work: string;
let root: string;
let htpasswd: string;
let wharf: TestWharf | undefined;

const basic = (user: keyof typeof USERS) => `Basic ${Buffer.from(`${user}:${USERS[user]}`).toString('base64')}`;

function runWithInput(command: string, args: string[], input: string, env: Record<string, string>): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, ...env } });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`${command} ${args.join(' ')} exited ${code}:\n${err}${out}`))));
    child.stdin.end(input);
  });
}

async function serve(auth: Record<string, unknown>): Promise<TestWharf> {
  await wharf?.close();
  const file = join(work, `config-${Date.now()}.yml`);
  await writeFile(file, JSON.stringify({ auth }));
  wharf = await startTestWharf({ root, configFile: file });
  return wharf;
}

before(async () => {
  await requireCommand('htpasswd', 'apache2-utils');
  work = await mkdtemp(join(tmpdir(), 'wharf-search-'));
  root = join(work, 'data');
  htpasswd = join(work, 'htpasswd');
  await run('htpasswd', ['-B', '-b', '-c', htpasswd, 'alice', USERS.alice]);
  await run('htpasswd', ['-B', '-b', htpasswd, 'bob', USERS.bob]);
  // Fill the store in open mode, then serve it with access rules.
  const open = await startTestWharf({ root });
  for (const [repo, description] of Object.entries(REPOS)) {
    const layer = await buildLayer([{ type: 'file', path: `${repo.replace('/', '-')}.txt`, content: repo }]);
    const image = buildImage([layer], { Cmd: ['/x'], Labels: { 'org.opencontainers.image.description': description } } as never);
    await pushImage(open.url, repo, 'latest', image);
  }
  await open.close();
});

after(async () => {
  await wharf?.close();
  if (work) await rm(work, { recursive: true, force: true });
});

interface SearchBody {
  num_results: number;
  num_pages: number;
  page: number;
  page_size: number;
  query: string;
  results: { name: string; description: string; star_count: number; is_official: boolean; is_automated: boolean }[];
}

async function search(query: string, authorization?: string): Promise<{ status: number; body: SearchBody }> {
  const res = await fetch(`${wharf!.url}/v1/search?${query}`, { headers: authorization ? { authorization } : {} });
  return { status: res.status, body: (await res.json()) as SearchBody };
}

describe('GET /v1/search under htpasswd rules', () => {
  before(async () => {
    await serve({ htpasswd: { path: htpasswd }, access: RULES });
  });

  test('the shape docker and podman read, with the description label; anonymous sees what anonymous may pull', async () => {
    const { status, body } = await search('q=term&n=25');
    assert.equal(status, 200);
    assert.deepEqual(body, {
      num_results: 1,
      num_pages: 1,
      page: 1,
      page_size: 25,
      query: 'term',
      results: [{ name: 'public/term-app', description: 'a public terminal app', star_count: 0, is_official: false, is_automated: false, is_trusted: false }],
    });
  });

  test('each user sees only the repositories the rules let them pull', async () => {
    assert.deepEqual((await search('q=term', basic('alice'))).body.results.map((r) => r.name), ['public/term-app', 'team/term-tool']);
    assert.deepEqual((await search('q=term', basic('bob'))).body.results.map((r) => r.name), ['public/term-app', 'secret/term-vault']);
    assert.deepEqual((await search('q=', basic('alice'))).body.results.map((r) => r.name), ['public/other', 'public/term-app', 'team/term-tool']);
  });

  test('pages: n and page, with the total count', async () => {
    const p2 = (await search('q=term&n=1&page=2', basic('alice'))).body;
    assert.equal(p2.num_results, 2);
    assert.equal(p2.num_pages, 2);
    assert.deepEqual(p2.results.map((r) => r.name), ['team/term-tool']);
    assert.deepEqual((await search('q=term&n=1&page=3', basic('alice'))).body.results, []);
  });

  test('bad parameters and bad credentials get the error JSON', async () => {
    const bad = await search('q=term&n=abc');
    assert.equal(bad.status, 400);
    assert.equal((bad.body as unknown as { errors: { code: string }[] }).errors[0]!.code, 'PAGINATION_NUMBER_INVALID');
    const wrong = await search('q=term', `Basic ${Buffer.from('alice:nope').toString('base64')}`);
    assert.equal(wrong.status, 401);
  });
});

describe('docker search and podman search', () => {
  let dockerConfig: string;
  before(async () => {
    await ensureDockerd();
    await requireCommand('podman', 'podman');
    dockerConfig = await mkdtemp(join(tmpdir(), 'wharf-search-docker-config-'));
  });
  after(async () => {
    if (dockerConfig) await rm(dockerConfig, { recursive: true, force: true });
  });

  const dockerSearch = async (term: string) =>
    (await run('docker', ['search', '--no-trunc', '--format', '{{.Name}}|{{.Description}}', `${wharf!.hostPort}/${term}`], { env: { DOCKER_CONFIG: dockerConfig } }))
      .trim()
      .split('\n')
      .filter((l) => l !== '');
  /** podman 4.3's search has no --creds: the user's credentials go in an auth file. */
  const podmanSearch = async (term: string, user?: keyof typeof USERS) => {
    const authfile = join(work, `podman-auth-${user ?? 'none'}.json`);
    const auths = user ? { [wharf!.hostPort]: { auth: Buffer.from(`${user}:${USERS[user]}`).toString('base64') } } : {};
    await writeFile(authfile, JSON.stringify({ auths }));
    return (await run('podman', ['search', '--tls-verify=false', '--authfile', authfile, '--format', '{{.Name}}', `${wharf!.hostPort}/${term}`]))
      .trim()
      .split('\n')
      .filter((l) => l !== '');
  };

  test('token auth: docker search lists what anonymous, then alice after docker login, may pull', async () => {
    await serve({ htpasswd: { path: htpasswd }, token: { enabled: true }, access: RULES });
    assert.deepEqual(await dockerSearch('term'), ['public/term-app|a public terminal app']);
    await runWithInput('docker', ['login', '-u', 'alice', '--password-stdin', wharf!.hostPort], USERS.alice, { DOCKER_CONFIG: dockerConfig });
    assert.deepEqual(await dockerSearch('term'), ['public/term-app|a public terminal app', "team/term-tool|the team's terminal tool"]);
    assert.deepEqual(await dockerSearch('vault'), [], 'alice may not pull secret/term-vault, so search does not show it');
  });

  test('podman search lists matching repositories and not forbidden ones', async () => {
    await serve({ htpasswd: { path: htpasswd }, access: RULES });
    assert.deepEqual(await podmanSearch('term'), [`${wharf!.hostPort}/public/term-app`]);
    // Without anonymous access, podman's unauthenticated v1 search is refused and it falls back
    // to the catalog with its credentials, which the rules filter the same way.
    await serve({ htpasswd: { path: htpasswd }, access: RULES.slice(1) });
    assert.deepEqual(await podmanSearch('term', 'alice'), [`${wharf!.hostPort}/team/term-tool`]);
    assert.deepEqual(await podmanSearch('term', 'bob'), [`${wharf!.hostPort}/secret/term-vault`]);
  });
});
