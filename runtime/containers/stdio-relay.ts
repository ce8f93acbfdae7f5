/**
 * The container's stdio without -t: pipes that `wharf run` relays, never the caller's own
 * fds. A container given the caller's terminal as fd 0-2 could push keystrokes into the
 * caller's shell (TIOCSTI), change its modes or read its input; a pipe is not a terminal.
 *
 *   stdin    /dev/null, or with -i a pipe fed from the caller's stdin (EOF passed on)
 *   stdout   a pipe copied to the caller's stdout          } in order within each stream,
 *   stderr   a pipe copied to the caller's stderr          } every byte, until EOF
 *
 * open() makes the pipes before clone; the child ends go to spawn as `fds`; started()
 * closes them here and begins copying; finished() resolves once both output pipes reached
 * EOF (the container and everything in it closed them) and the bytes were handed over.
 */
import { closeSync, openSync } from 'node:fs';
import { Socket } from 'node:net';
import type { Readable, Writable } from 'node:stream';
import { createPipe } from '../native/spawn.js';

export interface CallerStdio {
  /** read only with -i */
  stdin: Readable;
  stdout: Writable;
  stderr: Writable;
}

export class StdioRelay {
  private childEnds: number[];
  private ours: { stdin?: number; stdout: number; stderr: number };
  private copies: Promise<void>[] = [];
  private stdinSocket: Socket | undefined;
  private closed = false;

  private constructor(
    /** the container's 0, 1, 2 */
    readonly fds: [number, number, number],
    ours: { stdin?: number; stdout: number; stderr: number },
    private readonly caller: CallerStdio,
  ) {
    this.childEnds = [...fds];
    this.ours = ours;
  }

  static open(interactive: boolean, caller: CallerStdio): StdioRelay {
    const opened: number[] = [];
    try {
      let stdinChild: number;
      let stdinOurs: number | undefined;
      if (interactive) {
        const p = createPipe();
        opened.push(p.read, p.write);
        stdinChild = p.read;
        stdinOurs = p.write;
      } else {
        stdinChild = openSync('/dev/null', 'r');
        opened.push(stdinChild);
      }
      const out = createPipe();
      opened.push(out.read, out.write);
      const err = createPipe();
      opened.push(err.read, err.write);
      const ours = stdinOurs === undefined ? { stdout: out.read, stderr: err.read } : { stdin: stdinOurs, stdout: out.read, stderr: err.read };
      return new StdioRelay([stdinChild, out.write, err.write], ours, caller);
    } catch (e) {
      for (const fd of opened) closeSync(fd);
      throw e;
    }
  }

  /** The container runs (it holds its own copies of the child ends): copy from now on. */
  started(): void {
    this.closeChildEnds();
    this.copies = [copyToEnd(this.ours.stdout, this.caller.stdout), copyToEnd(this.ours.stderr, this.caller.stderr)];
    if (this.ours.stdin !== undefined) {
      const sock = new Socket({ fd: this.ours.stdin, readable: false, writable: true });
      // The container may close its stdin early (EPIPE): that ends the copy, nothing else.
      sock.on('error', () => this.stopStdin());
      this.caller.stdin.pipe(sock);
      this.stdinSocket = sock;
    }
  }

  /** Both output streams were copied to EOF. Stops reading the caller's stdin. */
  async finished(): Promise<void> {
    await Promise.all(this.copies);
    this.stopStdin();
  }

  /** The start failed: close everything (no copy was started). */
  abort(): void {
    this.closeChildEnds();
    if (this.closed) return;
    this.closed = true;
    if (this.copies.length === 0) {
      for (const fd of [this.ours.stdin, this.ours.stdout, this.ours.stderr]) if (fd !== undefined) closeSync(fd);
    } else this.stopStdin();
  }

  private closeChildEnds(): void {
    for (const fd of this.childEnds.splice(0)) closeSync(fd);
  }

  private stopStdin(): void {
    const sock = this.stdinSocket;
    if (!sock) return;
    this.stdinSocket = undefined;
    this.caller.stdin.unpipe(sock);
    // Paused, the caller's stdin no longer keeps the event loop alive.
    this.caller.stdin.pause();
    sock.destroy();
  }
}

/** Copies a pipe to `dest` until EOF, keeping `dest` open; resolves once the last byte was written. */
function copyToEnd(fd: number, dest: Writable): Promise<void> {
  return new Promise((resolve) => {
    const src = new Socket({ fd, readable: true, writable: false });
    // A caller that stopped reading (EPIPE) must not crash wharf: the rest is dropped, as by docker.
    const onDestError = () => src.destroy();
    dest.on('error', onDestError);
    const done = () => {
      dest.off('error', onDestError);
      resolve();
    };
    src.on('error', () => undefined);
    src.on('close', () => {
      if (dest.destroyed || dest.writableEnded) return done();
      // Queued behind every byte written before it: resolves once those are flushed.
      dest.write('', () => done());
    });
    src.pipe(dest, { end: false });
  });
}
