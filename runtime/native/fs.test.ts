import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, constants as fsc, lstatSync, mkdirSync, mkdtempSync, openSync, readFileSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SyscallError, lgetxattr, lsetxattr, mknod, mount, umount } from './fs.js';
import { isMounted } from '../layers/snapshots.js';

function rejectsSyscall(fn: () => unknown, code: string, syscall: string, path?: string): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof SyscallError, `expected a SyscallError, got ${String(e)}`);
    assert.equal(e.code, code);
    assert.equal(e.syscall, syscall);
    if (path !== undefined) assert.equal(e.path, path);
    assert.ok(e.errno < 0, 'errno is negative, as in Node');
    assert.match(e.message, new RegExp(`^${code}: .+, ${syscall}`));
    return true;
  });
}

function rejectsArg(fn: () => unknown, pattern: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof TypeError || e instanceof RangeError, `expected a TypeError/RangeError, got ${String(e)}`);
    assert.equal((e as { code?: string }).code, 'ERR_INVALID_ARG_VALUE');
    assert.match(e.message, pattern);
    return true;
  });
}

describe('native filesystem syscalls', () => {
  let root: string;
  /** A tmpfs of our own, mounted by the code under test: xattrs of every namespace work there. */
  let scratch: string;
  const mounted: string[] = [];

  before(() => {
    root = mkdtempSync(join(tmpdir(), 'wharf-nfs-'));
    scratch = join(root, 'scratch');
    mkdirSync(scratch);
    mount('tmpfs', scratch, 'tmpfs', ['nosuid'], 'size=8m,mode=0755');
    mounted.push(scratch);
  });

  after(async () => {
    for (const m of mounted.reverse()) {
      while (await isMounted(m)) umount(m, { detach: true });
    }
    rmSync(root, { recursive: true, force: true });
  });

  test('mount and umount a tmpfs', async () => {
    const dir = join(root, 't1');
    mkdirSync(dir);
    mount('tmpfs', dir, 'tmpfs', ['nosuid', 'nodev', 'noexec'], 'size=1m');
    assert.ok(await isMounted(dir));
    writeFileSync(join(dir, 'f'), 'x');
    const line = readFileSync('/proc/self/mountinfo', 'utf8').split('\n').find((l) => l.split(' ')[4] === dir)!;
    assert.match(line.split(' ')[5]!, /nosuid/);
    assert.match(line.split(' ')[5]!, /noexec/);
    umount(dir);
    assert.equal(await isMounted(dir), false);
    assert.deepEqual(readdirSync(dir), [], 'the file was on the tmpfs');
  });

  test('a read-only mount refuses writes with EROFS', async () => {
    const dir = join(root, 'ro');
    mkdirSync(dir);
    mount('tmpfs', dir, 'tmpfs', ['rdonly']);
    try {
      assert.throws(() => writeFileSync(join(dir, 'f'), 'x'), { code: 'EROFS' });
    } finally {
      umount(dir);
    }
  });

  test('overlay with relative lowerdirs resolved from cwd; the process cwd is untouched', async () => {
    const base = join(scratch, 'ov');
    for (const d of ['layers/a', 'layers/b', 'upper', 'work', 'merged']) mkdirSync(join(base, d), { recursive: true });
    writeFileSync(join(base, 'layers/a/f'), 'from a');
    writeFileSync(join(base, 'layers/b/f'), 'from b');
    writeFileSync(join(base, 'layers/a/only-a'), '');
    const cwdBefore = process.cwd();
    const merged = join(base, 'merged');
    mount('overlay', merged, 'overlay', [], `lowerdir=b:a,upperdir=${base}/upper,workdir=${base}/work`, { cwd: join(base, 'layers') });
    try {
      assert.equal(process.cwd(), cwdBefore);
      assert.deepEqual(readdirSync(merged).sort(), ['f', 'only-a']);
      assert.equal(readFileSync(join(merged, 'f'), 'utf8'), 'from b', 'the first lowerdir is on top');
    } finally {
      umount(merged);
    }
  });

  test('errno mapping: ENOENT, EINVAL, ENODEV, chdir failures', () => {
    const missing = join(root, 'no-such-dir');
    rejectsSyscall(() => mount('tmpfs', missing, 'tmpfs'), 'ENOENT', 'mount', missing);
    rejectsSyscall(() => umount(root), 'EINVAL', 'umount2', root);
    const dir = join(root, 'nodev');
    mkdirSync(dir);
    rejectsSyscall(() => mount('x', dir, 'wharf-no-such-fs'), 'ENODEV', 'mount', dir);
    rejectsSyscall(() => mount('overlay', dir, 'overlay', [], 'lowerdir=a', { cwd: missing }), 'ENOENT', 'chdir', missing);
    rejectsSyscall(() => mknod(join(missing, 'x'), fsc.S_IFIFO | 0o600), 'ENOENT', 'mknod');
  });

  test('umount of a busy mount: EBUSY, unless detached', async () => {
    const dir = join(root, 'busy');
    mkdirSync(dir);
    mount('tmpfs', dir, 'tmpfs');
    const fd = openSync(join(dir, 'held'), 'w');
    try {
      rejectsSyscall(() => umount(dir), 'EBUSY', 'umount2', dir);
      umount(dir, { detach: true });
      assert.equal(await isMounted(dir), false);
    } finally {
      closeSync(fd);
    }
  });

  test('mknod: an overlay whiteout (0/0 char device), a FIFO, a block device', () => {
    const wh = join(scratch, 'whiteout');
    mknod(wh, fsc.S_IFCHR | 0o600, 0, 0);
    const st = lstatSync(wh);
    assert.ok(st.isCharacterDevice());
    assert.equal(st.rdev, 0);
    assert.equal(st.mode & 0o777, 0o600);

    const fifo = join(scratch, 'fifo');
    mknod(fifo, fsc.S_IFIFO | 0o644);
    assert.ok(lstatSync(fifo).isFIFO());

    const blk = join(scratch, 'sda1');
    mknod(blk, fsc.S_IFBLK | 0o660, 8, 1);
    const b = lstatSync(blk);
    assert.ok(b.isBlockDevice());
    assert.equal(b.rdev, (8 << 8) | 1);

    rejectsSyscall(() => mknod(wh, fsc.S_IFCHR | 0o600), 'EEXIST', 'mknod', wh);
  });

  test('xattrs: binary values round-trip, symlinks are not followed, ENODATA, create/replace', () => {
    const f = join(scratch, 'xf');
    writeFileSync(f, '');
    const all = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    lsetxattr(f, 'trusted.wharf.bin', all);
    assert.deepEqual(lgetxattr(f, 'trusted.wharf.bin'), all);
    lsetxattr(f, 'trusted.overlay.opaque', Buffer.from('y'));
    assert.equal(lgetxattr(f, 'trusted.overlay.opaque').toString(), 'y');
    lsetxattr(f, 'user.empty', Buffer.alloc(0));
    assert.equal(lgetxattr(f, 'user.empty').length, 0);

    rejectsSyscall(() => lgetxattr(f, 'user.absent'), 'ENODATA', 'lgetxattr', f);
    rejectsSyscall(() => lsetxattr(f, 'trusted.wharf.bin', Buffer.from('z'), { create: true }), 'EEXIST', 'lsetxattr', f);
    rejectsSyscall(() => lsetxattr(f, 'user.absent', Buffer.from('z'), { replace: true }), 'ENODATA', 'lsetxattr', f);

    const link = join(scratch, 'xlink');
    symlinkSync(f, link);
    lsetxattr(link, 'trusted.on-link', Buffer.from('L'));
    assert.equal(lgetxattr(link, 'trusted.on-link').toString(), 'L');
    rejectsSyscall(() => lgetxattr(f, 'trusted.on-link'), 'ENODATA', 'lgetxattr');
    assert.equal(statSync(link).isFile(), true);
  });

  test('arguments are validated before any syscall', () => {
    rejectsArg(() => mount('tmpfs', 'relative/dir', 'tmpfs'), /absolute path/);
    rejectsArg(() => mount('tmpfs', `${root}/a\0b`, 'tmpfs'), /NUL byte/);
    rejectsArg(() => mount('tmpfs', root, 'tmpfs', ['bogus' as never]), /unknown mount flag: bogus/);
    rejectsArg(() => mount('', root, '', ['private', 'nosuid']), /private combines only with rec/);
    rejectsArg(() => mount('', root, '', ['move', 'rdonly']), /move combines with no other/);
    rejectsArg(() => mount('tmpfs', root, 'Tmp FS'), /invalid fstype/);
    rejectsArg(() => mount('tmpfs', root, 'tmpfs', [], 'x'.repeat(5000)), /more than one page/);
    rejectsArg(() => mount('tmpfs', root, 'tmpfs', [], '', { cwd: 'rel' }), /cwd must be an absolute path/);
    rejectsArg(() => umount('rel'), /absolute path/);
    rejectsArg(() => mknod(join(root, 'r'), fsc.S_IFREG | 0o644), /S_IFCHR, S_IFBLK or S_IFIFO/);
    rejectsArg(() => mknod(join(root, 'r'), fsc.S_IFCHR | 0o600, 4096, 0), /major/);
    rejectsArg(() => mknod(join(root, 'r'), fsc.S_IFCHR | 0o600, 0, -1), /minor/);
    rejectsArg(() => lsetxattr(join(root, 'r'), 'noprefix', Buffer.alloc(1)), /no known namespace/);
    rejectsArg(() => lsetxattr(join(root, 'r'), 'user.', Buffer.alloc(1)), /no known namespace/);
    rejectsArg(() => lsetxattr(join(root, 'r'), `user.${'n'.repeat(300)}`, Buffer.alloc(1)), /1\.\.255 bytes/);
    rejectsArg(() => lsetxattr(join(root, 'r'), 'user.big', Buffer.alloc(65537)), /at most 65536/);
    rejectsArg(() => lsetxattr(join(root, 'r'), 'user.s', 'str' as never), /must be a Buffer/);
    rejectsArg(() => lsetxattr(join(root, 'r'), 'user.s', Buffer.alloc(1), { create: true, replace: true }), /exclude/);
  });
});
