/**
 * `npm run bench`: runs each benchmark of bench/ (every compiled bench/*.js but this one)
 * as its own process, one after the other, so that none disturbs another's numbers.
 * Usage: node dist/bench/run.js [name ...]   e.g. `node dist/bench/run.js start-latency`
 */
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const self = basename(fileURLToPath(import.meta.url));
const all = readdirSync(here)
  .filter((f) => f.endsWith('.js') && f !== self)
  .map((f) => f.slice(0, -'.js'.length))
  .sort();
const wanted = process.argv.slice(2);
const unknown = wanted.filter((w) => !all.includes(w));
if (unknown.length > 0) {
  process.stderr.write(`unknown bench: ${unknown.join(', ')} (have: ${all.join(', ')})\n`);
  process.exit(2);
}

let failed = false;
for (const name of wanted.length > 0 ? wanted : all) {
  process.stdout.write(`\n== bench/${name} ==\n`);
  const code = await new Promise<number>((resolve) => {
    const child = spawn(process.execPath, [join(here, `${name}.js`)], { stdio: 'inherit' });
    child.on('close', (c) => resolve(c ?? 1));
  });
  if (code !== 0) {
    failed = true;
    process.stderr.write(`bench/${name} exited ${code}\n`);
  }
}
process.exitCode = failed ? 1 : 0;
