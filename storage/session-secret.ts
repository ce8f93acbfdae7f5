/**
 * The web catalog's session key: 32 random bytes, generated on first start and kept in
 * the data directory (auth/ui-session.key, mode 0600, written by temp file + fsync +
 * rename), so that logins survive a restart and no two registries share a key.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdir, open, readFile, rename } from 'node:fs/promises';
import { join } from 'node:path';

export async function loadOrCreateSessionSecret(root: string): Promise<Buffer> {
  const dir = join(root, 'auth');
  const path = join(dir, 'ui-session.key');
  try {
    const key = await readFile(path);
    if (key.length >= 32) return key;
    throw new Error(`${path} is shorter than 32 bytes; remove it to have a new one generated`);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new Error(`cannot read the UI session key: ${(err as Error).message}`, { cause: err });
  }
  const key = randomBytes(32);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const temp = join(dir, `.${randomUUID()}.tmp`);
  const fh = await open(temp, 'wx', 0o600);
  try {
    await fh.writeFile(key);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(temp, path);
  return key;
}
