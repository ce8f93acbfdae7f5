/**
 * The `wharf` command as a user meets it: --help on every verb, and `wharf serve`
 * refusing bad configuration, a busy port and a data directory in use, each with a
 * message that says what to do, and exit code 2.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';
import { startTestWharf, type TestWharf } from './support/wharf.js';

const WHARF = join(dirname(fileURLToPath(import.meta.url)), '..', 'bin', 'wharf.js');

function wharf(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [WHARF, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

let dir: string;
let running: TestWharf;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'wharf-cli-'));
  running = await startTestWharf({ root: join(dir, 'busy') });
});

after(async () => {
  await running?.destroy();
  await rm(dir, { recursive: true, force: true });
});

test('every verb answers --help', async () => {
  const top = await wharf(['--help']);
  assert.equal(top.code, 0);
  const verbs = ['serve', 'pull', 'images', 'rmi', 'run', 'container', 'ps', 'inspect', 'logs', 'stop', 'restart', 'kill', 'rm', 'pause', 'unpause', 'rename', 'wait', 'start', 'attach', 'exec', 'create', 'top', 'stats', 'cp', 'tag', 'push', 'login', 'logout', 'save', 'load', 'history', 'search', 'commit', 'image'];
  for (const verb of verbs) assert.match(top.stdout, new RegExp(`^  ${verb}\\b`, 'm'), `wharf --help lists ${verb}`);
  for (const verb of verbs) {
    const help = await wharf([verb, '--help']);
    assert.equal(help.code, 0, `wharf ${verb} --help: ${help.stderr}`);
    assert.match(help.stdout, new RegExp(`^Usage: wharf ${verb}`, 'm'));
  }
});

test('serve names an unknown config key and exits 2', async () => {
  const file = join(dir, 'bad.yml');
  await writeFile(file, 'storage:\n  rooot: /x\n');
  const r = await wharf(['serve', '--config', file]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /unknown config key "storage\.rooot"/);
});

test('serve names a bad environment override and exits 2', async () => {
  const r = await wharf(['serve', '--root', join(dir, 'env')], { WHARF_HTTP_ADDR: 'nonsense' });
  assert.equal(r.code, 2);
  assert.match(r.stderr, /http\.addr: expected host:port/);
});

test('serve on a busy port says so and exits 2', async () => {
  const r = await wharf(['serve', '--addr', running.hostPort, '--root', join(dir, 'other')]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /address is already in use/);
});

test('serve on a data directory another wharf uses says so and exits 2', async () => {
  const r = await wharf(['serve', '--addr', '127.0.0.1:0', '--root', running.root]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /in use by another process/);
  // The running registry was not disturbed.
  assert.equal((await fetch(`${running.url}/healthz`)).status, 200);
});
