// `npm install` / `npm ci` entry (scripts.install): runs node-gyp rebuild, using
// the headers installed beside this node binary when present (offline builds),
// else node-gyp's usual download.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';

const args = ['rebuild'];
const nodedir = dirname(dirname(process.execPath));
if (!process.env.npm_config_nodedir && existsSync(join(nodedir, 'include', 'node', 'common.gypi'))) {
  args.push(`--nodedir=${nodedir}`);
}
const bundled = join(nodedir, 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js');
const gyp = process.env.npm_config_node_gyp ?? (existsSync(bundled) ? bundled : undefined);
const [cmd, cmdArgs] = gyp ? [process.execPath, [gyp, ...args]] : ['node-gyp', args];
const r = spawnSync(cmd, cmdArgs, { stdio: 'inherit' });
process.exit(r.status ?? 1);
