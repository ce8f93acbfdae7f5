/**
 * The daemon's log: JSON lines on stdout in pino's shape, for the four methods the daemon
 * uses (debug, info, warn, error with `(fields, msg)` or `(msg)`):
 *
 *   {"level":30,"time":1700000000000,"pid":1,"name":"wharf-daemon",...fields,"msg":"..."}
 *
 * An Error in a field is written as pino's err serializer writes it (type, message, stack,
 * its own properties, a cause), an object met a second time (a cycle) as "[Circular]", a
 * BigInt as its digits. Lines are written in order, one write at a time off the event loop;
 * what is pending when the process exits is written then.
 *
 * pino (with sonic-boom, thread-stream and worker_threads) cost the daemon ~1.5 MiB of RSS
 * for these few lines (bench/daemon-start's path, 20 containers running: 63.5 / 64.0 ->
 * 62.3 / 62.0 MiB; idle after start 58.2 -> 57.3). The registry server keeps pino.
 */
import { write, writeSync } from 'node:fs';

const LEVELS = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60, silent: Infinity } as const;

type LogFn = (fieldsOrMsg: object | string, msg?: string) => void;

export interface DaemonLog {
  debug: LogFn;
  info: LogFn;
  warn: LogFn;
  error: LogFn;
}

function serializeError(e: Error, seen: WeakSet<object>): Record<string, unknown> {
  seen.add(e);
  const out: Record<string, unknown> = { type: e.constructor?.name ?? 'Error', message: e.message, stack: e.stack };
  for (const [k, v] of Object.entries(e)) if (!(k in out)) out[k] = v;
  if (e.cause instanceof Error && !seen.has(e.cause)) out.cause = serializeError(e.cause, seen);
  return out;
}

/** JSON of the fields; Errors serialized, cycles and BigInts made printable. */
function fieldsJson(fields: object): string {
  const seen = new WeakSet<object>();
  return JSON.stringify(fields, function (this: unknown, _key: string, value: unknown) {
    if (typeof value === 'bigint') return value.toString();
    if (value === null || typeof value !== 'object') return value;
    if (value instanceof Error) return seen.has(value) ? '[Circular]' : serializeError(value, seen);
    if (seen.has(value)) return '[Circular]';
    seen.add(value);
    return value;
  });
}

/** A log at `level` (debug, info, warn, error, ...) with `base` fields on every line, to `fd`. */
export function daemonLog(level: string, base: Record<string, unknown>, fd = 1): DaemonLog {
  if (!Object.hasOwn(LEVELS, level)) throw new Error(`unknown level ${level}`);
  const min = LEVELS[level as keyof typeof LEVELS];
  const head = JSON.stringify(base).slice(1, -1);
  let pending = '';
  let writing = false;
  const flush = (): void => {
    if (writing || pending === '') return;
    const chunk = pending;
    pending = '';
    writing = true;
    write(fd, chunk, null, 'utf8', (err, written) => {
      writing = false;
      if (err && (err as NodeJS.ErrnoException).code === 'EAGAIN') {
        pending = chunk + pending;
        setTimeout(flush, 10);
        return;
      }
      // A short write (a pipe): the rest goes first. Another error: the line is lost, as with pino.
      if (!err && written < Buffer.byteLength(chunk)) pending = Buffer.from(chunk).subarray(written).toString() + pending;
      flush();
    });
  };
  process.once('exit', () => {
    if (pending === '') return;
    try {
      writeSync(fd, pending);
    } catch {
      /* nowhere to report it */
    }
  });
  const fn = (n: number): LogFn => {
    if (n < min) return () => undefined;
    return (fieldsOrMsg, msg) => {
      let fields = '';
      if (typeof fieldsOrMsg === 'string') msg = fieldsOrMsg;
      else {
        const json = fieldsJson(fieldsOrMsg);
        if (json !== undefined && json.length > 2) fields = `,${json.slice(1, -1)}`;
      }
      pending += `{"level":${n},"time":${Date.now()}${head ? `,${head}` : ''}${fields}${msg !== undefined ? `,"msg":${JSON.stringify(msg)}` : ''}}\n`;
      flush();
    };
  };
  return { debug: fn(LEVELS.debug), info: fn(LEVELS.info), warn: fn(LEVELS.warn), error: fn(LEVELS.error) };
}
