/**
 * SpawnOptions.binds: host files and directories bound into real containers, targets
 * resolved inside the rootfs and created with the source's type, read-only when asked.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ContainerStartError, InvalidSpecError, spawnContainer } from './spawn.js';
import { makeBusyboxRootfs, runCaptured } from './testing.js';

describe('bind mounts', () => {
  let rootfs: string;
  let host: string;
  const sh = (script: string): string[] => ['sh', '-c', script];

  before(() => {
    rootfs = makeBusyboxRootfs();
    host = mkdtempSync(join(tmpdir(), 'wharf-binds-host-'));
    mkdirSync(join(host, 'dir'));
    writeFileSync(join(host, 'dir', 'in-dir'), 'from the host dir\n');
    writeFileSync(join(host, 'file'), 'from the host file\n');
    // An image's symlinks naming host paths: a bind target through them stays inside.
    mkdirSync(join(rootfs, 'etc'));
    symlinkSync(join(host, 'victim'), join(rootfs, 'evil'));
    symlinkSync(join(host, 'victim-file'), join(rootfs, 'etc', 'evilfile'));
    mkdirSync(join(host, 'victim'));
  });

  after(() => {
    assert.ok(!readFileSync('/proc/self/mountinfo', 'utf8').includes(rootfs), 'a container mount leaked to the host');
    rmSync(rootfs, { recursive: true, force: true });
    rmSync(host, { recursive: true, force: true });
  });

  test('a directory bind is read-write and creates its target', async () => {
    const r = await runCaptured({
      rootfs,
      args: sh('cat /data/in-dir; echo new > /data/made-inside && echo wrote'),
      binds: [{ source: join(host, 'dir'), target: '/mnt/deep/data', readonly: false }, { source: join(host, 'dir'), target: '/data', readonly: false }],
    });
    assert.equal(r.output, 'from the host dir\nwrote\n');
    assert.equal(readFileSync(join(host, 'dir', 'made-inside'), 'utf8'), 'new\n');
    assert.ok(statSync(join(rootfs, 'mnt', 'deep', 'data')).isDirectory());
  });

  test('a read-only file bind can be read, not written', async () => {
    const r = await runCaptured({
      rootfs,
      args: sh('cat /etc/motd; echo x >> /etc/motd; echo rc=$?'),
      binds: [{ source: join(host, 'file'), target: '/etc/motd', readonly: true }],
    });
    assert.match(r.output, /^from the host file\n.*Read-only file system\nrc=1\n$/s);
    assert.equal(readFileSync(join(host, 'file'), 'utf8'), 'from the host file\n');
    assert.ok(statSync(join(rootfs, 'etc', 'motd')).isFile(), 'the target was created as a file');
  });

  test('targets through image symlinks to host paths are created inside the rootfs', async () => {
    const r = await runCaptured({
      rootfs,
      args: sh('cat /evil/sub/in-dir; cat /etc/evilfile'),
      binds: [
        { source: join(host, 'dir'), target: '/evil/sub', readonly: true },
        { source: join(host, 'file'), target: '/etc/evilfile', readonly: true },
      ],
    });
    assert.equal(r.output, 'from the host dir\nfrom the host file\n');
    assert.deepEqual(readdirSync(join(host, 'victim')), [], 'a directory was made on the host');
    assert.equal(existsSync(join(host, 'victim-file')), false, 'a file was made on the host');
    assert.ok(statSync(join(rootfs, host, 'victim', 'sub')).isDirectory());
    assert.ok(statSync(join(rootfs, host, 'victim-file')).isFile());
  });

  test('a file source onto a directory target fails at the binds step', async () => {
    await assert.rejects(
      spawnContainer({ rootfs, args: ['true'], binds: [{ source: join(host, 'file'), target: '/bin', readonly: false }] }),
      (e: unknown) => e instanceof ContainerStartError && e.step === 'binds' && e.code === 'EISDIR',
    );
  });

  test('bind arguments are validated', async () => {
    const bad = [
      [{ source: 'relative', target: '/x', readonly: false }],
      [{ source: join(host, 'missing'), target: '/x', readonly: false }],
      [{ source: join(host, 'file'), target: 'x', readonly: false }],
      [{ source: join(host, 'file'), target: '/', readonly: false }],
      [{ source: join(host, 'file'), target: '/./', readonly: false }],
      [{ source: join(host, 'file'), target: '/x', readonly: 'yes' }],
      [{ source: join(host, 'file'), target: '/x\0y', readonly: false }],
      'not an array',
    ];
    for (const binds of bad) {
      await assert.rejects(spawnContainer({ rootfs, args: ['true'], binds: binds as never }), InvalidSpecError, JSON.stringify(binds));
    }
  });
});
