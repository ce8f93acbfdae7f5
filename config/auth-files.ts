/**
 * Files the auth configuration points at: the htpasswd users, and an external token
 * issuer's keys. Read once at start; a malformed file stops the start with its line.
 */
import { readFileSync } from 'node:fs';
import { ConfigError } from './config.js';

function read(path: string, key: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(`${key}: cannot read ${path}: ${(err as Error).message}`);
  }
}

/** user -> bcrypt hash. Only bcrypt entries (`htpasswd -B`), as registry:2 accepts. */
export function readHtpasswd(path: string): Map<string, string> {
  const users = new Map<string, string>();
  read(path, 'auth.htpasswd.path')
    .split('\n')
    .forEach((raw, i) => {
      const line = raw.trim();
      if (line === '' || line.startsWith('#')) return;
      const colon = line.indexOf(':');
      const user = line.slice(0, colon);
      const hash = line.slice(colon + 1);
      if (colon <= 0 || !/^\$2[aby]\$\d\d\$[./A-Za-z0-9]{53}$/.test(hash)) {
        throw new ConfigError(`auth.htpasswd.path: ${path} line ${i + 1} is not a bcrypt entry (write it with \`htpasswd -B\`)`);
      }
      users.set(user, hash);
    });
  return users;
}

/** A JWKS file: {"keys":[...]} */
export function readJwks(path: string): { keys: Record<string, unknown>[] } {
  let json: unknown;
  try {
    json = JSON.parse(read(path, 'auth.token.jwks'));
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    throw new ConfigError(`auth.token.jwks: ${path} is not JSON`);
  }
  const keys = (json as { keys?: unknown }).keys;
  if (!Array.isArray(keys) || keys.length === 0) throw new ConfigError(`auth.token.jwks: ${path} has no "keys"`);
  return { keys: keys as Record<string, unknown>[] };
}

/** PEM certificates of a bundle, each as its own PEM string. */
export function readCertBundle(path: string): string[] {
  const pems = read(path, 'auth.token.rootcertbundle').match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  if (pems.length === 0) throw new ConfigError(`auth.token.rootcertbundle: ${path} holds no PEM certificate`);
  return pems;
}

export function readTls(certificate: string, key: string): { cert: Buffer; key: Buffer } {
  try {
    return { cert: readFileSync(certificate), key: readFileSync(key) };
  } catch (err) {
    throw new ConfigError(`http.tls: ${(err as Error).message}`);
  }
}
