import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AccessPolicy, type Action } from './access-policy.js';

const sorted = (s: Set<Action>): Action[] => [...s].sort();

test('no rules: an authenticated user may do everything, anonymous nothing', () => {
  const p = new AccessPolicy([], {});
  assert.deepEqual(sorted(p.allowed('alice', 'any/repo')), ['delete', 'pull', 'push']);
  assert.deepEqual(sorted(p.allowed(undefined, 'any/repo')), []);
  assert.equal(p.anonymousHasAccess, false);
});

test('`*` stays within one path component, `**` crosses components', () => {
  const p = new AccessPolicy(
    [
      { subjects: ['alice'], repositories: ['team/*'], actions: ['pull'] },
      { subjects: ['bob'], repositories: ['team/**'], actions: ['pull'] },
    ],
    {},
  );
  assert.deepEqual(sorted(p.allowed('alice', 'team/app')), ['pull']);
  assert.deepEqual(sorted(p.allowed('alice', 'team/app/sub')), []);
  assert.deepEqual(sorted(p.allowed('alice', 'team')), []);
  assert.deepEqual(sorted(p.allowed('alice', 'other/team/app')), []);
  assert.deepEqual(sorted(p.allowed('bob', 'team/app')), ['pull']);
  assert.deepEqual(sorted(p.allowed('bob', 'team/app/sub/deeper')), ['pull']);
  assert.deepEqual(sorted(p.allowed('bob', 'teamx/app')), []);
});

test('glob characters other than * are literal (no regex injection)', () => {
  const p = new AccessPolicy([{ subjects: ['alice'], repositories: ['a.b/c+d', 'x?'], actions: ['*'] }], {});
  assert.deepEqual(sorted(p.allowed('alice', 'a.b/c+d')), ['delete', 'pull', 'push']);
  assert.deepEqual(sorted(p.allowed('alice', 'aXb/c+d')), []);
  assert.deepEqual(sorted(p.allowed('alice', 'a.b/cccd')), []);
  assert.deepEqual(sorted(p.allowed('alice', 'x')), []);
  assert.deepEqual(sorted(p.allowed('alice', 'x?')), ['delete', 'pull', 'push']);
});

test('a glob in the middle and a prefix glob', () => {
  const p = new AccessPolicy([{ subjects: ['alice'], repositories: ['*/base', 'lib-*/**'], actions: ['pull'] }], {});
  assert.deepEqual(sorted(p.allowed('alice', 'x/base')), ['pull']);
  assert.deepEqual(sorted(p.allowed('alice', 'x/y/base')), []);
  assert.deepEqual(sorted(p.allowed('alice', 'lib-c/a/b')), ['pull']);
  assert.deepEqual(sorted(p.allowed('alice', 'lib/a')), []);
});

test('groups: `group:<name>` subjects apply to their members only', () => {
  const p = new AccessPolicy(
    [
      { subjects: ['group:devs'], repositories: ['dev/**'], actions: ['pull', 'push'] },
      { subjects: ['group:ops'], repositories: ['**'], actions: ['delete'] },
    ],
    { devs: ['alice', 'bob'], ops: ['bob'] },
  );
  assert.deepEqual(sorted(p.allowed('alice', 'dev/app')), ['pull', 'push']);
  assert.deepEqual(sorted(p.allowed('bob', 'dev/app')), ['delete', 'pull', 'push']);
  assert.deepEqual(sorted(p.allowed('bob', 'prod/app')), ['delete']);
  assert.deepEqual(sorted(p.allowed('carol', 'dev/app')), []);
  // A user literally named "group:devs" is not the group.
  assert.deepEqual(sorted(p.allowed(undefined, 'dev/app')), []);
});

test('what a subject may do is the union of every matching rule', () => {
  const p = new AccessPolicy(
    [
      { subjects: ['*'], repositories: ['**'], actions: ['pull'] },
      { subjects: ['alice'], repositories: ['alice/**'], actions: ['push'] },
      { subjects: ['alice', 'group:admins'], repositories: ['alice/**', 'shared/*'], actions: ['delete'] },
    ],
    { admins: ['root'] },
  );
  assert.deepEqual(sorted(p.allowed('alice', 'alice/app')), ['delete', 'pull', 'push']);
  assert.deepEqual(sorted(p.allowed('alice', 'shared/x')), ['delete', 'pull']);
  assert.deepEqual(sorted(p.allowed('root', 'shared/x')), ['delete', 'pull']);
  assert.deepEqual(sorted(p.allowed('root', 'alice/app')), ['delete', 'pull']);
  assert.deepEqual(sorted(p.allowed('zed', 'alice/app')), ['pull']);
});

test('`*` subject means any authenticated user, never anonymous; `anonymous` rules apply to everyone', () => {
  const p = new AccessPolicy(
    [
      { subjects: ['*'], repositories: ['internal/**'], actions: ['pull'] },
      { subjects: ['anonymous'], repositories: ['public/**'], actions: ['pull'] },
    ],
    {},
  );
  assert.deepEqual(sorted(p.allowed(undefined, 'internal/x')), []);
  assert.deepEqual(sorted(p.allowed(undefined, 'public/x')), ['pull']);
  assert.deepEqual(sorted(p.allowed(undefined, 'public/a/b')), ['pull']);
  assert.deepEqual(sorted(p.allowed(undefined, 'private/y')), []);
  assert.deepEqual(sorted(p.allowed('alice', 'internal/x')), ['pull']);
  // What anyone may do without logging in, a logged-in user may do too: logging in never loses access.
  assert.deepEqual(sorted(p.allowed('alice', 'public/x')), ['pull']);
  assert.deepEqual(sorted(p.allowed('alice', 'private/y')), []);
  assert.equal(p.anonymousHasAccess, true);
});

test('actions: `*` is pull, push and delete; with rules, anonymous has no access unless named', () => {
  const p = new AccessPolicy([{ subjects: ['alice'], repositories: ['**'], actions: ['*'] }], {});
  assert.deepEqual(sorted(p.allowed('alice', 'x')), ['delete', 'pull', 'push']);
  assert.deepEqual(sorted(p.allowed('bob', 'x')), []);
  assert.deepEqual(sorted(p.allowed(undefined, 'x')), []);
  assert.equal(p.anonymousHasAccess, false);
});
