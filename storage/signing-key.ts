/**
 * The built-in token server's signing key: ES256, generated on first start and kept in
 * the data directory (mode 0600, written by temp file + fsync + rename), with its RFC
 * 7638 thumbprint as `kid`.
 */
import { randomUUID } from 'node:crypto';
import { mkdir, open, readFile, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { calculateJwkThumbprint, exportJWK, generateKeyPair, importJWK, type JWK } from 'jose';

export type JoseKey = Awaited<ReturnType<typeof importJWK>>;

export interface SigningKey {
  kid: string;
  privateKey: JoseKey;
  publicKey: JoseKey;
  publicJwk: JWK;
}

export async function loadOrCreateSigningKey(root: string): Promise<SigningKey> {
  const dir = join(root, 'auth');
  const path = join(dir, 'token-signing-key.jwk');
  let jwk: JWK;
  try {
    jwk = JSON.parse(await readFile(path, 'utf8')) as JWK;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new Error(`cannot read the token signing key ${path}: ${(err as Error).message}`);
    const pair = await generateKeyPair('ES256', { extractable: true });
    jwk = { ...(await exportJWK(pair.privateKey)), alg: 'ES256' };
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const temp = join(dir, `.${randomUUID()}.tmp`);
    const fh = await open(temp, 'wx', 0o600);
    try {
      await fh.writeFile(JSON.stringify(jwk));
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(temp, path);
  }
  const { d: _private, ...publicPart } = jwk;
  const kid = await calculateJwkThumbprint(publicPart);
  return {
    kid,
    privateKey: await importJWK(jwk, 'ES256'),
    publicKey: await importJWK(publicPart, 'ES256'),
    publicJwk: { ...publicPart, kid, alg: 'ES256', use: 'sig' },
  };
}
