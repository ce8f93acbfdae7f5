/**
 * The container's user, as Docker resolves it (libcontainer's GetExecUser, then moby's
 * getUser): `name|uid[:group|gid]` and --group-add against the image's /etc/passwd and
 * /etc/group, which are read inside the rootfs (runtime/layers/in-root.ts), never through
 * a symlink to the host and never from a device or FIFO.
 */
import { InRootError, readFileInRoot } from '../layers/in-root.js';
import { RunOptionsError } from './run-options.js';

export interface ResolvedUser {
  uid: number;
  gid: number;
  additionalGids: number[];
  home: string;
}

interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
  home: string;
}
interface GroupEntry {
  name: string;
  gid: number;
  members: string[];
}

/** Docker reads these files whole; a cap keeps a hostile image from making us read gigabytes. */
const MAX_ACCOUNT_FILE = 16 * 1024 * 1024;

/**
 * Reads /etc/passwd or /etc/group of the container: resolved inside the rootfs (an image's
 * `/etc/passwd -> /etc/passwd` is the image's own file), regular files only (a device or
 * FIFO there is refused, never read). Missing: undefined, as Docker treats it.
 */
async function readContainerFile(rootfs: string, path: string): Promise<string | undefined> {
  try {
    return (await readFileInRoot(rootfs, path, MAX_ACCOUNT_FILE))?.toString('utf8');
  } catch (e) {
    if (e instanceof InRootError) throw new RunOptionsError(`cannot resolve the user: ${e.message}`, { cause: e });
    throw e;
  }
}

function parsePasswd(text: string | undefined): PasswdEntry[] {
  const out: PasswdEntry[] = [];
  for (const line of (text ?? '').split('\n')) {
    const f = line.split(':');
    if (f.length < 7 || line.startsWith('#')) continue;
    const uid = Number(f[2]);
    const gid = Number(f[3]);
    if (!Number.isInteger(uid) || !Number.isInteger(gid)) continue;
    out.push({ name: f[0]!, uid, gid, home: f[5] || '/' });
  }
  return out;
}

function parseGroup(text: string | undefined): GroupEntry[] {
  const out: GroupEntry[] = [];
  for (const line of (text ?? '').split('\n')) {
    const f = line.split(':');
    if (f.length < 4 || line.startsWith('#')) continue;
    const gid = Number(f[2]);
    if (!Number.isInteger(gid)) continue;
    out.push({ name: f[0]!, gid, members: f[3]!.split(',').filter((m) => m !== '') });
  }
  return out;
}

const ID_RE = /^\d+$/;
const MAX_ID = 0xfffffffe;

function checkedId(what: string, s: string): number {
  const n = Number(s);
  if (!Number.isSafeInteger(n) || n > MAX_ID) throw new RunOptionsError(`${what} ${s} is out of range`);
  return n;
}

/**
 * `name|uid[:group|gid]` (from -u or the image's User) against the container's /etc/passwd
 * and /etc/group, like Docker (libcontainer's GetExecUser, then moby's getUser): a name must
 * exist; a numeric uid need not (gid 0 then); the primary group is the passwd entry's unless
 * given. The supplementary groups are, in Docker's order: the primary gid, the /etc/group
 * entries that list the user as a member (only when no group was given), then each
 * --group-add (a group name of the image, or a numeric gid).
 */
export async function resolveUser(rootfs: string, spec: string | undefined, groupAdd: readonly string[] = []): Promise<ResolvedUser> {
  const s = spec ?? '';
  const [userPart = '', groupPart, ...rest] = s.split(':');
  if (rest.length > 0) throw new RunOptionsError(`invalid user "${s}": expected name|uid[:group|gid]`);
  const passwd = parsePasswd(await readContainerFile(rootfs, '/etc/passwd'));
  let entry: PasswdEntry | undefined;
  let uid: number;
  if (userPart === '') {
    uid = 0;
    entry = passwd.find((p) => p.uid === 0);
  } else if (ID_RE.test(userPart)) {
    uid = checkedId('uid', userPart);
    entry = passwd.find((p) => p.uid === uid);
  } else {
    entry = passwd.find((p) => p.name === userPart);
    if (!entry) throw new RunOptionsError(`unable to find user ${userPart}: no matching entries in passwd file`);
    uid = entry.uid;
  }
  let gid = entry?.gid ?? 0;
  const groups = parseGroup(await readContainerFile(rootfs, '/etc/group'));
  let memberOf: number[] = [];
  if (groupPart !== undefined) {
    if (groupPart === '') throw new RunOptionsError(`invalid user "${s}": empty group`);
    if (ID_RE.test(groupPart)) gid = checkedId('gid', groupPart);
    else {
      const g = groups.find((x) => x.name === groupPart);
      if (!g) throw new RunOptionsError(`unable to find group ${groupPart}: no matching entries in group file`);
      gid = g.gid;
    }
  } else if (entry) {
    memberOf = groups.filter((g) => g.members.includes(entry.name)).map((g) => g.gid);
  }
  const added = new Set<number>();
  for (const ag of groupAdd) {
    const g = groups.find((x) => x.name === ag || String(x.gid) === ag);
    if (g) added.add(g.gid);
    else if (ID_RE.test(ag)) added.add(checkedId('--group-add gid', ag));
    else throw new RunOptionsError(`unable to find group ${ag}: no matching entries in group file`);
  }
  const additionalGids = [...new Set([gid, ...memberOf, ...added])];
  const home = entry?.home ?? (uid === 0 ? '/root' : '/');
  return { uid, gid, additionalGids, home };
}
