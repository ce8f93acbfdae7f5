/**
 * The upstreams of the proxy cache, from config: each a name (the prefix of the names
 * cached from it), a v2 client with its credentials, CA and trusted token realm, and a
 * revalidation interval. Credentials live only in the client: they go to the upstream's
 * host or its configured realm, never into a response.
 */
import { readFileSync } from 'node:fs';
import type { UpstreamConfig } from '../../config/config.js';
import { RegistryClient, RegistryError, RegistryUnreachableError, UnauthorizedError } from '../../oci/client.js';
import type { RepositoryName } from '../../oci/names.js';

export class Upstream {
  readonly name: string;
  readonly url: string;
  readonly revalidateMs: number;
  readonly client: RegistryClient;
  /** Docker Hub's rule: a one-component name is an official image under library/. */
  readonly dockerHub: boolean;

  constructor(config: UpstreamConfig) {
    this.name = config.name;
    this.url = config.url;
    this.revalidateMs = config.revalidate;
    const url = new URL(config.url);
    this.dockerHub = config.name === 'docker.io' || /(^|\.)docker\.io$/.test(url.hostname);
    this.client = new RegistryClient({
      registry: url.host,
      url: config.url,
      userAgent: 'wharf-proxy',
      ...(config.username ? { credentials: { username: config.username, password: config.password } } : {}),
      ...(config.ca ? { ca: readFileSync(config.ca) } : {}),
      ...(config.tokenRealm ? { tokenRealm: config.tokenRealm } : {}),
      headersTimeoutMs: 15_000,
    });
  }

  /** `busybox` -> `library/busybox` on Docker Hub; other names as they are. */
  canonical(remote: string): string {
    return this.dockerHub && !remote.includes('/') ? `library/${remote}` : remote;
  }
}

/** The upstream owning a local name (`docker.io/library/busybox`) and the name there. */
export interface CachedName {
  upstream: Upstream;
  /** the repository on the upstream */
  remote: string;
}

export class Upstreams {
  private readonly byName = new Map<string, Upstream>();

  constructor(configs: UpstreamConfig[], readonly defaultName = '') {
    for (const c of configs) this.byName.set(c.name, new Upstream(c));
  }

  get size(): number {
    return this.byName.size;
  }

  get default(): Upstream | undefined {
    return this.defaultName ? this.byName.get(this.defaultName) : undefined;
  }

  all(): Upstream[] {
    return [...this.byName.values()];
  }

  get(name: string): Upstream | undefined {
    return this.byName.get(name);
  }

  /** containerd's `?ns=`: an upstream's name, or the host of its URL. */
  forNamespace(ns: string): Upstream | undefined {
    return this.byName.get(ns) ?? this.all().find((u) => new URL(u.url).host === ns);
  }

  /** Undefined for a hosted name. */
  owner(repo: RepositoryName | string): CachedName | undefined {
    const slash = repo.indexOf('/');
    if (slash < 0) return undefined;
    const upstream = this.byName.get(repo.slice(0, slash));
    return upstream ? { upstream, remote: repo.slice(slash + 1) } : undefined;
  }

  async close(): Promise<void> {
    await Promise.all(this.all().map((u) => u.client.close()));
  }
}

/**
 * An upstream that failed rather than answered: refused, reset, timed out, 5xx, 429, 401
 * (or a token it would not give). The cached copy is served instead, with a Warning.
 */
export function isUpstreamFailure(err: unknown): boolean {
  if (err instanceof RegistryUnreachableError || err instanceof UnauthorizedError) return true;
  if (err instanceof RegistryError) return err.status !== undefined && (err.status >= 500 || err.status === 429 || err.status === 401 || err.status === 403);
  return false;
}

/** A short cause for messages and Warning headers. */
export function causeOf(err: unknown): string {
  return (err as Error).message ?? String(err);
}
