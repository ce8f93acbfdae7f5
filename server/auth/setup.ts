/** Build the configured auth mode once at start: the Authorizer, and the built-in token endpoint if any. */
import type { IncomingMessage } from 'node:http';
import type { TLSSocket } from 'node:tls';
import type { Router } from 'express';
import { readCertBundle, readHtpasswd, readJwks } from '../../config/auth-files.js';
import type { AuthConfig } from '../../config/config.js';
import { loadOrCreateSigningKey } from '../../storage/signing-key.js';
import { AccessPolicy } from './access-policy.js';
import { BasicAuthorizer, BearerAuthorizer, openAccess, type Authorizer } from './authorizer.js';
import { HtpasswdUsers } from './basic-credentials.js';
import { TokenSigner, TokenVerifier } from './tokens.js';

export interface AuthSetup {
  authorizer: Authorizer;
  /** mounted at /auth when the built-in token server is used */
  tokenRouter?: Router;
  mode: 'none' | 'htpasswd' | 'token' | 'token-external';
  /** the access rules (the UI and search filter by them) */
  policy: AccessPolicy;
  /** the htpasswd users, when there are any (the UI's login form checks them) */
  users?: HtpasswdUsers;
}

export async function setupAuth(config: AuthConfig, dataRoot: string, baseUrl: string): Promise<AuthSetup> {
  const policy = new AccessPolicy(config.access, config.groups);
  const users = config.htpasswd.path ? new HtpasswdUsers(readHtpasswd(config.htpasswd.path)) : undefined;
  const t = config.token;
  if (!t.enabled) {
    if (!users) return { authorizer: openAccess, mode: 'none', policy };
    return { authorizer: new BasicAuthorizer(users, policy, config.htpasswd.realm), mode: 'htpasswd', policy, users };
  }
  if (t.jwks || t.rootcertbundle) {
    const verifier = t.jwks
      ? TokenVerifier.forJwks(readJwks(t.jwks), t.issuer, t.service)
      : TokenVerifier.forCertificates(readCertBundle(t.rootcertbundle), t.issuer, t.service);
    return { authorizer: new BearerAuthorizer(verifier, policy, () => t.realm, t.service), mode: 'token-external', policy };
  }
  const key = await loadOrCreateSigningKey(dataRoot);
  const signer = new TokenSigner(key, t.issuer, t.service);
  // The challenge must carry an absolute URL; without a configured one, it is this server as the client reached it.
  const realm = t.realm
    ? () => t.realm
    : baseUrl
      ? () => `${baseUrl}/auth/token`
      : (req: IncomingMessage) => `${(req.socket as TLSSocket).encrypted ? 'https' : 'http'}://${req.headers.host ?? 'localhost'}/auth/token`;
  return {
    authorizer: new BearerAuthorizer(TokenVerifier.forSigningKey(key, t.issuer, t.service), policy, realm, t.service),
    // Only token mode loads the token endpoint (and express with it).
    tokenRouter: (await import('./token-server.js')).tokenRouter({
      signer,
      key,
      ...(users ? { users } : {}),
      policy,
      service: t.service,
      expiration: t.expiration,
      refreshExpiration: t.refreshExpiration,
    }),
    mode: 'token',
    policy,
    ...(users ? { users } : {}),
  };
}
