/**
 * The C in-root resolver (runtime/native/init/in-root.c), through a tiny driver compiled
 * here with gcc, against crafted trees: absolute and relative symlinks pointing out of
 * the root, `..` chains, loops, magic links of a real /proc, and the create variants.
 * Every case runs twice: through openat2(RESOLVE_IN_ROOT) and through the O_NOFOLLOW walk.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { constants as osConstants, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { nativeBuildDir } from './spawn.js';

const SRC = join(dirname(dirname(nativeBuildDir())), 'runtime', 'native', 'init');
const E = osConstants.errno;

describe('in-root resolution (C)', () => {
  let work: string;
  let root: string;
  let host: string;
  let probe: string;
  let procMounted = false;

  before(() => {
    work = mkdtempSync(join(tmpdir(), 'wharf-inroot-'));
    probe = join(work, 'in-root-probe');
    execFileSync('gcc', ['-O1', '-Wall', '-Wextra', '-Werror', '-o', probe, join(SRC, 'in-root.c'), join(SRC, 'in-root-probe.c')]);
    root = join(work, 'root');
    // A directory on the host that the symlinks in the root name: it must stay empty.
    host = mkdtempSync(join(tmpdir(), 'wharf-inroot-host-'));
    mkdirSync(join(root, 'etc'), { recursive: true });
    mkdirSync(join(root, 'bin'));
    mkdirSync(join(root, 'proc'));
    writeFileSync(join(root, 'etc', 'passwd'), 'root:x:0:0::/:/bin/sh\n');
    symlinkSync('/etc', join(root, 'abs'));
    symlinkSync('../../../../../etc', join(root, 'bin', 'rel'));
    symlinkSync('loop2', join(root, 'loop1'));
    symlinkSync('/loop1', join(root, 'loop2'));
    symlinkSync(host, join(root, 'evil'));
    symlinkSync(join(host, 'file'), join(root, 'evilfile'));
    symlinkSync('/nowhere/deep', join(root, 'dangling'));
    symlinkSync('/proc/self/root/etc', join(root, 'magic'));
    symlinkSync('/proc/self/fd', join(root, 'fds'));
    // A real procfs inside the root, so that its magic links are there to be refused.
    execFileSync('mount', ['-t', 'proc', 'proc', join(root, 'proc')]);
    procMounted = true;
  });

  after(() => {
    if (procMounted) execFileSync('umount', [join(root, 'proc')]);
    rmSync(work, { recursive: true, force: true });
    rmSync(host, { recursive: true, force: true });
  });

  function resolve(op: 'open' | 'nofollow' | 'mkdirs' | 'create', path: string, walk: boolean): string {
    const out = execFileSync(probe, [root, op, path, ...(walk ? ['walk'] : [])], { encoding: 'utf8' }).trim();
    const m = /^errno (\d+)$/.exec(out);
    if (m) return Object.entries(E).find(([, v]) => v === Number(m[1]))?.[0] ?? out;
    return out.startsWith(root) ? `<root>${out.slice(root.length)}` : `HOST ${out}`;
  }

  test('a symlink to a host directory finds nothing until the root has that directory', () => {
    assert.equal(resolve('open', '/evil', false), 'ENOENT');
    assert.equal(resolve('open', '/evil', true), 'ENOENT');
  });

  for (const walk of [false, true]) {
    const how = walk ? 'walk' : 'openat2';

    test(`${how}: absolute and relative symlinks and .. stay inside the root`, () => {
      assert.equal(resolve('open', '/abs/passwd', walk), '<root>/etc/passwd');
      assert.equal(resolve('open', 'abs/passwd', walk), '<root>/etc/passwd');
      assert.equal(resolve('open', '/bin/rel/passwd', walk), '<root>/etc/passwd');
      assert.equal(resolve('open', '/../../../etc/passwd', walk), '<root>/etc/passwd');
      assert.equal(resolve('open', '/bin/../../../../etc/./passwd', walk), '<root>/etc/passwd');
      assert.equal(resolve('open', '/', walk), '<root>');
      assert.equal(resolve('open', '/..', walk), '<root>');
    });

    test(`${how}: loops, missing parts and files used as directories fail with the kernel's errno`, () => {
      assert.equal(resolve('open', '/loop1', walk), 'ELOOP');
      assert.equal(resolve('open', '/loop1/x', walk), 'ELOOP');
      assert.equal(resolve('open', '/missing', walk), 'ENOENT');
      assert.equal(resolve('open', '/etc/passwd/x', walk), 'ENOTDIR');
      assert.equal(resolve('mkdirs', '/etc/passwd', walk), 'ENOTDIR');
      assert.equal(resolve('mkdirs', '/loop1/a', walk), 'ELOOP');
    });

    test(`${how}: nofollow opens the symlink itself`, () => {
      assert.equal(resolve('nofollow', '/abs', walk), '<root>/abs');
      assert.ok(lstatSync(join(root, 'abs')).isSymbolicLink());
    });

    test(`${how}: magic links of a real /proc never lead out of the root`, () => {
      // openat2 refuses them (RESOLVE_NO_MAGICLINKS); the walk reads them as text ("/"), so
      // /proc/self/root/etc is the root's own /etc.
      const viaMagic = resolve('open', '/magic/passwd', walk);
      assert.equal(viaMagic, walk ? '<root>/etc/passwd' : 'ELOOP');
      const viaFd = resolve('open', '/fds/0', walk);
      assert.ok(!viaFd.startsWith('HOST'), `/proc/self/fd/0 resolved to ${viaFd}`);
    });

    test(`${how}: mkdirs through a symlink to a host directory creates inside the root only`, () => {
      const sub = `${how}-a/b`;
      assert.equal(resolve('mkdirs', `/evil/${sub}`, walk), `<root>${host}/${sub}`);
      assert.ok(statSync(join(root, host, sub)).isDirectory());
      assert.equal(existsSync(join(host, `${how}-a`)), false, 'a directory was made on the host');
      assert.equal(resolve('mkdirs', `/dangling/${how}`, walk), `<root>/nowhere/deep/${how}`);
      assert.equal(resolve('mkdirs', `/etc`, walk), '<root>/etc');
    });

    test(`${how}: create makes an empty file inside the root, through symlinks`, () => {
      assert.equal(resolve('create', `/etc/${how}-new`, walk), `<root>/etc/${how}-new`);
      assert.ok(statSync(join(root, 'etc', `${how}-new`)).isFile());
      assert.equal(resolve('create', '/etc/passwd', walk), '<root>/etc/passwd'); // exists: opened, kept
      assert.equal(resolve('create', `/${how}-d/e/f`, walk), `<root>/${how}-d/e/f`);
    });
  }

  test('create through a symlink to a host file makes the file inside the root', () => {
    assert.equal(resolve('create', '/evilfile', true), `<root>${host}/file`);
    assert.equal(existsSync(join(host, 'file')), false, 'a file was made on the host');
    rmSync(join(root, host, 'file'));
    assert.equal(resolve('create', '/evilfile', false), `<root>${host}/file`);
    assert.equal(existsSync(join(host, 'file')), false, 'a file was made on the host');
  });
});
