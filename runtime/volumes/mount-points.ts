/**
 * A container's mount points from its create body, with Docker's rules and words (moby
 * volume/mounts/linux_parser.go, daemon/volumes.go registerMountPoints):
 *
 *   parseBind("src:dst[:mode]")   -v / HostConfig.Binds: a host path (absolute) or a
 *                                 volume name; "dst" alone is an anonymous volume
 *   parseMount({Type, Source, …}) --mount / HostConfig.Mounts: bind, volume, tmpfs
 *   parseTmpfs(dst, "opts")       --tmpfs / HostConfig.Tmpfs
 *   planMountPoints(...)          all of them, merged by destination as dockerd does:
 *                                 --volumes-from first, then binds and mounts (which must
 *                                 not repeat a destination), then the image's and the
 *                                 body's Volumes as anonymous volumes where nothing else
 *                                 sits; sorted parents first
 *
 * Pure: no I/O. Volumes get their names here (anonymous ones a random one); the volume
 * service creates them and fills in `Source`.
 */
import { randomBytes } from 'node:crypto';
import { posix } from 'node:path';
import { badParameter } from '../daemon/errors.js';

export type MountType = 'bind' | 'volume' | 'tmpfs';

export type TmpfsFlag = 'nosuid' | 'nodev' | 'noexec' | 'noatime' | 'relatime';

/** One mount point of a container, as its record keeps it (Docker's MountPoint, plus what a start needs). */
export interface MountPoint {
  Type: MountType;
  /** volume name */
  Name?: string;
  /** host path: the bind source, the volume's mountpoint; '' for tmpfs */
  Source: string;
  Destination: string;
  Driver?: string;
  Mode: string;
  RW: boolean;
  Propagation: string;
  /** -v binds create a missing host directory; --mount binds need it to exist */
  CreateSource?: boolean;
  /** a volume still to be filled from the image's content at Destination (once, when empty) */
  CopyData?: boolean;
  /** an anonymous volume: removed with the container (rm -v, --rm) */
  Anonymous?: boolean;
  /** tmpfs: flags and mount data */
  Tmpfs?: { flags: TmpfsFlag[]; data: string };
}

/** What inspect shows of a mount point (Docker's shape). */
export function mountView(m: MountPoint): Record<string, unknown> {
  const v: Record<string, unknown> = { Type: m.Type };
  if (m.Type === 'volume') v.Name = m.Name;
  v.Source = m.Source;
  v.Destination = m.Destination;
  if (m.Type === 'volume') v.Driver = m.Driver ?? 'local';
  v.Mode = m.Mode;
  v.RW = m.RW;
  v.Propagation = m.Propagation;
  return v;
}

export const VOLUME_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]+$/;

export function checkVolumeName(name: string): void {
  if (!VOLUME_NAME.test(name)) {
    throw badParameter(
      `create ${name}: "${name}" includes invalid characters for a local volume name, only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host directory, use absolute path`,
    );
  }
}

export const anonymousVolumeName = (): string => randomBytes(32).toString('hex');

const PROPAGATIONS = ['private', 'rprivate', 'shared', 'rshared', 'slave', 'rslave'];

function destination(type: MountType, dst: string): string {
  if (!dst.startsWith('/')) throw badParameter(`invalid mount config for type "${type}": invalid mount path: '${dst}' mount path must be absolute`);
  if (dst.includes('\0')) throw badParameter(`invalid mount config for type "${type}": invalid mount path: '${dst}'`);
  const clean = posix.normalize(dst).replace(/\/+$/, '') || '/';
  if (clean === '/') throw badParameter(`invalid specification: destination can't be '/'`);
  return clean;
}

function checkPropagation(type: MountType, p: string): string {
  if (p === '' || p === 'private' || p === 'rprivate') return type === 'bind' ? p || 'rprivate' : '';
  if (PROPAGATIONS.includes(p)) throw badParameter(`invalid mount config for type "${type}": propagation mode ${p} is not supported on this node (its mounts are private)`);
  throw badParameter(`invalid mount config for type "${type}": invalid propagation mode: ${p}`);
}

/** moby ValidMountMode: ro|rw, z|Z, nocopy, one propagation, comma-separated, none twice. */
function parseMode(spec: string, mode: string): { rw: boolean; nocopy: boolean; propagation: string } {
  let rw: boolean | undefined;
  let label = false;
  let nocopy = false;
  let propagation = '';
  for (const o of mode.split(',')) {
    if (o === 'ro' || o === 'rw') {
      if (rw !== undefined) throw badParameter(`invalid mode: ${mode}`);
      rw = o === 'rw';
    } else if (o === 'z' || o === 'Z') {
      if (label) throw badParameter(`invalid mode: ${mode}`);
      label = true;
    } else if (o === 'nocopy') {
      if (nocopy) throw badParameter(`invalid mode: ${mode}`);
      nocopy = true;
    } else if (PROPAGATIONS.includes(o)) {
      if (propagation) throw badParameter(`invalid mode: ${mode}`);
      propagation = o;
    } else {
      throw badParameter(`invalid mode: ${mode}`);
    }
  }
  void spec;
  return { rw: rw ?? true, nocopy, propagation };
}

const isMode = (s: string): boolean => {
  try {
    parseMode('', s);
    return true;
  } catch {
    return false;
  }
};

/** -v / Binds: "src:dst[:mode]", "dst[:mode]" (anonymous). */
export function parseBind(spec: string): MountPoint {
  if (typeof spec !== 'string' || spec === '') throw badParameter(`invalid volume specification: '${String(spec)}'`);
  const arr = spec.split(':');
  let src = '';
  let dst: string;
  let mode = '';
  if (arr.length === 1) dst = arr[0]!;
  else if (arr.length === 2 && isMode(arr[1]!)) [dst, mode] = arr as [string, string];
  else if (arr.length === 2) [src, dst] = arr as [string, string];
  else if (arr.length === 3) [src, dst, mode] = arr as [string, string, string];
  else throw badParameter(`invalid volume specification: '${spec}'`);
  if (dst === '') throw badParameter(`invalid volume specification: '${spec}'`);
  const type: MountType = src.startsWith('/') ? 'bind' : 'volume';
  const m = mode ? parseMode(spec, mode) : { rw: true, nocopy: false, propagation: '' };
  const Destination = destination(type, dst);
  if (type === 'bind') {
    if (m.nocopy) throw badParameter(`invalid mode: ${mode}`);
    return { Type: 'bind', Source: posix.normalize(src), Destination, Mode: mode, RW: m.rw, Propagation: checkPropagation('bind', m.propagation), CreateSource: true };
  }
  if (m.propagation) throw badParameter(`invalid mode: ${mode}`);
  if (src !== '') checkVolumeName(src);
  return {
    Type: 'volume',
    Name: src || anonymousVolumeName(),
    Source: '',
    Destination,
    Driver: 'local',
    Mode: src === '' ? mode : mode || 'z',
    RW: m.rw,
    Propagation: '',
    CopyData: !m.nocopy,
    ...(src === '' ? { Anonymous: true } : {}),
  };
}

interface ApiMount {
  Type?: unknown;
  Source?: unknown;
  Target?: unknown;
  ReadOnly?: unknown;
  Consistency?: unknown;
  BindOptions?: { Propagation?: unknown; NonRecursive?: unknown; CreateMountpoint?: unknown } | null;
  VolumeOptions?: { NoCopy?: unknown; Labels?: unknown; DriverConfig?: { Name?: unknown; Options?: unknown } | null } | null;
  TmpfsOptions?: { SizeBytes?: unknown; Mode?: unknown } | null;
}

const str = (v: unknown): string => (typeof v === 'string' ? v : '');

/** --mount / Mounts (api/types/mount Mount), with moby's validation words. */
export function parseMount(raw: unknown): MountPoint {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw badParameter('invalid mount config: a mount must be an object');
  const m = raw as ApiMount;
  const type = str(m.Type);
  if (type !== 'bind' && type !== 'volume' && type !== 'tmpfs') throw badParameter(`invalid mount config for type "${type}": mount type unknown`);
  const target = str(m.Target);
  if (target === '') throw badParameter(`invalid mount config for type "${type}": field Target must not be empty`);
  const Destination = destination(type, target);
  const rw = m.ReadOnly !== true;
  const source = str(m.Source);
  if (type !== 'bind' && m.BindOptions) throw badParameter(`invalid mount config for type "${type}": field BindOptions must not be specified`);
  if (type !== 'volume' && m.VolumeOptions) throw badParameter(`invalid mount config for type "${type}": field VolumeOptions must not be specified`);
  if (type !== 'tmpfs' && m.TmpfsOptions) throw badParameter(`invalid mount config for type "${type}": field TmpfsOptions must not be specified`);
  if (type === 'bind') {
    if (source === '') throw badParameter(`invalid mount config for type "bind": field Source must not be empty`);
    if (!source.startsWith('/')) throw badParameter(`invalid mount config for type "bind": invalid mount path: '${source}' mount path must be absolute`);
    return {
      Type: 'bind',
      Source: posix.normalize(source),
      Destination,
      Mode: '',
      RW: rw,
      Propagation: checkPropagation('bind', str(m.BindOptions?.Propagation)),
      CreateSource: m.BindOptions?.CreateMountpoint === true,
    };
  }
  if (type === 'volume') {
    if (source !== '') checkVolumeName(source);
    const driver = str(m.VolumeOptions?.DriverConfig?.Name);
    if (driver !== '' && driver !== 'local') throw badParameter(`invalid mount config for type "volume": volume driver ${driver} is not available on this node (only local)`);
    return {
      Type: 'volume',
      Name: source || anonymousVolumeName(),
      Source: '',
      Destination,
      Driver: 'local',
      Mode: '',
      RW: rw,
      Propagation: '',
      CopyData: m.VolumeOptions?.NoCopy !== true,
      ...(source === '' ? { Anonymous: true } : {}),
    };
  }
  if (source !== '') throw badParameter(`invalid mount config for type "tmpfs": field Source must not be specified`);
  const opts: string[] = [];
  const size = m.TmpfsOptions?.SizeBytes;
  if (size !== undefined && size !== null && size !== 0) {
    if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) throw badParameter(`invalid mount config for type "tmpfs": invalid tmpfs size ${String(size)}`);
    opts.push(`size=${Math.ceil(size / 1024)}k`);
  }
  const mode = m.TmpfsOptions?.Mode;
  if (mode !== undefined && mode !== null && mode !== 0) {
    if (typeof mode !== 'number' || !Number.isInteger(mode) || mode < 0 || mode > 0o7777) throw badParameter(`invalid mount config for type "tmpfs": invalid tmpfs mode ${String(mode)}`);
    opts.push(`mode=${mode.toString(8)}`);
  }
  return { ...parseTmpfs(target, opts.join(',')), RW: rw };
}

const TMPFS_DATA_KEYS = ['size', 'mode', 'uid', 'gid', 'nr_inodes', 'nr_blocks'];
const TMPFS_FLAG_PAIRS: Record<string, [TmpfsFlag, boolean]> = {
  noexec: ['noexec', true],
  exec: ['noexec', false],
  nosuid: ['nosuid', true],
  suid: ['nosuid', false],
  nodev: ['nodev', true],
  dev: ['nodev', false],
  noatime: ['noatime', true],
  atime: ['noatime', false],
  relatime: ['relatime', true],
};

/** --tmpfs / Tmpfs: moby's defaults noexec,nosuid,nodev, then the user's options (later wins). */
export function parseTmpfs(target: string, options: string): MountPoint {
  if (typeof options !== 'string') throw badParameter(`invalid tmpfs options for ${target}: a string is expected`);
  const Destination = destination('tmpfs', target);
  const flags = new Set<TmpfsFlag>(['noexec', 'nosuid', 'nodev']);
  const data = new Map<string, string>();
  let rw = true;
  for (const o of options.split(',').map((x) => x.trim()).filter(Boolean)) {
    if (o === 'ro' || o === 'rw') {
      rw = o === 'rw';
      continue;
    }
    const pair = TMPFS_FLAG_PAIRS[o];
    if (pair) {
      if (pair[1]) flags.add(pair[0]);
      else flags.delete(pair[0]);
      continue;
    }
    const eq = o.indexOf('=');
    const key = eq < 0 ? o : o.slice(0, eq);
    const value = eq < 0 ? '' : o.slice(eq + 1);
    if (!TMPFS_DATA_KEYS.includes(key) || !/^[0-9a-zA-Z%]+$/.test(value)) throw badParameter(`invalid tmpfs option ["${o}"]`);
    data.set(key, value);
  }
  return {
    Type: 'tmpfs',
    Source: '',
    Destination,
    Mode: '',
    RW: rw,
    Propagation: '',
    Tmpfs: { flags: [...flags].sort(), data: [...data].map(([k, v]) => `${k}=${v}`).join(',') },
  };
}

/** --volumes-from "container[:ro|:rw]" */
export function parseVolumesFrom(spec: string): { container: string; mode?: 'ro' | 'rw' } {
  if (typeof spec !== 'string' || spec === '') throw badParameter(`invalid volumes-from: '${String(spec)}'`);
  const i = spec.lastIndexOf(':');
  if (i < 0) return { container: spec };
  const mode = spec.slice(i + 1);
  if (mode !== 'ro' && mode !== 'rw') throw badParameter(`invalid mode: ${mode}`);
  return { container: spec.slice(0, i), mode };
}

export interface MountRequest {
  binds?: unknown;
  mounts?: unknown;
  tmpfs?: unknown;
  volumesFrom?: unknown;
  /** Config.Volumes of the body and of the image: anonymous volumes */
  volumes: unknown[];
}

function list(what: string, v: unknown): unknown[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw badParameter(`${what} must be an array`);
  return v;
}

/**
 * Every mount point of a new container. `mountsOf(ref)` gives the mount points of the
 * container named by --volumes-from (throws "No such container" for none).
 */
export function planMountPoints(req: MountRequest, mountsOf: (ref: string) => readonly MountPoint[]): MountPoint[] {
  const byDest = new Map<string, MountPoint>();
  for (const spec of list('VolumesFrom', req.volumesFrom)) {
    const { container, mode } = parseVolumesFrom(spec as string);
    for (const m of mountsOf(container)) {
      if (m.Type === 'tmpfs') continue;
      const copy: MountPoint = { ...m, CopyData: false };
      if (mode) {
        copy.RW = mode === 'rw';
        copy.Mode = mode;
      }
      byDest.set(m.Destination, copy);
    }
  }
  const user = new Set<string>();
  const add = (m: MountPoint) => {
    if (user.has(m.Destination)) throw badParameter(`Duplicate mount point: ${m.Destination}`);
    user.add(m.Destination);
    byDest.set(m.Destination, m);
  };
  for (const b of list('Binds', req.binds)) add(parseBind(b as string));
  for (const m of list('Mounts', req.mounts)) add(parseMount(m));
  if (req.tmpfs !== undefined && req.tmpfs !== null) {
    if (typeof req.tmpfs !== 'object' || Array.isArray(req.tmpfs)) throw badParameter('Tmpfs must be an object of path: options');
    for (const [dst, opts] of Object.entries(req.tmpfs as Record<string, unknown>)) add(parseTmpfs(dst, (opts ?? '') as string));
  }
  for (const vols of req.volumes) {
    if (vols === undefined || vols === null) continue;
    if (typeof vols !== 'object' || Array.isArray(vols)) throw badParameter('Volumes must be an object of path: {}');
    for (const dst of Object.keys(vols as object)) {
      const d = destination('volume', dst);
      if (byDest.has(d)) continue;
      byDest.set(d, { Type: 'volume', Name: anonymousVolumeName(), Source: '', Destination: d, Driver: 'local', Mode: '', RW: true, Propagation: '', CopyData: true, Anonymous: true });
    }
  }
  const depth = (p: string) => p.split('/').length;
  return [...byDest.values()].sort((a, b) => depth(a.Destination) - depth(b.Destination));
}
