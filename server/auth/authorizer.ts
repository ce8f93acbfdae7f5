/**
 * Decides, before any handler runs, whether a request may proceed: who the caller is
 * and whether that subject may do what the route needs. Three modes behind one
 * interface, chosen at start: open (insecure, the localhost default), Basic against
 * htpasswd users, and Bearer tokens. A refusal is a RegistryError carrying the
 * challenge (`WWW-Authenticate`) the client needs to try again.
 */
import type { IncomingMessage as Request } from 'node:http';
import { RegistryError } from '../http/errors.js';
import type { AccessPolicy, Action } from './access-policy.js';
import { parseBasic, type HtpasswdUsers } from './basic-credentials.js';
import { scopeOf, type Requirement } from './requirement.js';
import { grants, InvalidTokenError, type TokenVerifier } from './tokens.js';

export interface Principal {
  /** undefined: anonymous */
  subject?: string;
  /** May this caller do `action` on `repository`? (cross-repository mount sources) */
  may(action: Action, repository: string): boolean;
  /** Is `repository` listed to this caller in _catalog? (those it may pull) */
  sees(repository: string): boolean;
  /**
   * May this caller read any blob of the registry? Only then is a mount without `from`
   * done: it links a blob found by digest alone, whichever repository holds it.
   */
  readsEverything?: boolean;
}

export interface Authorizer {
  authorize(req: Request, need: Requirement): Promise<Principal>;
}

export const EVERYTHING: Principal = { may: () => true, sees: () => true, readsEverything: true };

export const openAccess: Authorizer = {
  authorize: async () => EVERYTHING,
};

function satisfied(need: Requirement, may: (a: Action, repo: string) => boolean, authenticated: boolean, mayDeleteEverywhere: boolean): boolean {
  if (need.kind === 'admin') return mayDeleteEverywhere;
  // The catalog lists only what the caller may pull, but a stranger gets it only where strangers have access at all.
  if (need.kind === 'login' || need.kind === 'catalog' || need.kind === 'search') return authenticated;
  return need.actions.every((a) => may(a, need.name));
}

export class BasicAuthorizer implements Authorizer {
  private readonly challenge: string;

  constructor(
    private readonly users: HtpasswdUsers,
    private readonly policy: AccessPolicy,
    realm: string,
  ) {
    this.challenge = `Basic realm="${realm.replace(/"/g, '')}"`;
  }

  async authorize(req: Request, need: Requirement): Promise<Principal> {
    const credentials = parseBasic(req.headers.authorization);
    if (credentials === 'malformed') {
      throw this.unauthorized('the Authorization header is not valid Basic credentials');
    }
    if (credentials && !(await this.users.verify(credentials))) {
      throw this.unauthorized('wrong user name or password');
    }
    const subject = credentials?.user;
    const principal = this.principalFor(subject);
    // GET /v2/ always challenges a caller without credentials: it is where docker discovers that it must send
    // them (docker login against an unchallenged /v2/ "succeeds" with any password, then never sends them).
    const anonymousOk = (need.kind === 'catalog' || need.kind === 'search') && this.policy.anonymousHasAccess;
    if (satisfied(need, principal.may, subject !== undefined || anonymousOk, this.policy.mayEverywhere(subject, 'delete'))) {
      return principal;
    }
    if (subject === undefined) throw this.unauthorized('authentication required');
    throw new RegistryError('DENIED', `user ${subject} may not ${describe(need)}`, { scope: scopeOf(need) });
  }

  private principalFor(subject: string | undefined): Principal {
    const allowed = (repo: string) => this.policy.allowed(subject, repo);
    return { subject, may: (a, repo) => allowed(repo).has(a), sees: (repo) => allowed(repo).has('pull') };
  }

  private unauthorized(message: string): RegistryError {
    return new RegistryError('UNAUTHORIZED', message, undefined, 401, { 'WWW-Authenticate': this.challenge });
  }
}

export class BearerAuthorizer implements Authorizer {
  constructor(
    private readonly verifier: TokenVerifier,
    private readonly policy: AccessPolicy,
    /** the token endpoint; a function of the request when it is our own, built-in one */
    private readonly realm: (req: Request) => string,
    private readonly service: string,
  ) {}

  async authorize(req: Request, need: Requirement): Promise<Principal> {
    const header = req.headers.authorization;
    if (header === undefined || !/^bearer /i.test(header)) throw this.challenge(req, need, 'authentication required');
    let claims;
    try {
      claims = await this.verifier.verify(header.slice(7).trim());
    } catch (err) {
      if (err instanceof InvalidTokenError) throw this.challenge(req, need, err.message, 'invalid_token');
      throw err;
    }
    const subject = claims.sub === '' ? undefined : claims.sub;
    const principal: Principal = {
      subject,
      may: (a, repo) => grants(claims, 'repository', repo, a),
      sees: (repo) => this.policy.allowed(subject, repo).has('pull'),
    };
    const ok =
      need.kind === 'login' ||
      (need.kind === 'catalog'
        ? grants(claims, 'registry', 'catalog', '*')
        : need.kind === 'search'
          ? grants(claims, 'registry', 'catalog', 'search') || grants(claims, 'registry', 'catalog', '*')
          : need.kind === 'admin'
            ? grants(claims, 'registry', 'admin', 'delete')
            : need.actions.every((a) => principal.may(a, need.name)));
    if (!ok) throw this.challenge(req, need, `the token does not grant ${scopeOf(need)}`, 'insufficient_scope');
    return principal;
  }

  private challenge(req: Request, need: Requirement, message: string, error?: string): RegistryError {
    const scope = scopeOf(need);
    let value = `Bearer realm="${this.realm(req)}",service="${this.service}"`;
    if (scope) value += `,scope="${scope}"`;
    if (error) value += `,error="${error}"`;
    return new RegistryError('UNAUTHORIZED', message, scope ? { scope } : undefined, 401, { 'WWW-Authenticate': value });
  }
}

function describe(need: Requirement): string {
  if (need.kind === 'repository') return `${need.actions.join(' and ')} ${need.name}`;
  if (need.kind === 'admin') return 'delete everywhere, which admin endpoints need';
  return need.kind === 'catalog' ? 'list the catalog' : need.kind === 'search' ? 'search' : 'log in';
}
