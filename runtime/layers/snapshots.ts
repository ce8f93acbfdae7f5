/**
 * Container root filesystems as overlayfs mounts: the image's unpacked layers (shared,
 * read-only) below, the container's own upper dir on top. Preparing a rootfs mounts and
 * copies nothing else.
 *
 * mount(2) and umount2(2) come from the native addon (runtime/native/fs.ts): a start
 * spawns no process. The kernel caps mount data at one page (4096 bytes): lowerdir lists
 * absolute paths when they fit, else relative ones (`<64 hex>`, 65 bytes per layer)
 * resolved from the layers dir (the mount's `cwd`, private to the thread that mounts):
 * about 60 layers fit; more are refused with a clear error.
 */
import { mkdir, readFile, readdir, rm, access } from 'node:fs/promises';
import { existsSync, lstatSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { Digest } from '../../oci/names.js';
import { parseDigest } from '../../oci/names.js';
import type { NodeLayout } from '../layout.js';
import { mount, umount } from '../native/fs.js';

/** One page, less room for the kernel's own additions. */
const MAX_MOUNT_OPTIONS = 4000;

export class SnapshotError extends Error {
  override name = 'SnapshotError';
  constructor(
    message: string,
    /** The errno name of a failed mount/umount, e.g. "EBUSY". */
    readonly code?: string,
  ) {
    super(message);
  }
}

function errnoDetail(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  return e.code ? `${e.code} (${e.message})` : String((err as Error).message ?? err);
}

export interface Snapshot {
  id: string;
  /** where the merged rootfs is mounted */
  rootfs: string;
  upperDir: string;
  workDir: string;
  /** diffIDs, bottom layer first (the order of the image config's rootfs.diff_ids) */
  layers: Digest[];
  readOnly: boolean;
}

export interface PrepareOptions {
  /** mount the overlay read-only (`--read-only`) */
  readOnly?: boolean;
  /**
   * overlayfs `volatile`: no sync of the upper filesystem, at unmount either (which
   * otherwise writes back every dirty page of the filesystem holding the node root). For a
   * rootfs thrown away when its container ends (--rm): a crash may lose its writes.
   */
  volatile?: boolean;
}

const ID_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}$/;

/**
 * Mount a rootfs for container `id` from unpacked layers (see ensureLayerUnpacked).
 * The snapshot record is written before the mount so image GC never removes a layer a
 * container is about to use.
 */
export async function prepareSnapshot(
  layout: NodeLayout,
  id: string,
  layers: Digest[],
  opts: PrepareOptions = {},
): Promise<Snapshot> {
  if (!ID_RE.test(id)) throw new SnapshotError(`invalid container id "${id}"`);
  const snap: Snapshot = {
    id,
    rootfs: layout.rootfsDir(id),
    upperDir: layout.upperDir(id),
    workDir: layout.workDir(id),
    layers,
    readOnly: opts.readOnly ?? false,
  };
  // A handful of metadata calls on the node root's filesystem: synchronous, as each libuv
  // pool round trip costs more than the call (a start waits for every one of them).
  for (const l of layers) {
    if (!existsSync(layout.layerDir(l))) throw new SnapshotError(`layer ${l} is not unpacked under ${layout.layersDir}`);
  }
  mkdirSync(layout.containerDir(id), { recursive: true, mode: 0o700 });
  mkdirSync(layout.layersDir, { recursive: true }); // the mount's cwd, even with no layers
  writeFileSync(layout.snapshotRecordPath(id), JSON.stringify(snap));
  for (const d of [snap.upperDir, snap.workDir, snap.rootfs]) mkdirSync(d, { recursive: true, mode: 0o755 });

  // overlayfs wants at least one lower dir: an image without layers stacks an empty one.
  const layersDir = resolve(layout.layersDir);
  const names = [...layers].reverse().map((l) => layout.layerDirName(l));
  let relative = names.join(':');
  if (relative === '') {
    const empty = resolve(layout.containerDir(id), 'empty');
    await mkdir(empty, { recursive: true });
    relative = empty;
  }
  // Absolute lower dirs when they fit in the page (and the node root has no character the
  // option syntax would need escaped): the mount is then one syscall on this thread. Else
  // relative ones, resolved from the mount's cwd, which the addon sets on a short-lived
  // thread of its own (the start waits for that thread to be scheduled: milliseconds on a
  // busy machine).
  const absolute = names.length > 0 && !/[:,\\]/.test(layersDir) ? names.map((n) => `${layersDir}/${n}`).join(':') : undefined;
  // upperdir/workdir absolute: relative ones would resolve from the layers dir.
  let rest = `,upperdir=${resolve(snap.upperDir)},workdir=${resolve(snap.workDir)}`;
  if (opts.volatile) {
    rest += ',volatile';
    // A volatile mount leaves work/incompat/volatile behind, and overlayfs refuses to mount
    // over it again: a volatile rootfs's writes are disposable, so mounting it again is fine.
    rmSync(resolve(snap.workDir, 'work', 'incompat'), { recursive: true, force: true });
  }
  const fits = (o: string) => Buffer.byteLength(o) <= MAX_MOUNT_OPTIONS;
  const withAbsolute = absolute === undefined ? undefined : `lowerdir=${absolute}${rest}`;
  const options = withAbsolute !== undefined && fits(withAbsolute) ? withAbsolute : `lowerdir=${relative}${rest}`;
  if (!fits(options)) {
    await rm(layout.containerDir(id), { recursive: true, force: true });
    throw new SnapshotError(`too many layers (${layers.length}) for one overlay mount`);
  }
  try {
    mount('overlay', resolve(snap.rootfs), 'overlay', snap.readOnly ? ['rdonly'] : [], options, options === withAbsolute ? {} : { cwd: layersDir });
  } catch (err) {
    await rm(layout.containerDir(id), { recursive: true, force: true });
    throw new SnapshotError(`mounting the rootfs of ${id} failed: ${errnoDetail(err)}`, (err as NodeJS.ErrnoException).code);
  }
  return snap;
}

/** Is something mounted exactly at `path`? (from /proc/self/mountinfo) */
export async function isMounted(path: string): Promise<boolean> {
  const info = await readFile('/proc/self/mountinfo', 'utf8');
  // Field 5 is the mount point, with spaces etc. octal-escaped.
  const escaped = path.replace(/[ \t\n\\]/g, (c) => `\\${c.charCodeAt(0).toString(8).padStart(3, '0')}`);
  return info.split('\n').some((line) => line.split(' ')[4] === escaped);
}

/**
 * Is a filesystem mounted on the snapshot's rootfs dir? Only overlays are mounted there,
 * and an overlay has a device of its own: two lstats, not a read of the whole mount table
 * (which other containers and daemons make long).
 */
function rootfsMounted(rootfs: string): boolean {
  try {
    return lstatSync(rootfs).dev !== lstatSync(dirname(rootfs)).dev;
  } catch {
    return false;
  }
}

/** Unmount the rootfs (if mounted) and keep the upper dir and records (a stopped container). Idempotent. */
export async function unmountSnapshot(layout: NodeLayout, id: string): Promise<void> {
  if (!ID_RE.test(id)) throw new SnapshotError(`invalid container id "${id}"`);
  const rootfs = layout.rootfsDir(id);
  while (rootfsMounted(rootfs)) {
    try {
      umount(resolve(rootfs));
    } catch (err) {
      // EBUSY: a process that is still going away (an exiting shim or exec) holds a file or
      // its cwd in the rootfs. Detach it, as containerd's cleanup does: it leaves the mount
      // table now, and the kernel frees it once the last user is gone.
      if ((err as NodeJS.ErrnoException).code === 'EBUSY') {
        try {
          umount(resolve(rootfs), { detach: true });
          continue;
        } catch {
          /* fall through to the error below */
        }
      }
      throw new SnapshotError(`unmounting ${rootfs} failed: ${errnoDetail(err)}`, (err as NodeJS.ErrnoException).code);
    }
  }
}

/** Unmount the rootfs (if mounted) and delete the container's snapshot dirs. Idempotent. */
export async function removeSnapshot(layout: NodeLayout, id: string): Promise<void> {
  await unmountSnapshot(layout, id);
  await rm(layout.containerDir(id), { recursive: true, force: true });
}

/** Ids of the containers that have a snapshot record. */
export async function listSnapshots(layout: NodeLayout): Promise<string[]> {
  const ids = await readdir(layout.containersDir).catch(() => [] as string[]);
  const out: string[] = [];
  for (const id of ids) {
    if (await access(layout.snapshotRecordPath(id)).then(() => true, () => false)) out.push(id);
  }
  return out.sort();
}

/** Unmount and remove every snapshot under the node root (tests, node reset). */
export async function removeAllSnapshots(layout: NodeLayout): Promise<void> {
  for (const id of await listSnapshots(layout)) await removeSnapshot(layout, id);
}

/** Layers held by existing snapshots: image GC must keep these. */
export async function layersInUse(layout: NodeLayout): Promise<Set<Digest>> {
  const used = new Set<Digest>();
  let ids: string[];
  try {
    ids = await readdir(layout.containersDir);
  } catch {
    return used;
  }
  for (const id of ids) {
    try {
      const snap = JSON.parse(await readFile(layout.snapshotRecordPath(id), 'utf8')) as Snapshot;
      for (const l of snap.layers) {
        const d = parseDigest(l);
        if (d) used.add(d);
      }
    } catch {
      /* no snapshot record: nothing held */
    }
  }
  return used;
}
