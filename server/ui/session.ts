/**
 * The UI's session: a cookie holding {sub, csrf, exp}, signed with HMAC-SHA256 under the
 * session key (HttpOnly, SameSite=Strict, Path=/ui, Secure over HTTPS). Every visitor
 * gets one, logged in or not, because it carries the CSRF token the forms post back.
 * A cookie that does not verify, or has expired, is simply a new anonymous session.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Request, Response } from 'express';

export const COOKIE = 'wharf_session';

export interface Session {
  /** undefined: not logged in */
  sub?: string;
  csrf: string;
  /** seconds since the epoch */
  exp: number;
}

export class SessionCodec {
  constructor(
    private readonly key: Buffer,
    private readonly lifetimeSeconds: number,
  ) {}

  create(sub?: string): Session {
    const s: Session = { csrf: randomBytes(24).toString('base64url'), exp: Math.floor(Date.now() / 1000) + this.lifetimeSeconds };
    if (sub !== undefined) s.sub = sub;
    return s;
  }

  encode(session: Session): string {
    const payload = Buffer.from(JSON.stringify(session)).toString('base64url');
    return `${payload}.${this.sign(payload)}`;
  }

  decode(value: string | undefined): Session | undefined {
    if (!value) return undefined;
    const dot = value.indexOf('.');
    if (dot < 0) return undefined;
    const payload = value.slice(0, dot);
    const given = Buffer.from(value.slice(dot + 1), 'base64url');
    const expected = Buffer.from(this.sign(payload), 'base64url');
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return undefined;
    try {
      const s = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as Session;
      if (typeof s.csrf !== 'string' || typeof s.exp !== 'number' || s.exp < Date.now() / 1000) return undefined;
      if (s.sub !== undefined && typeof s.sub !== 'string') return undefined;
      return s;
    } catch {
      return undefined;
    }
  }

  /** Set the cookie on the response. */
  write(req: Request, res: Response, session: Session): void {
    const maxAge = Math.max(0, session.exp - Math.floor(Date.now() / 1000));
    const secure = req.secure ? '; Secure' : '';
    res.append('Set-Cookie', `${COOKIE}=${this.encode(session)}; Path=/ui; HttpOnly; SameSite=Strict; Max-Age=${maxAge}${secure}`);
  }

  read(req: Request): Session | undefined {
    return this.decode(cookieValue(req.headers.cookie, COOKIE));
  }

  private sign(payload: string): string {
    return createHmac('sha256', this.key).update(payload).digest('base64url');
  }
}

/** One cookie's value from a Cookie header. */
function cookieValue(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

/** Constant-time comparison of the CSRF token a form posted with the session's. */
export function csrfMatches(session: Session, posted: unknown): boolean {
  if (typeof posted !== 'string') return false;
  const a = Buffer.from(posted);
  const b = Buffer.from(session.csrf);
  return a.length === b.length && timingSafeEqual(a, b);
}
