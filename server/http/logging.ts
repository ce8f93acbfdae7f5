/**
 * Structured logs with pino. A GET never waits on a log write: lines gather in memory
 * and are written when 4 KiB are waiting or, at the latest, FLUSH_MS after the first of
 * them, so each line reaches stdout promptly even when the server is quiet. Exit paths
 * flush what is left (server/index.ts on close; pino's own handler on a crash).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { pino, type Logger } from 'pino';
import type { LogConfig } from '../../config/config.js';

export type { Logger };

const FLUSH_MS = 100;

export function createLogger(config: LogConfig): Logger {
  const destination = pino.destination({ sync: false, minLength: 4096 });
  const logger = pino({ level: config.level, base: { service: 'wharf' } }, destination);
  // One timer for the process, never keeping it alive; flush() is a no-op when nothing waits.
  setInterval(() => destination.flush(), FLUSH_MS).unref();
  // An uncaught error still leaves its lines behind: write them synchronously on the way out.
  process.once('exit', () => {
    try {
      destination.flushSync();
    } catch {
      /* stdout already gone */
    }
  });
  return logger;
}

interface Logged extends ServerResponse {
  wharfLog?: { logger: Logger; start: bigint; remote: string | undefined; method: string | undefined; url: string | undefined };
  wharfBodyBytes?: number;
}

/**
 * For a response whose headers went out by writeHead's flat list (getHeader cannot see
 * those): the body length its log line reports.
 */
export function noteBodyLength(res: ServerResponse, bytes: number): void {
  (res as Logged).wharfBodyBytes = bytes;
}

/**
 * Log one line per request when its answer is finished (or the client went away). The
 * line is pino's own shape (level, time, the logger's bindings, the fields, msg), written
 * straight to its destination: pino's generic path (serialisers, hooks, key loops) was a
 * twentieth of a manifest GET's cost. One shared listener, the state on the response.
 */
export function logRequest(logger: Logger, req: IncomingMessage, res: ServerResponse): void {
  if (!logger.isLevelEnabled('info')) return;
  // Read now: by 'finish' a closed connection has left req.socket null, and a throw there crashes the process.
  (res as Logged).wharfLog = {
    logger,
    start: process.hrtime.bigint(),
    remote: req.socket?.remoteAddress,
    method: req.method,
    url: (req as { originalUrl?: string }).originalUrl ?? req.url,
  };
  res.on('finish', logFinished);
}

function logFinished(this: Logged): void {
  const entry = this.wharfLog;
  if (!entry) return;
  this.wharfLog = undefined;
  const ms = Number(process.hrtime.bigint() - entry.start) / 1e6;
  const bytes = Number(this.getHeader('content-length') ?? this.wharfBodyBytes ?? 0);
  const stream = (entry.logger as unknown as Record<symbol, unknown>)[pino.symbols.streamSym] as { write?: (line: string) => void } | undefined;
  const bindings = (entry.logger as unknown as Record<symbol, unknown>)[pino.symbols.chindingsSym];
  if (typeof stream?.write !== 'function' || typeof bindings !== 'string') {
    entry.logger.info({ method: entry.method, url: entry.url, status: this.statusCode, ms, bytes, remote: entry.remote }, 'request');
    return;
  }
  // The method is an HTTP token and the address an IP: neither needs escaping; the URL may.
  stream.write(
    `{"level":30,"time":${Date.now()}${bindings},"method":"${entry.method}","url":${JSON.stringify(entry.url)},"status":${this.statusCode},"ms":${ms},"bytes":${bytes}${entry.remote === undefined ? '' : `,"remote":"${entry.remote}"`},"msg":"request"}\n`,
  );
}
