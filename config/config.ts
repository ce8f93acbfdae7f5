/**
 * Wharf's configuration: one typed object, validated once at load.
 *
 * Sources, later wins: built-in defaults < YAML file < WHARF_* environment overrides.
 * Unknown keys are rejected with a message naming the key, so a typo never silently
 * falls back to a default. Nothing below bin/ reads process.env: bin/ hands `env` in.
 */
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { parseDuration, parseSize } from './units.js';

export interface HttpConfig {
  /** host:port to listen on, e.g. 127.0.0.1:5000 */
  addr: string;
  /** the externally visible base URL used in Location headers; empty = relative */
  host: string;
  tls: { certificate: string; key: string };
  /** slowloris guards, in milliseconds */
  headersTimeout: number;
  requestTimeout: number;
  /** a connection that sends or receives nothing this long is closed (slow bodies) */
  idleTimeout: number;
  /** CORS for third-party registry UIs on /v2 and /v1: allowed origins (`*` for any); empty = off */
  cors: { origins: string[] };
  /** on SIGTERM/SIGINT/SIGHUP, how long in-flight requests may finish before they are cut, ms */
  shutdownTimeout: number;
}

/** The web catalog at /ui/ (server/ui/). */
export interface UiConfig {
  enabled: boolean;
  /** HMAC key of the session cookie; empty = generated once under storage.root/auth/ */
  sessionSecret: string;
  /** seconds a login lasts */
  sessionLifetime: number;
  /** largest archive the upload form accepts, in bytes */
  importMaxBytes: number;
}

export interface StorageConfig {
  root: string;
  delete: { enabled: boolean };
  /** memory the manifest cache may cost (bodies and their bookkeeping), by digest (immutable, so never stale) */
  manifestCacheBytes: number;
  uploads: {
    /** an upload session with no request for this many seconds is removed with its bytes */
    expireAfter: number;
  };
}

/** What Wharf does for clients that registry:2 serves by special cases. */
export interface CompatibilityConfig {
  /** os/arch[/variant] of the image served from a multi-platform tag to a client that does not accept indexes */
  defaultPlatform: string;
}

/**
 * Access control. Modes: none (no htpasswd path, token disabled: the insecure default
 * for localhost), htpasswd (Basic auth against bcrypt entries), token (Docker token
 * auth: Bearer JWTs from the built-in token endpoint, whose users are the htpasswd
 * ones, or from an external issuer given by jwks/rootcertbundle).
 */
export interface AuthConfig {
  htpasswd: { realm: string; path: string };
  token: {
    enabled: boolean;
    /** token endpoint URL in the challenge; "" = the built-in one at <this registry>/auth/token */
    realm: string;
    service: string;
    issuer: string;
    /** an external issuer's public keys: a JWKS file ... */
    jwks: string;
    /** ... or a PEM certificate bundle */
    rootcertbundle: string;
    /** seconds a built-in access token lives */
    expiration: number;
    /** seconds a built-in refresh token (docker login's identity token) lives */
    refreshExpiration: number;
  };
  /** group name -> user names, for `group:<name>` subjects */
  groups: Record<string, string[]>;
  /** empty: any authenticated user may do anything, anonymous nothing */
  access: AccessRule[];
}

export interface AccessRule {
  /** user names, `group:<name>`, `*` for any authenticated user, `anonymous` */
  subjects: string[];
  /** glob patterns: `*` within one path component, `**` across components */
  repositories: string[];
  /** pull, push, delete, or * */
  actions: string[];
}

export interface LogConfig {
  level: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  /** log each request (structured, asynchronous) */
  requests: boolean;
}

/** One registry the cache pulls through: names under `<name>/` are cached from `url`. */
export interface UpstreamConfig {
  /** the prefix: localhost:5000/<name>/library/busybox (and the value of containerd's ?ns=) */
  name: string;
  url: string;
  username: string;
  password: string;
  /** a file holding the password (read at start), instead of `password` */
  passwordFile: string;
  /** ms between HEADs that revalidate a tag; 0 = every request */
  revalidate: number;
  /** PEM file of CA certificates to trust for this upstream; "" = the system's */
  ca: string;
  /** a token endpoint on another host that this upstream's challenges may name (Docker Hub: https://auth.docker.io/token) */
  tokenRealm: string;
}

export interface ProxyConfig {
  upstreams: UpstreamConfig[];
  /** upstream for un-prefixed names that are not hosted (dockerd's registry-mirrors); "" = none */
  default: string;
  /** bytes of cached content kept; least recently used goes first; 0 = no limit */
  maxBytes: number;
}

/** Per repository glob: keep the N most recent tags, drop untagged manifests after a delay. */
export interface RetentionRule {
  repositories: string[];
  /** 0 = keep every tag */
  keepTags: number;
  /** ms; undefined = gc.untaggedAfter */
  untaggedAfter?: number;
}

export interface GcConfig {
  /** ms between scheduled collections; 0 = never on a schedule */
  interval: number;
  /** ms a committed blob is safe before a manifest must reference it */
  uploadLease: number;
  /** ms after which an untagged manifest is no longer a root */
  untaggedAfter: number;
  retention: RetentionRule[];
}

export interface WharfConfig {
  http: HttpConfig;
  storage: StorageConfig;
  auth: AuthConfig;
  ui: UiConfig;
  log: LogConfig;
  proxy: ProxyConfig;
  gc: GcConfig;
  compatibility: CompatibilityConfig;
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

export function defaultConfig(): WharfConfig {
  return {
    http: {
      addr: '127.0.0.1:5000',
      host: '',
      tls: { certificate: '', key: '' },
      headersTimeout: 20_000,
      requestTimeout: 0,
      idleTimeout: 60_000,
      cors: { origins: [] },
      shutdownTimeout: 10_000,
    },
    // registry:2 purges abandoned uploads; an hour of silence is plenty for any real client.
    storage: { root: './data', delete: { enabled: true }, manifestCacheBytes: 32 * 1024 * 1024, uploads: { expireAfter: 3600 } },
    auth: {
      htpasswd: { realm: 'wharf', path: '' },
      token: {
        enabled: false,
        realm: '',
        service: 'wharf',
        issuer: 'wharf',
        jwks: '',
        rootcertbundle: '',
        expiration: 300,
        refreshExpiration: 30 * 24 * 3600,
      },
      groups: {},
      access: [],
    },
    ui: { enabled: true, sessionSecret: '', sessionLifetime: 8 * 3600, importMaxBytes: 2 * 1024 ** 3 },
    log: { level: 'info', requests: true },
    proxy: { upstreams: [], default: '', maxBytes: 0 },
    gc: { interval: 3_600_000, uploadLease: 3_600_000, untaggedAfter: 24 * 3_600_000, retention: [] },
    compatibility: { defaultPlatform: 'linux/amd64' },
  };
}

/** Keys written as durations or sizes (`5m`, `50GiB`): converted on the way in, from YAML and env alike. */
const CONVERTED: Record<string, (v: unknown) => number | undefined> = {
  'proxy.maxBytes': parseSize,
  'gc.interval': parseDuration,
  'gc.uploadLease': parseDuration,
  'gc.untaggedAfter': parseDuration,
};

/** WHARF_HTTP_ADDR -> http.addr, WHARF_STORAGE_DELETE_ENABLED -> storage.delete.enabled, ... */
const ENV_KEYS: Record<string, string> = {
  WHARF_HTTP_ADDR: 'http.addr',
  WHARF_HTTP_HOST: 'http.host',
  WHARF_HTTP_TLS_CERTIFICATE: 'http.tls.certificate',
  WHARF_HTTP_TLS_KEY: 'http.tls.key',
  WHARF_HTTP_HEADERS_TIMEOUT: 'http.headersTimeout',
  WHARF_HTTP_REQUEST_TIMEOUT: 'http.requestTimeout',
  WHARF_HTTP_IDLE_TIMEOUT: 'http.idleTimeout',
  WHARF_HTTP_SHUTDOWN_TIMEOUT: 'http.shutdownTimeout',
  WHARF_STORAGE_ROOT: 'storage.root',
  WHARF_STORAGE_DELETE_ENABLED: 'storage.delete.enabled',
  WHARF_STORAGE_MANIFEST_CACHE_BYTES: 'storage.manifestCacheBytes',
  WHARF_STORAGE_UPLOADS_EXPIRE_AFTER: 'storage.uploads.expireAfter',
  WHARF_COMPATIBILITY_DEFAULT_PLATFORM: 'compatibility.defaultPlatform',
  WHARF_AUTH_HTPASSWD_PATH: 'auth.htpasswd.path',
  WHARF_AUTH_HTPASSWD_REALM: 'auth.htpasswd.realm',
  WHARF_AUTH_TOKEN_ENABLED: 'auth.token.enabled',
  WHARF_AUTH_TOKEN_REALM: 'auth.token.realm',
  WHARF_AUTH_TOKEN_SERVICE: 'auth.token.service',
  WHARF_AUTH_TOKEN_ISSUER: 'auth.token.issuer',
  WHARF_UI_ENABLED: 'ui.enabled',
  WHARF_UI_SESSION_SECRET: 'ui.sessionSecret',
  WHARF_LOG_LEVEL: 'log.level',
  WHARF_LOG_REQUESTS: 'log.requests',
  /** a JSON list of upstreams, as proxy.upstreams in YAML */
  WHARF_PROXY_UPSTREAMS: 'proxy.upstreams',
  WHARF_PROXY_DEFAULT: 'proxy.default',
  WHARF_PROXY_MAX_BYTES: 'proxy.maxBytes',
  WHARF_GC_INTERVAL: 'gc.interval',
  WHARF_GC_UPLOAD_LEASE: 'gc.uploadLease',
  WHARF_GC_UNTAGGED_AFTER: 'gc.untaggedAfter',
};

/**
 * Load and validate. `file` may be undefined (defaults + env only).
 * Throws ConfigError naming the offending key.
 */
export function loadConfig(file: string | undefined, env: Record<string, string | undefined> = {}): WharfConfig {
  let raw: unknown = {};
  if (file) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      throw new ConfigError(`cannot read config file ${file}: ${(err as Error).message}`);
    }
    try {
      raw = parseYaml(text) ?? {};
    } catch (err) {
      throw new ConfigError(`config file ${file} is not valid YAML: ${(err as Error).message}`);
    }
  }
  const config = defaultConfig();
  merge(config as unknown as Record<string, unknown>, raw, '');
  for (const [name, path] of Object.entries(ENV_KEYS)) {
    const value = env[name];
    if (value !== undefined) setPath(config as unknown as Record<string, unknown>, path, value, name);
  }
  validate(config);
  return config;
}

/** Mappings whose keys are the user's own names (validated in validate()). */
const FREE_MAPS = new Set(['auth.groups']);

/** Copy `src` onto `dst` key by key, refusing keys the defaults do not have and wrong types. */
function merge(dst: Record<string, unknown>, src: unknown, prefix: string): void {
  if (src === null || typeof src !== 'object' || Array.isArray(src)) {
    throw new ConfigError(`${prefix || 'config'}: expected a mapping`);
  }
  for (const [key, value] of Object.entries(src as Record<string, unknown>)) {
    const path = prefix ? `${prefix}.${key}` : key;
    if (!(key in dst)) throw new ConfigError(`unknown config key "${path}"`);
    const current = dst[key];
    const convert = CONVERTED[path];
    if (convert) {
      dst[key] = converted(convert, value, path);
    } else if (FREE_MAPS.has(path)) {
      if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new ConfigError(`${path}: expected a mapping`);
      dst[key] = value;
    } else if (Array.isArray(current)) {
      if (!Array.isArray(value)) throw new ConfigError(`${path}: expected a list`);
      dst[key] = value;
    } else if (current !== null && typeof current === 'object') {
      merge(current as Record<string, unknown>, value, path);
    } else if (typeof current !== typeof value) {
      throw new ConfigError(`${path}: expected a ${typeof current}, got ${JSON.stringify(value)}`);
    } else {
      dst[key] = value;
    }
  }
}

function converted(convert: (v: unknown) => number | undefined, value: unknown, where: string): number {
  const n = convert(value);
  if (n === undefined) {
    const kind = convert === parseSize ? 'a size such as 512MiB or 50GiB' : 'a duration such as 30s, 5m, 1h or 7d';
    throw new ConfigError(`${where}: expected ${kind}, got ${JSON.stringify(value)}`);
  }
  return n;
}

function setPath(obj: Record<string, unknown>, path: string, value: string, envName: string): void {
  const parts = path.split('.');
  let node = obj;
  for (const p of parts.slice(0, -1)) node = node[p] as Record<string, unknown>;
  const last = parts[parts.length - 1]!;
  const current = node[last];
  const convert = CONVERTED[path];
  if (convert) {
    node[last] = converted(convert, value, envName);
  } else if (Array.isArray(current)) {
    try {
      node[last] = JSON.parse(value) as unknown;
    } catch {
      throw new ConfigError(`${envName}: expected a JSON list`);
    }
    if (!Array.isArray(node[last])) throw new ConfigError(`${envName}: expected a JSON list`);
  } else if (typeof current === 'boolean') {
    if (!/^(true|false|1|0)$/.test(value)) throw new ConfigError(`${envName}: expected true or false, got "${value}"`);
    node[last] = value === 'true' || value === '1';
  } else if (typeof current === 'number') {
    const n = Number(value);
    if (!Number.isFinite(n)) throw new ConfigError(`${envName}: expected a number, got "${value}"`);
    node[last] = n;
  } else {
    node[last] = value;
  }
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];
const ACTIONS = ['pull', 'push', 'delete', '*'];

function validate(c: WharfConfig): void {
  parseListenAddress(c.http.addr, 'http.addr');
  c.proxy.upstreams = c.proxy.upstreams.map((u, i) => upstreamConfig(u, `proxy.upstreams[${i}]`));
  const names = c.proxy.upstreams.map((u) => u.name);
  const dup = names.find((n, i) => names.indexOf(n) !== i);
  if (dup) throw new ConfigError(`proxy.upstreams: the name "${dup}" is used twice`);
  if (c.proxy.default && !names.includes(c.proxy.default)) {
    throw new ConfigError(`proxy.default: "${c.proxy.default}" is not the name of an upstream (${names.join(', ') || 'none configured'})`);
  }
  c.gc.retention = c.gc.retention.map((r, i) => retentionRule(r, `gc.retention[${i}]`));
  if (!c.storage.root) throw new ConfigError('storage.root: must not be empty');
  if (!(c.storage.uploads.expireAfter > 0)) throw new ConfigError('storage.uploads.expireAfter: must be positive seconds');
  if (!(c.storage.manifestCacheBytes >= 0)) throw new ConfigError('storage.manifestCacheBytes: must be a number of bytes, 0 or more');
  if (!(c.http.shutdownTimeout >= 0)) throw new ConfigError('http.shutdownTimeout: must be milliseconds, 0 or more');
  if (!/^[a-z0-9_.-]+\/[a-z0-9_.-]+(\/[a-z0-9_.-]+)?$/i.test(c.compatibility.defaultPlatform)) {
    throw new ConfigError(`compatibility.defaultPlatform: expected os/architecture[/variant] such as linux/amd64, got "${c.compatibility.defaultPlatform}"`);
  }
  if (!LOG_LEVELS.includes(c.log.level)) {
    throw new ConfigError(`log.level: expected one of ${LOG_LEVELS.join(', ')}, got "${c.log.level}"`);
  }
  if (Boolean(c.http.tls.certificate) !== Boolean(c.http.tls.key)) {
    throw new ConfigError('http.tls: set both certificate and key, or neither');
  }
  for (const [group, users] of Object.entries(c.auth.groups)) {
    if (!Array.isArray(users) || users.some((u) => typeof u !== 'string')) {
      throw new ConfigError(`auth.groups.${group}: expected a list of user names`);
    }
  }
  const t = c.auth.token;
  if ((t.jwks || t.rootcertbundle) && !t.realm) {
    throw new ConfigError('auth.token.realm: an external issuer (auth.token.jwks or rootcertbundle) needs the URL of its token endpoint');
  }
  if ((t.jwks || t.rootcertbundle) && !t.enabled) {
    throw new ConfigError('auth.token.enabled: set it to true to use the external issuer in auth.token.jwks/rootcertbundle');
  }
  if (t.enabled && !t.jwks && !t.rootcertbundle && !c.auth.htpasswd.path && c.auth.access.length === 0) {
    throw new ConfigError('auth.token: the built-in token server needs users (auth.htpasswd.path) or anonymous access rules (auth.access)');
  }
  for (const origin of c.http.cors.origins) {
    if (typeof origin !== 'string' || (origin !== '*' && !/^https?:\/\/[^/\s]+$/.test(origin))) {
      throw new ConfigError(`http.cors.origins: expected origins like https://ui.example.com (scheme, host, port; no path) or *, got ${JSON.stringify(origin)}`);
    }
  }
  if (c.ui.sessionSecret !== '' && c.ui.sessionSecret.length < 32) throw new ConfigError('ui.sessionSecret: use at least 32 characters (or leave it empty for a generated key)');
  if (c.ui.sessionLifetime <= 0 || c.ui.importMaxBytes <= 0) throw new ConfigError('ui.sessionLifetime and ui.importMaxBytes: must be positive');
  if (t.expiration <= 0 || t.refreshExpiration <= 0) throw new ConfigError('auth.token.expiration: must be positive seconds');
  c.auth.access.forEach((rule, i) => {
    const at = `auth.access[${i}]`;
    if (rule === null || typeof rule !== 'object') throw new ConfigError(`${at}: expected a mapping`);
    for (const key of Object.keys(rule)) {
      if (!['subjects', 'repositories', 'actions'].includes(key)) throw new ConfigError(`unknown config key "${at}.${key}"`);
    }
    for (const key of ['subjects', 'repositories', 'actions'] as const) {
      if (!Array.isArray(rule[key]) || rule[key].some((v) => typeof v !== 'string')) {
        throw new ConfigError(`${at}.${key}: expected a list of strings`);
      }
    }
    for (const a of rule.actions) if (!ACTIONS.includes(a)) throw new ConfigError(`${at}.actions: unknown action "${a}"`);
  });
}

/** "127.0.0.1:5000", ":5000", "[::1]:5000" -> {host, port} */
export function parseListenAddress(addr: string, key = 'http.addr'): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(addr);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) throw new ConfigError(`${key}: expected host:port, got "${addr}"`);
  return { host: m[1] ?? (m[2] || '0.0.0.0'), port };
}

/** Fields of one upstream; unknown keys refused, defaults filled in. */
function upstreamConfig(raw: unknown, at: string): UpstreamConfig {
  const u = mapping(raw, at, ['name', 'url', 'username', 'password', 'passwordFile', 'revalidate', 'ca', 'tokenRealm']);
  const str = (key: string, dflt = ''): string => {
    const v = u[key] ?? dflt;
    if (typeof v !== 'string') throw new ConfigError(`${at}.${key}: expected a string`);
    return v;
  };
  const out: UpstreamConfig = {
    name: str('name'),
    url: str('url').replace(/\/+$/, ''),
    username: str('username'),
    password: str('password'),
    passwordFile: str('passwordFile'),
    revalidate: converted(parseDuration, u.revalidate ?? '5m', `${at}.revalidate`),
    ca: str('ca'),
    tokenRealm: str('tokenRealm'),
  };
  // The name is the first component of cached repository names: it must be one.
  if (!/^[a-z0-9]+(?:[._-][a-z0-9]+)*(?::[0-9]+)?$/.test(out.name)) {
    throw new ConfigError(`${at}.name: expected a host-like name such as docker.io or ghcr.io, got "${out.name}"`);
  }
  let url: URL | undefined;
  try {
    url = new URL(out.url);
  } catch {
    url = undefined;
  }
  if (!url || !['http:', 'https:'].includes(url.protocol) || url.pathname !== '/' || url.search) {
    throw new ConfigError(`${at}.url: expected http(s)://host[:port], got "${out.url}"`);
  }
  if (out.password && out.passwordFile) throw new ConfigError(`${at}: set password or passwordFile, not both`);
  if ((out.password || out.passwordFile) && !out.username) throw new ConfigError(`${at}.username: a password needs a username`);
  if (out.passwordFile) {
    try {
      out.password = readFileSync(out.passwordFile, 'utf8').replace(/\r?\n$/, '');
    } catch (err) {
      throw new ConfigError(`${at}.passwordFile: cannot read ${out.passwordFile}: ${(err as Error).message}`);
    }
  }
  return out;
}

function retentionRule(raw: unknown, at: string): RetentionRule {
  const r = mapping(raw, at, ['repositories', 'keepTags', 'untaggedAfter']);
  if (!Array.isArray(r.repositories) || r.repositories.length === 0 || r.repositories.some((v) => typeof v !== 'string')) {
    throw new ConfigError(`${at}.repositories: expected a list of repository globs`);
  }
  const keepTags = r.keepTags ?? 0;
  if (typeof keepTags !== 'number' || !Number.isSafeInteger(keepTags) || keepTags < 0) throw new ConfigError(`${at}.keepTags: expected a count`);
  const rule: RetentionRule = { repositories: r.repositories as string[], keepTags };
  if (r.untaggedAfter !== undefined) rule.untaggedAfter = converted(parseDuration, r.untaggedAfter, `${at}.untaggedAfter`);
  return rule;
}

function mapping(raw: unknown, at: string, keys: string[]): Record<string, unknown> {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw new ConfigError(`${at}: expected a mapping`);
  for (const key of Object.keys(raw)) if (!keys.includes(key)) throw new ConfigError(`unknown config key "${at}.${key}"`);
  return raw as Record<string, unknown>;
}
