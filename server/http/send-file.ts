/**
 * Blob bodies by sendfile(2) on plain HTTP: the kernel moves the bytes from the page cache
 * to the socket, no read into user space, as registry:2 does. Its own tiny addon
 * (server/http/native/sendfile.cc -> build/Release/wharf_sendfile.node); server/ never
 * loads runtime/'s. TLS, a missing addon, or a socket that is not a plain TCP one answer
 * false, and the caller streams instead. A growing file (a cache fill, storage's GrowingFile)
 * goes out in steps, each what its writer has made sendable by then.
 *
 * The order that keeps the wire right: the headers go out through Node (the write's
 * callback means libuv handed them to the kernel), nothing else is queued on the socket,
 * then the addon writes the body on the socket's fd; only then does Node end the
 * response (with Content-Length set, it writes nothing more) and keep-alive carries on.
 */
import { open, type FileHandle } from 'node:fs/promises';
import { createRequire } from 'node:module';
import type { ServerResponse } from 'node:http';
import { dirname, join } from 'node:path';
import type { Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import type { GrowingFile } from '../../storage/types.js';

interface SendFileAddon {
  sendFile(socketFd: number, fileFd: number, offset: number, length: number, callback: (err: NodeJS.ErrnoException | null, sent: number) => void): void;
}

let addon: SendFileAddon | null | undefined;

/** Bytes each socket carried by sendfile, which Node's socket.bytesWritten cannot see. */
const sentBySendfile = new WeakMap<Socket, number>();

/** Bytes written on `socket` so far, sendfile's included (for the metrics). */
export function bytesWrittenOn(socket: Socket): number {
  return socket.bytesWritten + (sentBySendfile.get(socket) ?? 0);
}

function loadAddon(): SendFileAddon | null {
  if (addon !== undefined) return addon;
  // dist/server/http/send-file.js -> <checkout>/build/Release/wharf_sendfile.node
  const path = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'build', 'Release', 'wharf_sendfile.node');
  try {
    addon = createRequire(import.meta.url)(path) as SendFileAddon;
  } catch {
    addon = null;
  }
  return addon;
}

function socketFd(socket: Socket | null): number | undefined {
  if (!socket || (socket as { encrypted?: boolean }).encrypted) return undefined;
  const fd = (socket as unknown as { _handle?: { fd?: number } })._handle?.fd;
  return typeof fd === 'number' && fd >= 0 ? fd : undefined;
}

/**
 * Send `length` bytes of the file at `path` from `start` as the response body. False when
 * this response cannot take the fast path (nothing was written then); true once the body
 * was sent, or the connection was cut because the client went away mid-body.
 */
export async function sendFileBody(res: ServerResponse, source: string | GrowingFile, start: number, length: number): Promise<boolean> {
  const native = loadAddon();
  const socket = res.socket;
  if (!native || socketFd(socket) === undefined) return false;
  const growing = typeof source === 'string' ? undefined : source;
  const path = growing ? await growing.path() : (source as string);
  if (path === undefined) return false;
  // Opened before anything is sent: a blob that is not there (yet) takes the streaming path.
  // A growing file stays readable through this fd after it is renamed into the store.
  let file: FileHandle;
  try {
    file = await open(path, 'r');
  } catch {
    return false;
  }
  try {
    return await sendOpenFile(native, res, file, start, length, growing);
  } finally {
    await file.close();
  }
}

/** One sendfile(2) of [offset, offset + length) on the response's socket, off the main thread. */
function sendRange(native: SendFileAddon, res: ServerResponse, file: FileHandle, offset: number, length: number): Promise<void> {
  const sock = res.socket;
  const fd = socketFd(sock);
  if (!sock || fd === undefined) return Promise.reject(new Error('the client went away'));
  return new Promise<void>((resolve, reject) =>
    native.sendFile(fd, file.fd, offset, length, (err, sent) => {
      sentBySendfile.set(sock, (sentBySendfile.get(sock) ?? 0) + sent);
      if (err) reject(err);
      else resolve();
    }),
  );
}

async function sendOpenFile(
  native: SendFileAddon,
  res: ServerResponse,
  file: FileHandle,
  start: number,
  length: number,
  growing: GrowingFile | undefined,
): Promise<true> {
  // The headers first, through Node; their callback comes once libuv wrote them.
  await new Promise<void>((resolve, reject) => res.write('', (err) => (err ? reject(err) : resolve())));
  const fd = socketFd(res.socket);
  if (fd === undefined || res.socket!.writableLength > 0) {
    // Not what we expect after the headers flushed; never interleave with Node's queue.
    res.destroy();
    return true;
  }
  const sock = res.socket!;
  // No activity reaches libuv while the kernel sends: the idle timer must not fire meanwhile.
  const timeout = sock.timeout ?? 0;
  sock.setTimeout(0);
  try {
    const end = start + length;
    // A growing file goes out in steps, each what was written (and may be sent) by then.
    for (let pos = start; pos < end; ) {
      const upTo = growing ? Math.min(await growing.readableAfter(pos), end) : end;
      await sendRange(native, res, file, pos, upTo - pos);
      pos = upTo;
    }
  } catch {
    // The client went away (EPIPE, ECONNRESET), the file was short, or a growing one will
    // not grow to its end: the response cannot be completed, so the connection goes.
    res.destroy();
    return true;
  }
  if (timeout > 0) sock.setTimeout(timeout);
  res.end();
  return true;
}
