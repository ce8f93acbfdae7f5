/**
 * `wharf run` usage errors exit 125 with Docker's words, and `--env-file` reaches wharf
 * (Node 20 itself acts on `--env-file` anywhere on its command line, so the bin starts
 * Node with `--` before the script: `#!/usr/bin/env -S … node --`). Through the real bin and
 * through `npx wharf` from the package directory.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { buildImage, pushImage } from './support/images.js';
import { busyboxLayer, runWharf, WHARF_BIN } from './support/run-node.js';
import { startTestWharf, type TestWharf } from './support/wharf.js';
import { NodeLayout } from '../runtime/layout.js';
import { removeAllSnapshots } from '../runtime/layers/snapshots.js';

const PACKAGE_DIR = join(dirname(WHARF_BIN), '..', '..');

let registry: TestWharf;
let root: string;
let image: string;
let envFile: string;

// The first npx call in a checkout installs the package into npm's npx cache, which runs its
// `prepare` (the TypeScript build): minutes on a loaded machine, hence the long timeout.
function npxWharf(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile('npx', ['--no-install', 'wharf', ...args], { cwd: PACKAGE_DIR, timeout: 500_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : -1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

before(async () => {
  registry = await startTestWharf();
  root = await mkdtemp(join(tmpdir(), 'wharf-usage-node-'));
  envFile = join(root, 'ci.env');
  await writeFile(envFile, '# a comment\nFROM_FILE=yes\n');
  await pushImage(registry.url, 'usage/bb', 'v1', buildImage([await busyboxLayer(['sh', 'true'])], { Cmd: ['sh'] }));
  image = `${registry.hostPort}/usage/bb:v1`;
});

after(async () => {
  await removeAllSnapshots(new NodeLayout(root)).catch(() => undefined);
  await rm(root, { recursive: true, force: true });
  await registry.destroy();
});

describe('usage errors exit 125', () => {
  test('the bin starts Node with -- (so Node leaves our flags alone)', () => {
    assert.match(readFileSync(WHARF_BIN, 'utf8').split('\n')[0]!, /^#!\/usr\/bin\/env -S .* node --$/);
  });

  test('unknown flag', async () => {
    const r = await runWharf(['run', '--no-such-flag', image]);
    assert.equal(r.code, 125);
    assert.match(r.stderr, /^wharf run: unknown flag: --no-such-flag/m);
    assert.match(r.stderr, /See 'wharf run --help'\./);
  });

  test('missing image argument', async () => {
    const r = await runWharf(['run']);
    assert.equal(r.code, 125);
    assert.match(r.stderr, /"wharf run" requires at least 1 argument/);
  });

  test('a flag without its value', async () => {
    const r = await runWharf(['run', '-m']);
    assert.equal(r.code, 125);
    assert.match(r.stderr, /flag needs an argument: -m, --memory/);
  });

  test('--help still exits 0', async () => {
    const r = await runWharf(['run', '--help']);
    assert.equal(r.code, 0);
    assert.match(r.stdout.toString(), /--group-add/);
  });
});

describe('--env-file reaches wharf, not Node', () => {
  test('a missing file: our message and 125 (Node 20 alone would exit 9)', async () => {
    const r = await runWharf(['run', '--rm', '--root', root, '--env-file', join(root, 'missing.env'), image, 'true']);
    assert.equal(r.code, 125, r.stderr);
    assert.match(r.stderr, /^wharf run: cannot read --env-file .*missing\.env: ENOENT/m);
    assert.doesNotMatch(r.stderr, /^node:/m);
  });

  test('a file given before and after other flags is applied', async () => {
    const r = await runWharf(['run', '--rm', '--env-file', envFile, '--root', root, '-e', 'X=1', image, 'sh', '-c', 'echo "$FROM_FILE $X"']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.toString(), 'yes 1\n');
    const eq = await runWharf(['run', '--rm', '--root', root, `--env-file=${envFile}`, image, 'sh', '-c', 'echo "$FROM_FILE"']);
    assert.equal(eq.stdout.toString(), 'yes\n', eq.stderr);
  });

  test('through npx wharf: the flag and the exit codes are ours', async () => {
    const r = await npxWharf(['run', '--rm', '--root', root, '--env-file', envFile, image, 'sh', '-c', 'echo "$FROM_FILE"']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'yes\n');
    const bad = await npxWharf(['run', '--no-such-flag', image]);
    assert.equal(bad.code, 125, bad.stderr);
    assert.match(bad.stderr, /unknown flag: --no-such-flag/);
  });
});
