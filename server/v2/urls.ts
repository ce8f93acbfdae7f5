/**
 * Every URL of the /v2 API, in one place. `<name>` contains slashes, so a path is
 * matched on its tail (`/manifests/<ref>`, `/blobs/uploads/<id>`, ...) and everything
 * before is the name. Paths are matched raw (still percent-encoded): `%2e%2e` or an
 * encoded slash never turns into a name component.
 */
export type V2Route =
  | { route: 'base' }
  | { route: 'catalog' }
  | { route: 'tags'; name: string }
  | { route: 'manifest'; name: string; reference: string }
  | { route: 'uploads'; name: string }
  | { route: 'upload'; name: string; id: string }
  | { route: 'blob'; name: string; digest: string }
  | { route: 'referrers'; name: string; digest: string };

const PATTERNS: [RegExp, (m: RegExpExecArray) => V2Route][] = [
  [/^\/?$/, () => ({ route: 'base' })],
  [/^\/_catalog$/, () => ({ route: 'catalog' })],
  [/^\/(.+)\/tags\/list$/, (m) => ({ route: 'tags', name: m[1]! })],
  [/^\/(.+)\/manifests\/([^/]+)$/, (m) => ({ route: 'manifest', name: m[1]!, reference: m[2]! })],
  [/^\/(.+)\/blobs\/uploads\/?$/, (m) => ({ route: 'uploads', name: m[1]! })],
  [/^\/(.+)\/blobs\/uploads\/([^/]+)$/, (m) => ({ route: 'upload', name: m[1]!, id: m[2]! })],
  [/^\/(.+)\/blobs\/([^/]+)$/, (m) => ({ route: 'blob', name: m[1]!, digest: m[2]! })],
  [/^\/(.+)\/referrers\/([^/]+)$/, (m) => ({ route: 'referrers', name: m[1]!, digest: m[2]! })],
];

/** `path` is relative to /v2 (express strips the mount point). */
export function matchV2Path(path: string): V2Route | undefined {
  for (const [re, build] of PATTERNS) {
    const m = re.exec(path);
    if (m) return build(m);
  }
  return undefined;
}

export const urls = {
  blob: (name: string, digest: string): string => `/v2/${name}/blobs/${digest}`,
  upload: (name: string, id: string): string => `/v2/${name}/blobs/uploads/${id}`,
  manifest: (name: string, reference: string): string => `/v2/${name}/manifests/${reference}`,
  tags: (name: string): string => `/v2/${name}/tags/list`,
  catalog: (): string => '/v2/_catalog',
};
