/** The verb table against what each group really registers (commander itself, no stand-ins). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Command } from 'commander';
import { groupsFor, registerGroups, VERB_GROUPS, verbOf } from './verbs.js';
import { setupRuntimeCli } from '../runtime/cli/index.js';

function program(): Command {
  const p = new Command();
  setupRuntimeCli(p, {});
  return p;
}

const names = (p: Command): string[] => p.commands.flatMap((c) => [c.name(), ...c.aliases()]);

test('each group lists exactly the verbs (and aliases) it registers', async () => {
  for (const group of VERB_GROUPS) {
    const p = program();
    await registerGroups(p, [group]);
    assert.deepEqual(names(p).sort(), [...group.verbs].sort());
  }
});

test('no verb is in two groups', () => {
  const all = VERB_GROUPS.flatMap((g) => g.verbs);
  assert.equal(new Set(all).size, all.length);
});

test('the verb of a command line, past -H and its value', () => {
  assert.equal(verbOf(['run', '--rm', 'img']), 'run');
  assert.equal(verbOf(['-H', 'unix:///x.sock', 'run', 'img']), 'run');
  assert.equal(verbOf(['--host', 'unix:///x.sock', 'ps']), 'ps');
  assert.equal(verbOf(['--host=unix:///x.sock', 'ps']), 'ps');
  assert.equal(verbOf(['-Hunix:///x.sock', 'network', 'ls']), 'network');
  assert.equal(verbOf(['--help']), undefined);
  assert.equal(verbOf(['-V', 'run']), undefined);
  assert.equal(verbOf([]), undefined);
});

test('one group for a known verb; every group for help, an option first or an unknown verb', () => {
  assert.deepEqual(
    groupsFor(['-H', 'unix:///x.sock', 'run', 'img']).map((g) => g.verbs),
    [['run']],
  );
  assert.equal(groupsFor(['volume', 'ls']).length, 1);
  for (const args of [[], ['--help'], ['help', 'run'], ['runn', 'img'], ['--nope', 'run']]) assert.equal(groupsFor(args), VERB_GROUPS);
});
