/** Test helpers for the native runtime: a busybox-static rootfs and a run-to-completion wrapper. */
import { execFileSync } from 'node:child_process';
import { chmodSync, closeSync, copyFileSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type ExitStatus, type SpawnOptions, spawnContainer } from './spawn.js';

const APPLETS = ['sh', 'echo', 'cat', 'ls', 'hostname', 'ps', 'env', 'grep', 'true', 'false', 'sleep', 'touch', 'wc', 'id', 'kill', 'mkdir'];

/** A temp directory with /bin/busybox and its applets; returns its path. */
export function makeBusyboxRootfs(): string {
  const root = mkdtempSync(join(tmpdir(), 'wharf-rootfs-'));
  chmodSync(root, 0o755); // mkdtemp makes it 0700: non-root users could not reach /bin
  mkdirSync(join(root, 'bin'));
  copyFileSync('/bin/busybox', join(root, 'bin', 'busybox'));
  execFileSync('chmod', ['755', join(root, 'bin', 'busybox')]);
  for (const a of APPLETS) symlinkSync('busybox', join(root, 'bin', a));
  return root;
}

/** Compiles a C program with `gcc -static` into <rootfs>/<name>. */
export function compileStatic(rootfs: string, name: string, source: string): void {
  const dir = mkdtempSync(join(tmpdir(), 'wharf-cc-'));
  try {
    writeFileSync(join(dir, `${name}.c`), source);
    execFileSync('gcc', ['-static', '-O1', '-o', join(rootfs, name), join(dir, `${name}.c`)]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Runs a container to its end with stdout+stderr captured in a temp file. */
export async function runCaptured(options: SpawnOptions): Promise<{ status: ExitStatus; output: string; pid: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'wharf-out-'));
  const file = join(dir, 'out');
  const fd = openSync(file, 'w');
  try {
    const proc = await spawnContainer({ ...options, stdio: [0, fd, fd] });
    const status = await proc.wait();
    return { status, output: readFileSync(file, 'utf8'), pid: proc.pid };
  } finally {
    closeSync(fd);
    rmSync(dir, { recursive: true, force: true });
  }
}

/** True while a process exists. */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
