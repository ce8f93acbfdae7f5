/**
 * Basic credentials against the htpasswd users. bcrypt is slow on purpose, and Docker
 * sends Basic credentials with every request, so a verified (user, password) pair is
 * remembered by its SHA-256 for a while; failures are never remembered.
 */
import { createHash } from 'node:crypto';
import bcrypt from 'bcryptjs';

const REMEMBER_MS = 5 * 60 * 1000;
const MAX_REMEMBERED = 10_000;

export interface BasicCredentials {
  user: string;
  password: string;
}

/** undefined when there is no Basic header; 'malformed' when there is one we cannot read. */
export function parseBasic(header: string | undefined): BasicCredentials | 'malformed' | undefined {
  if (header === undefined || !/^basic /i.test(header)) return undefined;
  const encoded = header.slice(6).trim();
  // podman, skopeo and buildah send `Basic Og==` (":", no user, no password) when they have no
  // credentials: empty credentials are no credentials, so the anonymous rules apply.
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(encoded)) return 'malformed';
  const decoded = Buffer.from(encoded, 'base64').toString('utf8');
  if (decoded === ':') return undefined;
  const colon = decoded.indexOf(':');
  if (colon <= 0) return 'malformed';
  return { user: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

export class HtpasswdUsers {
  private readonly verified = new Map<string, number>();

  constructor(private readonly users: Map<string, string>) {}

  has(user: string): boolean {
    return this.users.has(user);
  }

  async verify({ user, password }: BasicCredentials): Promise<boolean> {
    const hash = this.users.get(user);
    if (hash === undefined) return false;
    const key = createHash('sha256').update(`${user}\0${password}\0${hash}`).digest('base64');
    const until = this.verified.get(key);
    if (until !== undefined && until > Date.now()) return true;
    if (!(await bcrypt.compare(password, hash))) return false;
    if (this.verified.size >= MAX_REMEMBERED) this.verified.clear();
    this.verified.set(key, Date.now() + REMEMBER_MS);
    return true;
  }
}
