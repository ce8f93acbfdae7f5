/**
 * The user's terminal on a hijacked connection (attach, run, start -a, exec), as the
 * docker CLI's hijackedIOStreamer does it:
 *
 *   output   raw bytes with a TTY; 8-byte multiplexed frames without (stdout/stderr apart)
 *   input    our stdin copied to the connection, then a half-close (CloseWrite) at its end
 *   -t       the user's terminal in raw mode for the session, restored on every way out;
 *            its size sent now and on every SIGWINCH (the caller's resize endpoint)
 *   detach   the escape sequence (Ctrl-P Ctrl-Q by default) typed on stdin ends the
 *            session and leaves the container running; a partial sequence is passed on
 *            once the next key shows it was not one
 */
import type { Duplex } from 'node:stream';
import { CliError } from '../engine/client.js';
import { Demuxer, STREAM_STDOUT } from '../engine/stdcopy.js';

export const DEFAULT_DETACH_KEYS = 'ctrl-p,ctrl-q';

/** docker's term.ToBytes: "ctrl-p,ctrl-q" -> [0x10, 0x11]; single characters as themselves. */
export function detachKeyBytes(spec: string): Buffer {
  const out: number[] = [];
  for (const key of spec.split(',')) {
    const k = key.trim().toLowerCase();
    const ctrl = /^ctrl-([a-z@\[\\\]^_])$/.exec(k);
    if (ctrl) out.push(ctrl[1]!.charCodeAt(0) & 0x1f);
    else if ([...key].length === 1) out.push(key.charCodeAt(0));
    else throw new CliError(`invalid detach keys (${spec}) provided: use ctrl-<value> or a single character, separated by commas`);
  }
  return Buffer.from(out);
}

/** Finds the escape sequence in a stream of input chunks (docker's term.EscapeProxy). */
export class EscapeProxy {
  private matched = 0;

  constructor(private readonly keys: Buffer) {}

  /** What to forward from this chunk, and whether the sequence completed. */
  feed(chunk: Buffer): { forward: Buffer; detached: boolean } {
    const forward: number[] = [];
    for (const byte of chunk) {
      if (this.keys.length > 0 && byte === this.keys[this.matched]) {
        this.matched++;
        if (this.matched === this.keys.length) return { forward: Buffer.from(forward), detached: true };
        continue;
      }
      // Not the sequence after all: what was held back goes through first.
      for (let i = 0; i < this.matched; i++) forward.push(this.keys[i]!);
      this.matched = 0;
      if (this.keys.length > 0 && byte === this.keys[0]) this.matched = 1;
      else forward.push(byte);
    }
    return { forward: Buffer.from(forward), detached: false };
  }
}

export interface StreamSession {
  socket: Duplex;
  tty: boolean;
  /** copy our stdin to the container */
  stdin: boolean;
  detachKeys?: string;
  /** send the terminal size (h, w) to the daemon; called at start and on SIGWINCH */
  resize?: (rows: number, cols: number) => Promise<void>;
}

export interface StreamResult {
  /** the user typed the detach keys */
  detached: boolean;
}

/** Pumps the session until the daemon closes the stream or the user detaches. */
export async function pumpStreams(s: StreamSession): Promise<StreamResult> {
  const stdin = process.stdin;
  const rawTerminal = s.tty && s.stdin && stdin.isTTY === true;
  // libuv's raw mode keeps output processing (OPOST with ONLCR), so the container's pty
  // output, already \r\n, would reach the screen as \r\r\n. docker clears OPOST as
  // cfmakeraw does; Node has no termios call, so stty does it on our terminal. Leaving
  // raw mode restores the terminal's settings from before, OPOST included.
  const clearOutputProcessing = rawTerminal
    ? (await import('node:child_process')).spawnSync.bind(undefined, 'stty', ['-opost'], { stdio: ['inherit', 'ignore', 'ignore'] })
    : undefined;
  return new Promise((resolve, reject) => {
    let finished = false;
    const onWinch = () => {
      const { rows, columns } = process.stdout;
      if (rows && columns) s.resize?.(rows, columns).catch(() => undefined);
    };
    const finish = (detached: boolean, err?: unknown) => {
      if (finished) return;
      finished = true;
      if (rawTerminal) stdin.setRawMode(false);
      if (s.stdin) {
        stdin.off('data', onInput);
        stdin.off('end', onInputEnd);
        stdin.pause();
      }
      process.stdout.off('resize', onWinch);
      if (detached) s.socket.destroy();
      if (err) reject(err);
      else {
        // Output written, then done (a pipe may still be flushing).
        const done = () => resolve({ detached });
        if (process.stdout.writableNeedDrain) process.stdout.once('drain', done);
        else done();
      }
    };

    // Output.
    const demux = s.tty
      ? undefined
      : new Demuxer((stream, payload) => (stream === STREAM_STDOUT ? process.stdout : process.stderr).write(payload));
    s.socket.on('data', (chunk: Buffer) => {
      try {
        if (demux) demux.push(chunk);
        else process.stdout.write(chunk);
      } catch (e) {
        finish(false, e);
      }
    });
    s.socket.on('end', () => finish(false));
    s.socket.on('close', () => finish(false));
    s.socket.on('error', (e) => finish(false, e));

    // Input.
    const proxy = s.stdin && s.tty ? new EscapeProxy(detachKeyBytes(s.detachKeys ?? DEFAULT_DETACH_KEYS)) : undefined;
    function onInput(chunk: Buffer) {
      if (!proxy) return void s.socket.write(chunk);
      const { forward, detached } = proxy.feed(chunk);
      if (forward.length > 0) s.socket.write(forward);
      if (detached) finish(true);
    }
    function onInputEnd() {
      // docker: CloseWrite, so the program sees EOF on its stdin while output still flows.
      s.socket.end();
    }
    if (s.stdin) {
      if (rawTerminal) {
        stdin.setRawMode(true);
        clearOutputProcessing?.();
      }
      stdin.on('data', onInput);
      stdin.on('end', onInputEnd);
      stdin.resume();
    }
    if (s.tty && process.stdout.isTTY) {
      process.stdout.on('resize', onWinch);
      onWinch();
    }
  });
}
