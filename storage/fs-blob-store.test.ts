/** The filesystem BlobStore on a real temp directory. */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, it } from 'node:test';
import {
  BlobUnknownError,
  DigestMismatchError,
  SizeMismatchError,
  UploadBusyError,
  UploadOffsetError,
  UploadUnknownError,
} from './errors.js';
import { FsBlobStore, isUploadId } from './fs-blob-store.js';
import type { Digest } from '../oci/names.js';

function digestOf(bytes: Buffer, algorithm: 'sha256' | 'sha512' = 'sha256'): Digest {
  return `${algorithm}:${createHash(algorithm).update(bytes).digest('hex')}` as Digest;
}

function bytesOf(size: number, seed = 1): Buffer {
  const b = Buffer.alloc(size);
  for (let i = 0; i < size; i++) b[i] = (i * 31 + seed * 7) & 0xff;
  return b;
}

async function readStream(s: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of s) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/** A stream yielding `parts` one by one, then failing (a client that goes away). */
function failingStream(parts: Buffer[]): Readable {
  return Readable.from(
    (async function* () {
      for (const p of parts) yield p;
      throw new Error('client went away');
    })(),
  );
}

describe('FsBlobStore', () => {
  let root: string;
  let store: FsBlobStore;

  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'wharf-blobs-'));
    store = await FsBlobStore.open(root);
  });
  afterEach(() => rm(root, { recursive: true, force: true }));

  it('put stores a blob at blobs/<alg>/<2 hex>/<hex> and reads it back whole and by range', async () => {
    const bytes = bytesOf(10_000);
    const d = digestOf(bytes);
    assert.deepEqual(await store.put(bytes, d), { digest: d, size: 10_000 });
    const hex = d.slice('sha256:'.length);
    assert.deepEqual(await readFile(join(root, 'blobs', 'sha256', hex.slice(0, 2), hex)), bytes);
    assert.deepEqual(await store.stat(d), { digest: d, size: 10_000 });
    assert.deepEqual(await store.readAll(d), bytes);
    assert.deepEqual(await readStream(await store.read(d)), bytes);
    assert.deepEqual(await readStream(await store.read(d, { start: 9000, end: 9999 })), bytes.subarray(9000));
    assert.deepEqual(await readStream(await store.read(d, { start: 5, end: 5 })), bytes.subarray(5, 6));
  });

  it('put refuses bytes that do not match the digest and stores nothing', async () => {
    const bytes = bytesOf(100);
    const wrong = digestOf(bytesOf(100, 2));
    await assert.rejects(store.put(bytes, wrong), DigestMismatchError);
    assert.equal(await store.stat(wrong), undefined);
    assert.deepEqual(await readdir(join(root, 'uploads')), []);
  });

  it('put of a blob already stored is a no-op', async () => {
    const bytes = bytesOf(50);
    const d = digestOf(bytes);
    await store.put(bytes, d);
    await store.put(bytes, d);
    assert.deepEqual(await store.readAll(d), bytes);
    assert.deepEqual(await readdir(join(root, 'uploads')), []);
  });

  it('unknown blobs: stat undefined, read and readAll throw BlobUnknownError, delete false', async () => {
    const d = digestOf(Buffer.from('absent'));
    assert.equal(await store.stat(d), undefined);
    await assert.rejects(store.read(d), BlobUnknownError);
    await assert.rejects(store.readAll(d), BlobUnknownError);
    assert.equal(await store.delete(d), false);
  });

  it('an upload appends chunks, verifies its digest at commit and moves into place', async () => {
    const bytes = bytesOf(3 * 1024 * 1024 + 17);
    const d = digestOf(bytes);
    const id = crypto.randomUUID();
    const upload = await store.beginUpload(id);
    assert.equal(upload.size, 0);
    assert.equal(await upload.append(Readable.from([bytes.subarray(0, 1000)]), 0), 1000);
    // Many small pieces in one append (batched into large writes).
    const pieces = [];
    for (let off = 1000; off < bytes.length; off += 4096) pieces.push(bytes.subarray(off, Math.min(off + 4096, bytes.length)));
    assert.equal(await upload.append(Readable.from(pieces), 1000), bytes.length);
    assert.deepEqual(await upload.commit(d, bytes.length), { digest: d, size: bytes.length });
    assert.deepEqual(await store.readAll(d), bytes);
    assert.deepEqual(await readdir(join(root, 'uploads')), []);
  });

  it('an append at the wrong offset is UploadOffsetError and changes nothing', async () => {
    const upload = await store.beginUpload(crypto.randomUUID());
    await upload.append(Readable.from([Buffer.from('abc')]), 0);
    await assert.rejects(upload.append(Readable.from([Buffer.from('x')]), 5), (e: unknown) => e instanceof UploadOffsetError && e.expected === 3 && e.got === 5);
    await assert.rejects(upload.append(Readable.from([Buffer.from('x')]), 0), UploadOffsetError);
    assert.equal(upload.size, 3);
    await upload.append(Readable.from([Buffer.from('def')]), 3);
    const d = digestOf(Buffer.from('abcdef'));
    await upload.commit(d);
    assert.deepEqual(await store.readAll(d), Buffer.from('abcdef'));
  });

  it('a chunk longer than declared is SizeMismatchError, and nothing of it is kept', async () => {
    const upload = await store.beginUpload(crypto.randomUUID());
    await upload.append(Readable.from([Buffer.from('keep')]), 0);
    await assert.rejects(upload.append(Readable.from([Buffer.from('12345'), Buffer.from('6789')]), 4, 6), SizeMismatchError);
    assert.equal(upload.size, 4);
    await upload.append(Readable.from([Buffer.from('!')]), 4);
    const d = digestOf(Buffer.from('keep!'));
    await upload.commit(d);
    assert.deepEqual(await store.readAll(d), Buffer.from('keep!'));
  });

  it('a chunk shorter than declared is SizeMismatchError, and nothing of it is kept', async () => {
    const upload = await store.beginUpload(crypto.randomUUID());
    await assert.rejects(upload.append(Readable.from([Buffer.from('12345')]), 0, 10), SizeMismatchError);
    assert.equal(upload.size, 0);
    await upload.append(Readable.from([Buffer.from('0123456789')]), 0, 10);
    const d = digestOf(Buffer.from('0123456789'));
    await upload.commit(d);
    assert.deepEqual(await store.readAll(d), Buffer.from('0123456789'));
  });

  it('a stream that fails midway is rolled back: file and hash go back to where they were', async () => {
    const upload = await store.beginUpload(crypto.randomUUID());
    const head = bytesOf(2 * 1024 * 1024, 3);
    await upload.append(Readable.from([head]), 0);
    await assert.rejects(upload.append(failingStream([bytesOf(1024 * 1024 + 5, 4), bytesOf(10, 5)]), head.length), /went away/);
    assert.equal(upload.size, head.length);
    const tail = Buffer.from('tail');
    await upload.append(Readable.from([tail]), head.length);
    const all = Buffer.concat([head, tail]);
    const d = digestOf(all);
    await upload.commit(d);
    assert.deepEqual(await store.readAll(d), all);
  });

  it('commit with a wrong digest is DigestMismatchError and removes the upload file', async () => {
    const id = crypto.randomUUID();
    const upload = await store.beginUpload(id);
    await upload.append(Readable.from([Buffer.from('content')]), 0);
    const wrong = digestOf(Buffer.from('other'));
    await assert.rejects(upload.commit(wrong), DigestMismatchError);
    assert.equal(await store.stat(wrong), undefined);
    assert.equal(await store.stat(digestOf(Buffer.from('content'))), undefined);
    assert.deepEqual(await store.listUploads(), []);
    assert.equal(await store.resumeUpload(id), undefined);
  });

  it('commit with a wrong size is SizeMismatchError', async () => {
    const upload = await store.beginUpload(crypto.randomUUID());
    await upload.append(Readable.from([Buffer.from('12345')]), 0);
    await assert.rejects(upload.commit(digestOf(Buffer.from('12345')), 6), SizeMismatchError);
  });

  it('sha512 digests commit and are stored under blobs/sha512', async () => {
    const bytes = bytesOf(70_000, 9);
    const d = digestOf(bytes, 'sha512');
    const upload = await store.beginUpload(crypto.randomUUID());
    await upload.append(Readable.from([bytes.subarray(0, 30_000)]), 0);
    await upload.append(Readable.from([bytes.subarray(30_000)]), 30_000);
    await upload.commit(d);
    assert.deepEqual(await store.readAll(d), bytes);
    assert.deepEqual(await readdir(join(root, 'blobs', 'sha512')), [d.slice(7, 9)]);
    const wrong = await store.beginUpload(crypto.randomUUID());
    await wrong.append(Readable.from([bytes]), 0);
    await assert.rejects(wrong.commit(digestOf(Buffer.from('x'), 'sha512')), DigestMismatchError);
  });

  it('committing a blob that already exists drops the new copy', async () => {
    const bytes = Buffer.from('same bytes');
    const d = digestOf(bytes);
    for (let i = 0; i < 2; i++) {
      const u = await store.beginUpload(crypto.randomUUID());
      await u.append(Readable.from([bytes]), 0);
      await u.commit(d);
    }
    assert.deepEqual(await store.readAll(d), bytes);
    assert.deepEqual(await store.listUploads(), []);
  });

  it('a second append or a commit while an append streams is UploadBusyError', async () => {
    const upload = await store.beginUpload(crypto.randomUUID());
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const slow = Readable.from(
      (async function* () {
        yield Buffer.from('first');
        await gate;
        yield Buffer.from('second');
      })(),
    );
    const pending = upload.append(slow, 0);
    await new Promise((r) => setTimeout(r, 20));
    await assert.rejects(upload.append(Readable.from([Buffer.from('x')]), 0), UploadBusyError);
    await assert.rejects(upload.commit(digestOf(Buffer.from('firstsecond'))), UploadBusyError);
    release();
    assert.equal(await pending, 11);
    await upload.commit(digestOf(Buffer.from('firstsecond')));
  });

  it('an append to an upload whose file is gone is UploadUnknownError, and the upload is not left busy', async () => {
    const upload = await store.beginUpload(crypto.randomUUID());
    await upload.cancel();
    await assert.rejects(upload.append(Readable.from([Buffer.from('late')]), 0), UploadUnknownError);
    await assert.rejects(upload.append(Readable.from([Buffer.from('late')]), 0), UploadUnknownError);
  });

  it('resumeUpload after a reopen rebuilds the hash from the file', async () => {
    const id = crypto.randomUUID();
    const first = bytesOf(1_000_000, 11);
    const second = bytesOf(12_345, 12);
    const upload = await store.beginUpload(id);
    await upload.append(Readable.from([first]), 0);

    const reopened = await FsBlobStore.open(root);
    assert.deepEqual(await reopened.listUploads(), [id]);
    const resumed = await reopened.resumeUpload(id);
    assert.ok(resumed);
    assert.equal(resumed.size, first.length);
    await resumed.append(Readable.from([second]), first.length);
    const d = digestOf(Buffer.concat([first, second]));
    await resumed.commit(d);
    assert.deepEqual(await reopened.readAll(d), Buffer.concat([first, second]));
  });

  it('resumeUpload: the same object while open; undefined for unknown or malformed ids', async () => {
    const id = crypto.randomUUID();
    const upload = await store.beginUpload(id);
    assert.equal(await store.resumeUpload(id), upload);
    assert.equal(await store.resumeUpload(crypto.randomUUID()), undefined);
    assert.equal(await store.resumeUpload('../../etc/passwd'), undefined);
    assert.equal(await store.resumeUpload(''), undefined);
    assert.equal(isUploadId(id), true);
    assert.equal(isUploadId(id.toUpperCase()), false);
  });

  it('cancel removes the upload file; cancelling twice is fine', async () => {
    const id = crypto.randomUUID();
    const upload = await store.beginUpload(id);
    await upload.append(Readable.from([Buffer.from('x')]), 0);
    await upload.cancel();
    await upload.cancel();
    assert.deepEqual(await store.listUploads(), []);
  });

  it('removeTempFiles clears interrupted put-<uuid> files only', async () => {
    const id = crypto.randomUUID();
    await store.beginUpload(id);
    await writeFile(join(root, 'uploads', `put-${crypto.randomUUID()}`), 'half a manifest');
    assert.equal(await store.removeTempFiles(), 1);
    assert.deepEqual(await readdir(join(root, 'uploads')), [id]);
  });

  it('delete removes a blob; list yields every stored digest', async () => {
    const a = Buffer.from('a');
    const b = Buffer.from('b');
    const c = bytesOf(10, 3);
    await store.put(a, digestOf(a));
    await store.put(b, digestOf(b));
    await store.put(c, digestOf(c, 'sha512'));
    const listed: string[] = [];
    for await (const d of store.list()) listed.push(d);
    assert.deepEqual(listed.sort(), [digestOf(a), digestOf(b), digestOf(c, 'sha512')].sort());
    assert.equal(await store.delete(digestOf(a)), true);
    assert.equal(await store.stat(digestOf(a)), undefined);
  });
});
