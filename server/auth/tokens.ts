/**
 * Bearer tokens of the Docker token authentication spec: JWTs whose `access` claim lists
 * what they grant ({type, name, actions}). Signing (built-in issuer) and verification
 * (built-in or external issuer) live here; which key verifies is decided at start.
 */
import { createLocalJWKSet, decodeProtectedHeader, importX509, jwtVerify, SignJWT, type JWTPayload } from 'jose';
import { randomUUID } from 'node:crypto';
import type { JoseKey, SigningKey } from '../../storage/signing-key.js';

export interface AccessEntry {
  type: string;
  name: string;
  actions: string[];
}

export interface AccessClaims {
  /** '' for an anonymous token */
  sub: string;
  access: AccessEntry[];
  exp: number;
}

export class InvalidTokenError extends Error {
  override name = 'InvalidTokenError';
}

/** Accepted signature algorithms; never `none`, never HMAC (a public key must not double as a secret). */
const ALGORITHMS = ['ES256', 'ES384', 'ES512', 'RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'EdDSA'];
const CLOCK_SKEW_SECONDS = 60;
const MAX_CACHED = 10_000;

type KeyInput = Parameters<typeof jwtVerify>[1];

export class TokenVerifier {
  /** Verified tokens by their text, until they expire: a token is checked once, not per request. */
  private readonly cache = new Map<string, AccessClaims>();

  private constructor(
    private readonly keys: (token: string) => Promise<KeyInput[]>,
    private readonly issuer: string,
    private readonly audience: string,
  ) {}

  static forSigningKey(key: SigningKey, issuer: string, audience: string): TokenVerifier {
    return new TokenVerifier(async () => [key.publicKey], issuer, audience);
  }

  static forJwks(jwks: { keys: Record<string, unknown>[] }, issuer: string, audience: string): TokenVerifier {
    const set = createLocalJWKSet(jwks as Parameters<typeof createLocalJWKSet>[0]);
    return new TokenVerifier(async () => [set as KeyInput], issuer, audience);
  }

  /** A certificate bundle: each certificate's key is tried (tokens name keys by kid forms we cannot map). */
  static forCertificates(pems: string[], issuer: string, audience: string): TokenVerifier {
    return new TokenVerifier(
      async (token) => {
        const { alg } = decodeProtectedHeader(token);
        if (typeof alg !== 'string' || !ALGORITHMS.includes(alg)) throw new InvalidTokenError(`algorithm ${String(alg)} is not accepted`);
        return Promise.all(pems.map((pem) => importX509(pem, alg)));
      },
      issuer,
      audience,
    );
  }

  async verify(token: string): Promise<AccessClaims> {
    const cached = this.cache.get(token);
    if (cached && cached.exp > Date.now() / 1000 - CLOCK_SKEW_SECONDS) return cached;
    let keys: KeyInput[];
    try {
      keys = await this.keys(token);
    } catch (err) {
      throw err instanceof InvalidTokenError ? err : new InvalidTokenError('token is not a JWT');
    }
    let payload: JWTPayload | undefined;
    let lastError: unknown;
    for (const key of keys) {
      try {
        ({ payload } = await jwtVerify(token, key as JoseKey, {
          issuer: this.issuer,
          audience: this.audience,
          algorithms: ALGORITHMS,
          clockTolerance: CLOCK_SKEW_SECONDS,
          requiredClaims: ['exp'],
        }));
        break;
      } catch (err) {
        lastError = err;
      }
    }
    if (!payload) throw new InvalidTokenError(`token rejected: ${(lastError as Error)?.message ?? 'no key'}`);
    if (payload.token_use === 'refresh') throw new InvalidTokenError('a refresh token is not an access token');
    const claims: AccessClaims = { sub: typeof payload.sub === 'string' ? payload.sub : '', access: parseAccess(payload.access), exp: payload.exp! };
    if (this.cache.size >= MAX_CACHED) this.cache.clear();
    this.cache.set(token, claims);
    return claims;
  }
}

function parseAccess(value: unknown): AccessEntry[] {
  if (!Array.isArray(value)) return [];
  return value.filter(
    (e): e is AccessEntry =>
      e !== null && typeof e === 'object' && typeof e.type === 'string' && typeof e.name === 'string' &&
      Array.isArray(e.actions) && e.actions.every((a: unknown) => typeof a === 'string'),
  );
}

export function grants(claims: AccessClaims, type: string, name: string, action: string): boolean {
  return claims.access.some((e) => e.type === type && e.name === name && (e.actions.includes(action) || e.actions.includes('*')));
}

export class TokenSigner {
  constructor(
    private readonly key: SigningKey,
    private readonly issuer: string,
    private readonly audience: string,
  ) {}

  async accessToken(sub: string, access: AccessEntry[], seconds: number): Promise<{ token: string; issuedAt: Date }> {
    const issuedAt = new Date();
    const token = await this.sign({ access }, sub, this.audience, seconds, issuedAt);
    return { token, issuedAt };
  }

  /** docker login keeps this as its identity token and trades it for access tokens later. */
  async refreshToken(sub: string, seconds: number): Promise<string> {
    return this.sign({ token_use: 'refresh' }, sub, this.audience, seconds, new Date());
  }

  /** The subject of a refresh token we issued; throws InvalidTokenError. */
  async refreshSubject(token: string): Promise<string> {
    try {
      const { payload } = await jwtVerify(token, this.key.publicKey, {
        issuer: this.issuer,
        audience: this.audience,
        algorithms: ['ES256'],
        clockTolerance: CLOCK_SKEW_SECONDS,
      });
      if (payload.token_use !== 'refresh' || typeof payload.sub !== 'string' || payload.sub === '') throw new Error('not a refresh token');
      return payload.sub;
    } catch (err) {
      throw new InvalidTokenError(`refresh token rejected: ${(err as Error).message}`);
    }
  }

  private sign(claims: Record<string, unknown>, sub: string, aud: string, seconds: number, now: Date): Promise<string> {
    const iat = Math.floor(now.getTime() / 1000);
    return new SignJWT(claims)
      .setProtectedHeader({ alg: 'ES256', typ: 'JWT', kid: this.key.kid })
      .setIssuer(this.issuer)
      .setSubject(sub)
      .setAudience(aud)
      .setIssuedAt(iat)
      .setNotBefore(iat)
      .setExpirationTime(iat + seconds)
      .setJti(randomUUID())
      .sign(this.key.privateKey);
  }
}
