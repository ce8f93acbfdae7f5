/**
 * The filesystem BlobStore. Blobs live under blobs/ (storage/layout.ts), immutable; they
 * arrive there only by rename(2) of a verified, fsynced file from uploads/ — an upload
 * (storage/fs-upload.ts) or a small blob written whole by put().
 */
import { createHash } from 'node:crypto';
import { constants as fsc } from 'node:fs';
import { copyFile, link, mkdir, open, readdir, readFile, rename, stat, unlink, type FileHandle } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Readable } from 'node:stream';
import { BlobUnknownError, DigestMismatchError } from './errors.js';
import { FsUpload, hashFile, isNotFound, type UploadOwner } from './fs-upload.js';
import { Layout } from './layout.js';
import { createSha256Writer } from './sha256-writer.js';
import { digestAlgorithm, parseDigest, type Digest } from '../oci/names.js';
import type { BlobInfo, BlobStore, ByteRange, Upload } from './types.js';

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
/** Downloads read 4 MiB at a time: measured ~1.5x the throughput of 1 MiB reads on loopback. */
const READ_CHUNK_BYTES = 4 << 20;
/**
 * Uploads whose running hash stays in memory between requests. Beyond this many, the
 * least recently used idle ones are forgotten and re-hash their file when they resume:
 * abandoned sessions cost nothing in memory, however many there are.
 */
const OPEN_UPLOADS_KEPT = 256;

export function isUploadId(id: string): boolean {
  return UUID_RE.test(id);
}

async function fsyncDir(dir: string): Promise<void> {
  const fh = await open(dir, fsc.O_RDONLY | fsc.O_DIRECTORY);
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

export class FsBlobStore implements BlobStore, UploadOwner {
  readonly layout: Layout;
  /** Recently used uploads by id, holding their running hash (least recently used first). */
  private readonly uploads = new Map<string, FsUpload>();

  private constructor(root: string) {
    this.layout = new Layout(root);
  }

  static async open(root: string): Promise<FsBlobStore> {
    const store = new FsBlobStore(root);
    await mkdir(store.layout.blobsDir, { recursive: true });
    await mkdir(store.layout.uploadsDir, { recursive: true });
    return store;
  }

  async stat(digest: Digest): Promise<BlobInfo | undefined> {
    try {
      const st = await stat(this.layout.blobPath(digest));
      return { digest, size: st.size };
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  async read(digest: Digest, range?: ByteRange): Promise<Readable> {
    let fh: FileHandle;
    try {
      fh = await open(this.layout.blobPath(digest), 'r');
    } catch (err) {
      if (isNotFound(err)) throw new BlobUnknownError(digest);
      throw err;
    }
    // A Range seeks: the stream starts at `start` and never reads the skipped bytes.
    return fh.createReadStream({
      start: range?.start,
      end: range?.end,
      highWaterMark: READ_CHUNK_BYTES,
      autoClose: true,
    });
  }

  localPath(digest: Digest): string {
    return this.layout.blobPath(digest);
  }

  async readAll(digest: Digest): Promise<Buffer> {
    try {
      return await readFile(this.layout.blobPath(digest));
    } catch (err) {
      if (isNotFound(err)) throw new BlobUnknownError(digest);
      throw err;
    }
  }

  async put(bytes: Buffer, digest: Digest): Promise<BlobInfo> {
    const actual = `${digestAlgorithm(digest)}:${createHash(digestAlgorithm(digest)).update(bytes).digest('hex')}`;
    if (actual !== digest) throw new DigestMismatchError(digest, actual);
    const info = { digest, size: bytes.length };
    if (await this.stat(digest)) return info;
    const temp = this.layout.tempPutPath(crypto.randomUUID());
    const fh = await open(temp, 'wx');
    try {
      await fh.writeFile(bytes);
      await fh.datasync();
    } finally {
      await fh.close();
    }
    await this.moveIntoPlace(temp, digest);
    return info;
  }

  async linkFile(path: string, digest: Digest): Promise<BlobInfo | undefined> {
    const existing = await this.stat(digest);
    if (existing) return existing;
    const temp = this.layout.tempPutPath(crypto.randomUUID());
    try {
      await link(path, temp);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'EXDEV' && code !== 'EPERM' && code !== 'EMLINK') throw err;
      // Another filesystem: a reflink shares the extents; without one there is nothing to gain here.
      try {
        await copyFile(path, temp, fsc.COPYFILE_FICLONE_FORCE);
      } catch {
        await unlink(temp).catch(() => undefined);
        return undefined;
      }
    }
    try {
      const { hash, size } = await hashFile(temp, digestAlgorithm(digest));
      const actual = `${digestAlgorithm(digest)}:${hash.digest('hex')}`;
      if (actual !== digest) throw new DigestMismatchError(digest, actual);
      await this.moveIntoPlace(temp, digest);
      return { digest, size };
    } catch (err) {
      await unlink(temp).catch(() => undefined);
      throw err;
    }
  }

  /** Content-addressed: when the blob is already there, the new copy is just dropped. */
  async moveIntoPlace(temp: string, digest: Digest): Promise<void> {
    const target = this.layout.blobPath(digest);
    if (await this.stat(digest)) {
      await unlink(temp);
      return;
    }
    const dir = dirname(target);
    const created = await mkdir(dir, { recursive: true });
    await rename(temp, target);
    await fsyncDir(dir);
    if (created) await fsyncDir(dirname(dir));
  }

  async beginUpload(id: string): Promise<Upload> {
    const path = this.layout.uploadPath(id);
    const fh = await open(path, 'wx');
    await fh.close();
    const upload = new FsUpload(this, id, path, createSha256Writer(), 0);
    this.keep(upload);
    return upload;
  }

  /** Remember an upload's hash state, forgetting the least recently used idle ones beyond the bound. */
  private keep(upload: FsUpload): void {
    this.uploads.delete(upload.id);
    this.uploads.set(upload.id, upload);
    if (this.uploads.size <= OPEN_UPLOADS_KEPT) return;
    for (const [id, old] of this.uploads) {
      if (this.uploads.size <= OPEN_UPLOADS_KEPT) break;
      // One a request is writing into stays: a second object would be a second writer.
      if (!old.busy) this.uploads.delete(id);
    }
  }

  async resumeUpload(id: string): Promise<Upload | undefined> {
    if (!isUploadId(id)) return undefined;
    const kept = this.uploads.get(id);
    if (kept) {
      this.keep(kept);
      return kept;
    }
    // After a restart: rebuild the hash state from what the file holds.
    const path = this.layout.uploadPath(id);
    try {
      const hash = createSha256Writer();
      const fh = await open(path, 'r');
      let size: number;
      try {
        size = await hash.hashFile(fh.fd, 0);
      } finally {
        await fh.close();
      }
      // Another request may have resumed it while this one was hashing: one object per upload.
      const raced = this.uploads.get(id);
      if (raced) return raced;
      const upload = new FsUpload(this, id, path, hash, size);
      this.keep(upload);
      return upload;
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  async removeUpload(id: string): Promise<boolean> {
    if (!isUploadId(id)) return true;
    if (this.uploads.get(id)?.busy) return false;
    this.uploads.delete(id);
    await unlink(this.layout.uploadPath(id)).catch((err: unknown) => {
      if (!isNotFound(err)) throw err;
    });
    return true;
  }

  async listUploads(): Promise<string[]> {
    return (await readdir(this.layout.uploadsDir)).filter(isUploadId);
  }

  /** Remove leftovers of small writes interrupted by a crash (put-<uuid> files). */
  async removeTempFiles(): Promise<number> {
    const names = (await readdir(this.layout.uploadsDir)).filter((n) => n.startsWith('put-'));
    await Promise.all(names.map((n) => unlink(join(this.layout.uploadsDir, n)).catch(() => undefined)));
    return names.length;
  }

  forget(id: string): void {
    this.uploads.delete(id);
  }

  async delete(digest: Digest): Promise<boolean> {
    try {
      await unlink(this.layout.blobPath(digest));
      return true;
    } catch (err) {
      if (isNotFound(err)) return false;
      throw err;
    }
  }

  async *list(): AsyncIterable<Digest> {
    for (const algorithm of await readdir(this.layout.blobsDir)) {
      for (const shard of await readdir(join(this.layout.blobsDir, algorithm))) {
        for (const hex of await readdir(join(this.layout.blobsDir, algorithm, shard))) {
          const digest = parseDigest(`${algorithm}:${hex}`);
          if (digest) yield digest;
        }
      }
    }
  }
}
