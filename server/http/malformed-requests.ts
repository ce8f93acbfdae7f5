/**
 * Requests Node's HTTP parser refuses before express sees them (a bad request line,
 * smuggling headers, oversized headers, a header timeout): answered in the registry's
 * error JSON like every other refusal, then the connection is closed. Mirrors Node's
 * own default: answer only when nothing was written on the connection yet, as a reply
 * in the middle of another response would corrupt it for the peer.
 */
import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import { RegistryError } from './errors.js';

function statusFor(code: string | undefined): number {
  if (code === 'HPE_HEADER_OVERFLOW' || code === 'HPE_CHUNK_EXTENSIONS_OVERFLOW') return 431;
  if (code === 'ERR_HTTP_REQUEST_TIMEOUT') return 408;
  return 400;
}

export function answerMalformedRequest(err: NodeJS.ErrnoException, socket: Duplex & { bytesWritten?: number }): void {
  if (err.code !== 'ECONNRESET' && socket.writable && socket.bytesWritten === 0) {
    const status = statusFor(err.code);
    const body = JSON.stringify(
      new RegistryError('UNSUPPORTED', `malformed HTTP request: ${STATUS_CODES[status]} (${err.code ?? 'parse error'})`, undefined, status).toJSON(),
    );
    socket.write(
      `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: application/json; charset=utf-8\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
  }
  socket.destroy();
}
