/**
 * The in-root resolver against a real directory tree with hostile symlinks: nothing it
 * resolves lies outside the root, and readFileInRoot reads only regular files.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mknod } from '../native/fs.js';
import { InRootError, MAX_SYMLINKS, readFileInRoot, resolveInRoot } from './in-root.js';

let root: string;
let outside: string;
let sock: Server;

before(async () => {
  const top = await mkdtemp(join(tmpdir(), 'wharf-in-root-'));
  root = join(top, 'rootfs');
  outside = join(top, 'host');
  await mkdir(join(root, 'etc'), { recursive: true });
  await mkdir(join(root, 'dev'), { recursive: true });
  await mkdir(join(root, 'a', 'b'), { recursive: true });
  await mkdir(outside, { recursive: true });
  await writeFile(join(outside, 'secret'), 'host secret\n');
  await writeFile(join(root, 'etc', 'passwd'), 'root:x:0:0:root:/root:/bin/sh\n');
  await writeFile(join(root, 'secret'), 'image secret\n');
  await writeFile(join(root, 'big'), Buffer.alloc(4096, 'x'));
  // Absolute links: the container's `/`, not the host's.
  await symlink('/etc/passwd', join(root, 'passwd-abs'));
  await symlink(join(outside, 'secret'), join(root, 'host-abs'));
  await symlink('/secret', join(root, 'etc', 'secret-abs'));
  // Relative links that climb past the root.
  await symlink('../../../../../../../../secret', join(root, 'a', 'b', 'climb'));
  await symlink(`../../../../../../../..${outside}/secret`, join(root, 'a', 'climb-host'));
  // A directory link to the host, used as an intermediate component.
  await symlink(outside, join(root, 'hostdir'));
  await symlink('/proc/self/root/etc/passwd', join(root, 'magic'));
  // Loops and a chain.
  await symlink('loop2', join(root, 'loop1'));
  await symlink('loop1', join(root, 'loop2'));
  await symlink('self', join(root, 'self'));
  await symlink('/chain1', join(root, 'chain0'));
  await symlink('chain2', join(root, 'chain1'));
  await symlink('etc/passwd', join(root, 'chain2'));
  // Non-regular files.
  mknod(join(root, 'dev', 'zero'), 0o020000 | 0o600, 1, 5);
  mknod(join(root, 'fifo'), 0o010000 | 0o600, 0, 0);
  mknod(join(root, 'chardev'), 0o020000 | 0o600, 1, 5);
  await symlink('/chardev', join(root, 'to-chardev'));
  await symlink('/dev/zero', join(root, 'to-zero'));
  await symlink('/fifo', join(root, 'to-fifo'));
  await symlink('/etc', join(root, 'to-dir'));
  sock = createServer();
  await new Promise<void>((resolve) => sock.listen(join(root, 'sock'), resolve));
});

after(async () => {
  await new Promise<void>((resolve) => sock.close(() => resolve()));
  await rm(join(root, '..'), { recursive: true, force: true });
});

const inside = (p: string) => assert.ok(p === root || p.startsWith(`${root}/`), `${p} is not under ${root}`);

describe('resolveInRoot', () => {
  test('plain paths and . components', async () => {
    assert.equal(await resolveInRoot(root, '/etc/passwd'), join(root, 'etc/passwd'));
    assert.equal(await resolveInRoot(root, 'etc/./passwd'), join(root, 'etc/passwd'));
    assert.equal(await resolveInRoot(root, '/'), root);
  });

  test('.. is clamped at the root', async () => {
    assert.equal(await resolveInRoot(root, '/../../../etc/passwd'), join(root, 'etc/passwd'));
    assert.equal(await resolveInRoot(root, '/a/b/../../../../secret'), join(root, 'secret'));
  });

  test('absolute symlinks resolve against the root', async () => {
    assert.equal(await resolveInRoot(root, '/passwd-abs'), join(root, 'etc/passwd'));
    assert.equal(await resolveInRoot(root, '/etc/secret-abs'), join(root, 'secret'));
    const p = await resolveInRoot(root, '/host-abs');
    inside(p);
    assert.equal(p, join(root, outside, 'secret'));
  });

  test('relative symlinks cannot climb out', async () => {
    assert.equal(await resolveInRoot(root, '/a/b/climb'), join(root, 'secret'));
    assert.equal(await resolveInRoot(root, '/a/climb-host'), join(root, outside, 'secret'));
  });

  test('a symlinked directory in the middle of the path stays inside', async () => {
    const p = await resolveInRoot(root, '/hostdir/secret');
    inside(p);
    assert.equal(p, join(root, outside, 'secret'));
  });

  test('/proc/self/root is just a path inside the root', async () => {
    assert.equal(await resolveInRoot(root, '/magic'), join(root, 'proc/self/root/etc/passwd'));
  });

  test('chains are followed; missing tails are appended lexically', async () => {
    assert.equal(await resolveInRoot(root, '/chain0'), join(root, 'etc/passwd'));
    assert.equal(await resolveInRoot(root, '/nope/x/../y'), join(root, 'nope/y'));
    assert.equal(await resolveInRoot(root, '/nope/../../..'), root);
  });

  test('loops fail with ELOOP', async () => {
    for (const p of ['/loop1', '/self', '/self/x']) {
      await assert.rejects(resolveInRoot(root, p), (e: unknown) => e instanceof InRootError && e.code === 'ELOOP');
    }
    assert.ok(MAX_SYMLINKS >= 8);
  });

  test('a file used as a directory fails with ENOTDIR', async () => {
    await assert.rejects(resolveInRoot(root, '/etc/passwd/x'), (e: unknown) => e instanceof InRootError && e.code === 'ENOTDIR');
  });

  test('a relative root and NUL bytes are refused', async () => {
    await assert.rejects(resolveInRoot('rootfs', '/etc'), (e: unknown) => e instanceof InRootError && e.code === 'INVALID');
    await assert.rejects(resolveInRoot(root, '/etc\0x'), (e: unknown) => e instanceof InRootError && e.code === 'INVALID');
  });
});

describe('readFileInRoot', () => {
  test('reads regular files through in-root symlinks, never the host file', async () => {
    assert.equal((await readFileInRoot(root, '/passwd-abs', 1 << 20))?.toString(), 'root:x:0:0:root:/root:/bin/sh\n');
    assert.equal((await readFileInRoot(root, '/a/b/climb', 1 << 20))?.toString(), 'image secret\n');
    assert.equal(await readFileInRoot(root, '/host-abs', 1 << 20), undefined);
    assert.equal(await readFileInRoot(root, '/hostdir/secret', 1 << 20), undefined);
  });

  test('a missing file is undefined', async () => {
    assert.equal(await readFileInRoot(root, '/etc/group', 1 << 20), undefined);
  });

  test('devices, FIFOs, sockets and directories are refused, never opened', async () => {
    for (const [p, kind] of [
      ['/to-chardev', 'a character device'],
      ['/to-fifo', 'a FIFO'],
      ['/sock', 'a socket'],
      ['/to-dir', 'a directory'],
    ] as const) {
      await assert.rejects(readFileInRoot(root, p, 1 << 20), (e: unknown) => {
        assert.ok(e instanceof InRootError, String(e));
        assert.equal(e.code, 'NOT_REGULAR', p);
        assert.match(e.message, new RegExp(`${kind}, not a regular file`));
        return true;
      });
    }
  });

  test('paths resolving under /dev, /proc or /sys are refused, whether or not the image has them', async () => {
    for (const p of ['/to-zero', '/dev/zero', '/dev/nope', '/magic', '/sys/x']) {
      await assert.rejects(readFileInRoot(root, p, 1 << 20), (e: unknown) => {
        assert.ok(e instanceof InRootError, String(e));
        assert.equal(e.code, 'NOT_REGULAR', p);
        assert.match(e.message, /mounted at start/);
        return true;
      });
    }
  });

  test('files over the cap are refused', async () => {
    assert.equal((await readFileInRoot(root, '/big', 4096))?.length, 4096);
    await assert.rejects(readFileInRoot(root, '/big', 4095), (e: unknown) => e instanceof InRootError && e.code === 'TOO_LARGE');
  });
});
