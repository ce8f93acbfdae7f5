import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { appendFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { readHtpasswd } from '../../config/auth-files.js';
import { ConfigError } from '../../config/config.js';
import { HtpasswdUsers, parseBasic } from './basic-credentials.js';

const dir = mkdtempSync(join(tmpdir(), 'wharf-basic-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const basic = (text: string) => `Basic ${Buffer.from(text, 'utf8').toString('base64')}`;

test('parseBasic: no header, another scheme -> undefined', () => {
  assert.equal(parseBasic(undefined), undefined);
  assert.equal(parseBasic('Bearer abc.def.ghi'), undefined);
  assert.equal(parseBasic(''), undefined);
});

test('parseBasic: user and password; the password may hold colons, be empty, or be non-ASCII', () => {
  assert.deepEqual(parseBasic(basic('alice:s3cret')), { user: 'alice', password: 's3cret' });
  assert.deepEqual(parseBasic(basic('alice:a:b:c')), { user: 'alice', password: 'a:b:c' });
  assert.deepEqual(parseBasic(basic('alice:')), { user: 'alice', password: '' });
  assert.deepEqual(parseBasic(basic('jörg:pässwörd')), { user: 'jörg', password: 'pässwörd' });
  // The scheme is case-insensitive.
  assert.deepEqual(parseBasic(`basic ${Buffer.from('a:b').toString('base64')}`), { user: 'a', password: 'b' });
  assert.deepEqual(parseBasic(`BASIC ${Buffer.from('a:b').toString('base64')}`), { user: 'a', password: 'b' });
});

test('parseBasic: empty user and password (podman, skopeo and buildah send `Basic Og==`) are no credentials', () => {
  assert.equal(parseBasic('Basic Og=='), undefined);
  assert.equal(parseBasic(basic(':')), undefined);
});

test('parseBasic: malformed credentials are told apart from none', () => {
  assert.equal(parseBasic('Basic '), 'malformed');
  assert.equal(parseBasic('Basic !!!notbase64'), 'malformed');
  assert.equal(parseBasic('Basic YWxpY2U=x'), 'malformed');
  assert.equal(parseBasic(basic('no-colon')), 'malformed');
  assert.equal(parseBasic(basic(':password-without-user')), 'malformed');
  assert.equal(parseBasic(`Basic ${Buffer.from('a:b').toString('base64')} extra`), 'malformed');
});

function htpasswdFile(name: string, entries: [string, string][], flag = '-B'): string {
  const path = join(dir, name);
  writeFileSync(path, '');
  for (const [user, password] of entries) {
    appendFileSync(path, execFileSync('htpasswd', ['-n', '-b', flag, user, password], { encoding: 'utf8' }).trim() + '\n');
  }
  return path;
}

test('htpasswd -B entries ($2y$) are read and verified with bcrypt', async () => {
  const path = htpasswdFile('users', [
    ['alice', 'alice-pw'],
    ['bob', 'p:ss w0rd'],
  ]);
  const entries = readHtpasswd(path);
  assert.deepEqual([...entries.keys()], ['alice', 'bob']);
  assert.match(entries.get('alice')!, /^\$2y\$/);
  const users = new HtpasswdUsers(entries);
  assert.ok(users.has('alice'));
  assert.ok(!users.has('carol'));
  assert.equal(await users.verify({ user: 'alice', password: 'alice-pw' }), true);
  assert.equal(await users.verify({ user: 'bob', password: 'p:ss w0rd' }), true);
  assert.equal(await users.verify({ user: 'alice', password: 'wrong' }), false);
  assert.equal(await users.verify({ user: 'alice', password: 'alice-pw ' }), false);
  assert.equal(await users.verify({ user: 'alice', password: '' }), false);
  assert.equal(await users.verify({ user: 'bob', password: 'alice-pw' }), false, "alice's password is not bob's");
  assert.equal(await users.verify({ user: 'carol', password: 'alice-pw' }), false);
  // A remembered success does not make a wrong password right, nor another user's.
  assert.equal(await users.verify({ user: 'alice', password: 'alice-pw' }), true);
  assert.equal(await users.verify({ user: 'alice', password: 'wrong' }), false);
});

test('htpasswd files: comments and blank lines are skipped; non-bcrypt entries stop the start with their line', () => {
  const bcryptLine = execFileSync('htpasswd', ['-n', '-b', '-B', 'alice', 'pw'], { encoding: 'utf8' }).trim();
  const ok = join(dir, 'commented');
  writeFileSync(ok, `# users\n\n${bcryptLine}\n   \n`);
  assert.deepEqual([...readHtpasswd(ok).keys()], ['alice']);

  const md5 = htpasswdFile('md5', [['alice', 'pw']], '-m');
  assert.throws(() => readHtpasswd(md5), (e: unknown) => e instanceof ConfigError && /line 1 .*bcrypt/.test((e as Error).message));
  const sha = join(dir, 'mixed');
  writeFileSync(sha, `${bcryptLine}\n${execFileSync('htpasswd', ['-n', '-b', '-s', 'bob', 'pw'], { encoding: 'utf8' }).trim()}\n`);
  assert.throws(() => readHtpasswd(sha), /line 2/);
  const plain = join(dir, 'plain');
  writeFileSync(plain, 'alice:plaintext\n');
  assert.throws(() => readHtpasswd(plain), /line 1/);
  assert.throws(() => readHtpasswd(join(dir, 'missing')), (e: unknown) => e instanceof ConfigError && /auth\.htpasswd\.path/.test((e as Error).message));
});
