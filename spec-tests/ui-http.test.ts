/**
 * The web catalog over plain HTTP: what a browser test cannot easily show. Forged
 * requests (no CSRF token, another Origin, a tampered cookie) change nothing; errors are
 * HTML pages; the login works the same under token auth; bad archives through the upload
 * form are refused and leave the registry unchanged; an archive over the size limit is
 * a 413; with deletes disabled there is nothing to delete.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { dockerArchiveEntries, tarOf } from './support/archives.js';
import { buildImage, buildLayer, pushImage, type BuiltImage } from './support/images.js';
import { requireCommand, run } from './support/peers.js';
import { startTestWharf, type TestWharf } from './support/wharf.js';

const USERS = { alice: 'alice-pw', bob: 'bob-pw' };
const RULES = [
  { subjects: ['alice'], repositories: ['team/**'], actions: ['*'] },
  { subjects: ['bob'], repositories: ['secret/**'], actions: ['pull'] },
];

let work: string;
let htpasswd: string;
let image: BuiltImage;

before(async () => {
  await requireCommand('htpasswd', 'apache2-utils');
  work = await mkdtemp(join(tmpdir(), 'wharf-ui-http-'));
  htpasswd = join(work, 'htpasswd');
  await run('htpasswd', ['-B', '-b', '-c', htpasswd, 'alice', USERS.alice]);
  await run('htpasswd', ['-B', '-b', htpasswd, 'bob', USERS.bob]);
  image = buildImage([await buildLayer([{ type: 'file', path: 'x', content: 'x' }], { gzip: false })], { Cmd: ['/x'] }, 'docker');
});
after(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

/** A browser's worth of state: the session cookie, and the CSRF token of the last page. */
class Client {
  cookie = '';
  csrf = '';
  constructor(readonly base: string) {}

  async get(path: string): Promise<{ status: number; text: string; headers: Headers }> {
    const res = await fetch(this.base + path, { headers: this.cookie ? { cookie: this.cookie } : {}, redirect: 'manual' });
    this.keep(res);
    const text = await res.text();
    const csrf = /name="csrf" value="([^"]+)"/.exec(text)?.[1];
    if (csrf) this.csrf = csrf;
    return { status: res.status, text, headers: res.headers };
  }

  async post(path: string, fields: Record<string, string>, headers: Record<string, string> = { origin: this.base }): Promise<{ status: number; text: string; location: string | null }> {
    const res = await fetch(this.base + path, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', ...(this.cookie ? { cookie: this.cookie } : {}), ...headers },
      body: new URLSearchParams(fields).toString(),
      redirect: 'manual',
    });
    this.keep(res);
    return { status: res.status, text: await res.text(), location: res.headers.get('location') };
  }

  async upload(fields: Record<string, string>, file: Buffer, headers: Record<string, string> = { origin: this.base }): Promise<{ status: number; text: string }> {
    const form = new FormData();
    for (const [k, v] of Object.entries(fields)) form.append(k, v);
    form.append('archive', new Blob([file]), 'image.tar');
    const res = await fetch(`${this.base}/ui/import`, { method: 'POST', headers: { ...(this.cookie ? { cookie: this.cookie } : {}), ...headers }, body: form, redirect: 'manual' });
    this.keep(res);
    return { status: res.status, text: await res.text() };
  }

  async login(user: keyof typeof USERS): Promise<void> {
    await this.get('/ui/login');
    const res = await this.post('/ui/login', { csrf: this.csrf, username: user, password: USERS[user], next: '/ui/' });
    assert.equal(res.status, 303, res.text);
    await this.get('/ui/');
  }

  private keep(res: Response): void {
    const set = res.headers.get('set-cookie');
    if (set) this.cookie = set.split(';')[0]!;
  }
}

async function serveWith(auth: Record<string, unknown>, extra: Record<string, unknown> = {}): Promise<TestWharf> {
  const file = join(work, `wharf-${Math.random().toString(36).slice(2)}.yml`);
  await writeFile(file, JSON.stringify({ auth, ...extra }));
  return startTestWharf({ configFile: file });
}

async function seed(wharf: TestWharf): Promise<void> {
  // Through the API with alice's credentials (the push helper sends none of its own).
  const auth = `Basic ${Buffer.from(`alice:${USERS.alice}`).toString('base64')}`;
  const push = async (repo: string, tag: string) => {
    const origFetch = globalThis.fetch;
    globalThis.fetch = ((input: Parameters<typeof fetch>[0], init: RequestInit = {}) => origFetch(input, { ...init, headers: { ...(init.headers as Record<string, string>), authorization: auth } })) as typeof fetch;
    try {
      await pushImage(wharf.url, repo, tag, image);
    } finally {
      globalThis.fetch = origFetch;
    }
  };
  await push('team/app', 'v1');
  await push('team/app', 'v2');
}

describe('under htpasswd', () => {
  let wharf: TestWharf;
  const aliceAuth = `Basic ${Buffer.from(`alice:${USERS.alice}`).toString('base64')}`;
  const tags = async () => ((await (await fetch(`${wharf.url}/v2/team/app/tags/list`, { headers: { authorization: aliceAuth } })).json()) as { tags: string[] }).tags;
  before(async () => {
    wharf = await serveWith({ htpasswd: { path: htpasswd }, access: RULES }, { ui: { importMaxBytes: 64 * 1024 } });
    await seed(wharf);
  });
  after(async () => wharf?.destroy());

  test('a wrong password gets the login page again with a 401, and no session user', async () => {
    const c = new Client(wharf.url);
    await c.get('/ui/login');
    const res = await c.post('/ui/login', { csrf: c.csrf, username: 'alice', password: 'nope' });
    assert.equal(res.status, 401);
    assert.match(res.text, /Wrong user name or password/);
    assert.doesNotMatch((await c.get('/ui/')).text, /Signed in as/);
  });

  test('the session cookie is HttpOnly, SameSite=Strict, Path=/ui, and a tampered one is worth nothing', async () => {
    const res = await fetch(`${wharf.url}/ui/`);
    const cookie = res.headers.get('set-cookie') ?? '';
    assert.match(cookie, /^wharf_session=[^;]+; Path=\/ui; HttpOnly; SameSite=Strict; Max-Age=\d+$/);
    const c = new Client(wharf.url);
    await c.login('alice');
    assert.match((await c.get('/ui/')).text, /team\/app/);
    const [payload, signature] = c.cookie.slice('wharf_session='.length).split('.');
    const claims = JSON.parse(Buffer.from(payload!, 'base64url').toString()) as { sub: string };
    claims.sub = 'bob';
    c.cookie = `wharf_session=${Buffer.from(JSON.stringify(claims)).toString('base64url')}.${signature}`;
    const forged = await c.get('/ui/');
    assert.doesNotMatch(forged.text, /Signed in as/);
    assert.doesNotMatch(forged.text, /secret|team\/app/);
  });

  test('a delete without the CSRF token, or from another origin, is refused and deletes nothing', async () => {
    const c = new Client(wharf.url);
    await c.login('alice');
    await c.get('/ui/r/team/app/_/m/v2');
    const noToken = await c.post('/ui/r/team/app/_/delete', { tag: 'v2' });
    assert.equal(noToken.status, 403);
    assert.match(noToken.text, /CSRF token does not match/);
    const otherOrigin = await c.post('/ui/r/team/app/_/delete', { tag: 'v2', csrf: c.csrf }, { origin: 'https://evil.example.net' });
    assert.equal(otherOrigin.status, 403);
    assert.match(otherOrigin.text, /Origin header does not match/);
    const noOrigin = await c.post('/ui/r/team/app/_/delete', { tag: 'v2', csrf: c.csrf }, {});
    assert.equal(noOrigin.status, 403);
    assert.deepEqual(await tags(), ['v1', 'v2']);
    const ok = await c.post('/ui/r/team/app/_/delete', { tag: 'v2', csrf: c.csrf });
    assert.equal(ok.status, 303);
    assert.deepEqual(await tags(), ['v1']);
  });

  test('bob may not delete in team/app: no button, and a post is refused', async () => {
    const c = new Client(wharf.url);
    await c.login('bob');
    const page = await c.get('/ui/r/team/app/_/m/v1');
    assert.equal(page.status, 404);
    const res = await c.post('/ui/r/team/app/_/delete', { tag: 'v1', csrf: c.csrf });
    assert.equal(res.status, 404);
    assert.deepEqual(await tags(), ['v1']);
  });

  test('errors are HTML pages with the CSP, never the registry JSON', async () => {
    const c = new Client(wharf.url);
    await c.login('alice');
    for (const [path, status] of [['/ui/r/team/app/_/m/nope', 404], ['/ui/r/team/none/', 404], ['/ui/no/such/page', 404], ['/ui/r/Bad..Name/', 404]] as const) {
      const res = await c.get(path);
      assert.equal(res.status, status, path);
      assert.match(res.headers.get('content-type') ?? '', /^text\/html/, path);
      assert.match(res.headers.get('content-security-policy') ?? '', /default-src 'none'/);
      assert.match(res.text, /<!doctype html>/);
      assert.doesNotMatch(res.text, /"errors"/);
    }
  });

  test('bad archives through the upload form are refused with a page and change nothing; too large is a 413', async () => {
    const c = new Client(wharf.url);
    await c.login('alice');
    await c.get('/ui/import');
    const blobs = async () => (await readdir(join(wharf.root, 'blobs'), { recursive: true })).sort();
    const before = { tags: await tags(), blobs: await blobs() };
    const good = await tarOf(dockerArchiveEntries(image, 'x:y'));
    const bad: [string, Buffer, RegExp][] = [
      ['truncated', good.subarray(0, good.length - 1500), /truncated|missing/],
      ['traversal', await tarOf([...dockerArchiveEntries(image, 'x:y'), { name: '../../etc/evil', content: 'x' }]), /climbs out/],
      ['missing blob', await tarOf(dockerArchiveEntries(image, 'x:y').filter((e) => !e.name.endsWith('layer.tar'))), /missing from the archive/],
    ];
    for (const [what, bytes, message] of bad) {
      const res = await c.upload({ csrf: c.csrf, repository: 'team/app', tag: 'bad' }, bytes);
      assert.equal(res.status, 400, what);
      assert.match(res.text, /The archive was refused and nothing was imported/, what);
      assert.match(res.text, message, what);
    }
    const big = await c.upload({ csrf: c.csrf, repository: 'team/app', tag: 'big' }, Buffer.alloc(65 * 1024));
    assert.equal(big.status, 413);
    assert.match(big.text, /larger than/);
    const forged = await c.upload({ csrf: 'wrong', repository: 'team/app', tag: 'forged' }, good);
    assert.equal(forged.status, 403);
    assert.deepEqual({ tags: await tags(), blobs: await blobs() }, before);
    assert.deepEqual(await readdir(join(wharf.root, 'imports')), [], 'uploaded files are removed');
    // The good one imports; bob may not push there.
    const ok = await c.upload({ csrf: c.csrf, repository: 'team/app', tag: 'good' }, good);
    assert.equal(ok.status, 200, ok.text);
    assert.deepEqual(await tags(), ['good', 'v1']);
    const b = new Client(wharf.url);
    await b.login('bob');
    await b.get('/ui/import');
    assert.equal((await b.upload({ csrf: b.csrf, repository: 'team/app', tag: 'bob' }, good)).status, 403);
  });
});

describe('under token auth', () => {
  let wharf: TestWharf;
  before(async () => {
    wharf = await serveWith({ htpasswd: { path: htpasswd }, token: { enabled: true }, access: RULES });
  });
  after(async () => wharf?.destroy());

  test('the login form checks the same users, and the list follows the same rules', async () => {
    const auth = async () => {
      const res = await fetch(`${wharf.url}/auth/token?service=wharf&scope=repository:team/app:pull,push`, { headers: { authorization: `Basic ${Buffer.from(`alice:${USERS.alice}`).toString('base64')}` } });
      return `Bearer ${((await res.json()) as { token: string }).token}`;
    };
    const token = await auth();
    const origFetch = globalThis.fetch;
    globalThis.fetch = ((input: Parameters<typeof fetch>[0], init: RequestInit = {}) => origFetch(input, { ...init, headers: { ...(init.headers as Record<string, string>), authorization: token } })) as typeof fetch;
    try {
      await pushImage(wharf.url, 'team/app', 'v1', image);
    } finally {
      globalThis.fetch = origFetch;
    }
    const alice = new Client(wharf.url);
    await alice.login('alice');
    assert.match((await alice.get('/ui/')).text, /href="\/ui\/r\/team\/app\/"/);
    const bob = new Client(wharf.url);
    await bob.login('bob');
    assert.doesNotMatch((await bob.get('/ui/')).text, /team\/app/);
  });
});

describe('with deletes disabled, open access', () => {
  let wharf: TestWharf;
  before(async () => {
    wharf = await startTestWharf({ env: { WHARF_STORAGE_DELETE_ENABLED: 'false' } });
    await pushImage(wharf.url, 'open/app', 'v1', image);
  });
  after(async () => wharf?.destroy());

  test('everything is listed, no delete button, and a delete post is refused', async () => {
    const c = new Client(wharf.url);
    assert.match((await c.get('/ui/')).text, /open\/app/);
    const page = await c.get('/ui/r/open/app/_/m/v1');
    assert.equal(page.status, 200);
    assert.doesNotMatch(page.text, /Delete tag/);
    assert.doesNotMatch(page.text, /Log in/, 'open access has no login');
    await c.get('/ui/import'); // a page with a form, for a valid CSRF token
    const res = await c.post('/ui/r/open/app/_/delete', { tag: 'v1', csrf: c.csrf });
    assert.equal(res.status, 405);
    assert.match(res.text, /storage\.delete\.enabled is false/);
    assert.equal((await fetch(`${wharf.url}/v2/open/app/manifests/v1`, { method: 'HEAD', headers: { accept: 'application/vnd.docker.distribution.manifest.v2+json' } })).status, 200);
  });
});

describe('repository pages', () => {
  let wharf: TestWharf;
  before(async () => {
    wharf = await startTestWharf();
    for (let i = 0; i < 51; i++) await pushImage(wharf.url, `page/r${String(i).padStart(2, '0')}`, 'v1', image);
    await pushImage(wharf.url, 'other/app', 'v1', image);
  });
  after(async () => wharf?.destroy());

  test('50 repositories a page, a link to the next page, and the filter applies on every page', async () => {
    const c = new Client(wharf.url);
    const names = (text: string) => [...text.matchAll(/<tr class="repo"><td><a href="\/ui\/r\/([^"]+)\/">/g)].map((m) => m[1]);
    const first = await c.get('/ui/?q=page');
    assert.equal(names(first.text).length, 50);
    assert.equal(names(first.text)[0], 'page/r00');
    const next = /href="(\/ui\/\?q=page&amp;last=[^"]+)">Next page/.exec(first.text)?.[1];
    assert.ok(next, 'a next-page link');
    const second = await c.get(next.replace(/&amp;/g, '&'));
    assert.deepEqual(names(second.text), ['page/r50']);
    assert.doesNotMatch(second.text, /Next page/);
    assert.deepEqual(names((await c.get('/ui/?q=other')).text), ['other/app']);
  });
});
