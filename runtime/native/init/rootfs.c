/* The container's filesystem: see rootfs.h. */
#define _GNU_SOURCE
#include "rootfs.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/vfs.h>
#include <linux/magic.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "../sync.h"
#include "in-root.h"

#ifndef SYS_move_mount
#define SYS_move_mount 429
#endif
#ifndef MOVE_MOUNT_F_EMPTY_PATH
#define MOVE_MOUNT_F_EMPTY_PATH 0x00000004
#define MOVE_MOUNT_T_EMPTY_PATH 0x00000040
#endif

static int rootfd = -1;
static struct stat root_st;

/* mount(2) takes paths: an fd is named through /proc/self/fd, so the kernel
   mounts on exactly what was resolved inside the root. */
struct fd_path {
  char s[32];
};
static struct fd_path P(int fd) {
  struct fd_path p;
  snprintf(p.s, sizeof p.s, "/proc/self/fd/%d", fd);
  return p;
}

/* A mount over the root itself would hide the rootfs from the rest of the setup. */
static void refuse_root(int step, int fd, const char *path) {
  struct stat st;
  if (fstat(fd, &st) < 0) fail(step, errno, "stat %s", path);
  if (st.st_dev == root_st.st_dev && st.st_ino == root_st.st_ino)
    fail(step, EINVAL, "%s resolves to the container's root", path);
}

static int dir_in_root(int step, const char *path) {
  int fd = in_root_mkdirs(rootfd, path, 0755);
  if (fd < 0) fail(step, errno, "create %s inside the rootfs", path);
  refuse_root(step, fd, path);
  return fd;
}

/* After a mount on `path`, the fd resolved before still names what lies below
   it; resolve again to reach the new mount. */
static int reopen(int step, const char *path) {
  int fd = in_root_open(rootfd, path, 0);
  if (fd < 0) fail(step, errno, "open %s after mounting it", path);
  return fd;
}

static void mount_on(int step, const char *src, int target, const char *path, const char *fstype,
                     unsigned long flags, const char *data) {
  if (mount(src, P(target).s, fstype, flags, data) < 0)
    fail(step, errno, "mount %s on %s", fstype ? fstype : src ? src : "(remount)", path);
}

/* Mounts a fresh filesystem on `path` (created as a directory) and returns an
   fd on its root. */
static int mount_fresh(int step, const char *path, const char *fstype, unsigned long flags, const char *data) {
  int fd = dir_in_root(step, path);
  mount_on(step, fstype, fd, path, fstype, flags, data);
  close(fd);
  return reopen(step, path);
}

/* A directory `name` in the directory `dirfd` (both ours: a tmpfs just made). */
static int subdir(int step, int dirfd, const char *name, const char *what) {
  if (mkdirat(dirfd, name, 0755) < 0 && errno != EEXIST) fail(step, errno, "mkdir %s/%s", what, name);
  int fd = openat(dirfd, name, O_PATH | O_NOFOLLOW | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) fail(step, errno, "open %s/%s", what, name);
  return fd;
}

static void setup_dev(void) {
  static const struct { const char *name; unsigned maj, min; } devs[] = {
    {"null", 1, 3}, {"zero", 1, 5}, {"full", 1, 7}, {"random", 1, 8}, {"urandom", 1, 9}, {"tty", 5, 0},
  };
  static const struct { const char *target, *name; } links[] = {
    {"/proc/self/fd", "fd"}, {"/proc/self/fd/0", "stdin"}, {"/proc/self/fd/1", "stdout"},
    {"/proc/self/fd/2", "stderr"}, {"pts/ptmx", "ptmx"}, {"/proc/kcore", "core"},
  };
  const int step = WHARF_STEP_MOUNT_DEV;
  int dev = mount_fresh(step, "/dev", "tmpfs", MS_NOSUID | MS_STRICTATIME, "mode=755,size=65536k");
  mode_t old = umask(0);
  for (size_t i = 0; i < sizeof devs / sizeof devs[0]; i++) {
    if (mknodat(dev, devs[i].name, S_IFCHR | 0666, makedev(devs[i].maj, devs[i].min)) == 0) continue;
    /* Not allowed to mknod (e.g. in a user namespace): bind the host's node. */
    int fd = openat(dev, devs[i].name, O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0666);
    if (fd < 0) fail(step, errno, "create /dev/%s", devs[i].name);
    close(fd);
    fd = openat(dev, devs[i].name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) fail(step, errno, "open /dev/%s", devs[i].name);
    char host[32];
    snprintf(host, sizeof host, "/dev/%s", devs[i].name);
    mount_on(step, host, fd, host, NULL, MS_BIND, NULL);
    close(fd);
  }
  umask(old);
  for (size_t i = 0; i < sizeof links / sizeof links[0]; i++)
    if (symlinkat(links[i].target, dev, links[i].name) < 0) fail(step, errno, "symlink /dev/%s", links[i].name);
  int fd = subdir(step, dev, "pts", "/dev");
  mount_on(step, "devpts", fd, "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620,gid=5");
  close(fd);
  fd = subdir(step, dev, "shm", "/dev");
  mount_on(step, "shm", fd, "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=1777,size=65536k");
  close(fd);
  fd = subdir(step, dev, "mqueue", "/dev");
  mount_on(step, "mqueue", fd, "/dev/mqueue", "mqueue", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
  close(fd);
  close(dev);
}

/* cgroup namespace already unshared (sync 1. placed us in our cgroups first),
   so each hierarchy mounted here has the container's own cgroup as its root. */
static void setup_cgroupfs(const struct rootfs_plan *plan) {
  const int step = WHARF_STEP_MOUNT_CGROUP;
  const unsigned long ro = MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC;
  if (plan->cgroupfs == 2) {
    int fd = dir_in_root(step, "/sys/fs/cgroup");
    mount_on(step, "cgroup2", fd, "/sys/fs/cgroup", "cgroup2", ro, NULL);
    close(fd);
    return;
  }
  /* v1 as Docker lays it out: a tmpfs, one directory per hierarchy named by its
     controllers ("cpu,cpuacct"), a symlink per controller of a co-mounted one. */
  int top = mount_fresh(step, "/sys/fs/cgroup", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=755");
  for (int i = 0; i < plan->nhierarchies; i++) {
    const char *name = plan->hierarchies[i];
    int fd = subdir(step, top, name, "/sys/fs/cgroup");
    mount_on(step, "cgroup", fd, name, "cgroup", ro, name);
    close(fd);
    if (!strchr(name, ',')) continue;
    char one[NAME_MAX + 1];
    for (const char *p = name; *p;) {
      size_t len = strcspn(p, ",");
      if (len < sizeof one) {
        memcpy(one, p, len);
        one[len] = 0;
        if (symlinkat(name, top, one) < 0 && errno != EEXIST) fail(step, errno, "symlink /sys/fs/cgroup/%s", one);
      }
      p += len + (p[len] == ',');
    }
  }
  mount_on(step, NULL, top, "/sys/fs/cgroup", NULL, MS_REMOUNT | ro, "mode=755");
  close(top);
}

static unsigned long kept_flags(int fd) {
  struct statvfs sv;
  if (fstatvfs(fd, &sv) < 0) return 0;
  unsigned long f = 0;
  if (sv.f_flag & ST_NOSUID) f |= MS_NOSUID;
  if (sv.f_flag & ST_NODEV) f |= MS_NODEV;
  if (sv.f_flag & ST_NOEXEC) f |= MS_NOEXEC;
  if (sv.f_flag & ST_NOATIME) f |= MS_NOATIME;
  if (sv.f_flag & ST_NODIRATIME) f |= MS_NODIRATIME;
  if (sv.f_flag & ST_RELATIME) f |= MS_RELATIME;
  return f;
}

/* runc's rule: nothing is mounted over the container's procfs (a bind there could
   hide what mask_paths and readonly_paths protect). Checked on the resolved target,
   so an image's link into /proc is caught as well. */
static void refuse_proc(int step, int fd, const char *path) {
  struct statfs sf;
  if (fstatfs(fd, &sf) < 0) fail(step, errno, "statfs %s", path);
  if (sf.f_type == PROC_SUPER_MAGIC) fail(step, EPERM, "%s cannot be mounted because it is inside /proc", path);
}

/* A fresh tmpfs on a directory inside the root (--tmpfs, --mount type=tmpfs). */
static void setup_tmpfs(const struct bind *b) {
  const int step = WHARF_STEP_BINDS;
  int tgt = dir_in_root(step, b->target);
  refuse_proc(step, tgt, b->target);
  mount_on(step, "tmpfs", tgt, b->target, "tmpfs", b->flags, b->tmpfs);
  close(tgt);
}

/* Host file or directory onto a target inside the root made with the source's
   type; the mount is private (no propagation to or from the host). */
static void setup_binds(const struct rootfs_plan *plan) {
  const int step = WHARF_STEP_BINDS;
  for (int i = 0; i < plan->nbinds; i++) {
    const struct bind *b = &plan->binds[i];
    if (b->tmpfs) {
      setup_tmpfs(b);
      continue;
    }
    char what[32];
    if (!b->source) snprintf(what, sizeof what, "(fd %d)", b->fd);
    const char *name = b->source ? b->source : what;
    int src = b->source ? open(b->source, O_PATH | O_CLOEXEC) : b->fd;
    if (src < 0) fail(step, errno, "open bind source %s", name);
    struct stat st, tst;
    if (fstat(src, &st) < 0) fail(step, errno, "stat bind source %s", name);
    int dir = S_ISDIR(st.st_mode);
    if (!dir && !S_ISREG(st.st_mode) && !b->source)
      fail(step, EINVAL, "bind source for %s is neither a directory nor a file", b->target);
    int tgt = dir ? in_root_mkdirs(rootfd, b->target, 0755) : in_root_create_file(rootfd, b->target, 0644);
    if (tgt < 0) fail(step, errno, "create bind target %s", b->target);
    refuse_root(step, tgt, b->target);
    if (!b->source) refuse_proc(step, tgt, b->target);
    if (fstat(tgt, &tst) < 0) fail(step, errno, "stat bind target %s", b->target);
    if (dir != S_ISDIR(tst.st_mode))
      fail(step, dir ? ENOTDIR : EISDIR, "bind %s: source is %s, target %s is not", name,
           dir ? "a directory" : "a file", b->target);
    if (b->source) {
      mount_on(step, P(src).s, tgt, b->target, NULL, MS_BIND | MS_REC, NULL);
    } else if (syscall(SYS_move_mount, src, "", tgt, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0) {
      /* fd binds are detached trees the shim cloned (open_tree): attached here */
      fail(step, errno, "attach bind source %s on %s", name, b->target);
    }
    close(src);
    close(tgt);
    tgt = reopen(step, b->target);
    mount_on(step, NULL, tgt, b->target, NULL, MS_PRIVATE | MS_REC, NULL);
    if (b->readonly) {
      /* A bind remount replaces the per-mount flags: keep nosuid/nodev/noexec of the source. */
      mount_on(step, NULL, tgt, b->target, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | kept_flags(tgt), NULL);
    }
    close(tgt);
  }
}

/* Docker's masked paths: /dev/null over files, an empty read-only tmpfs over
   directories. The /dev/null bound is checked to be the null device (1:3): a
   symlink or another file there (the CVE-2025-31133 class) is refused. */
static void mask_paths(const struct rootfs_plan *plan) {
  const int step = WHARF_STEP_MASK_PATHS;
  if (plan->masks->n == 0) return;
  int null = in_root_open(rootfd, "/dev/null", IN_ROOT_NOFOLLOW);
  if (null < 0) fail(step, errno, "open /dev/null");
  struct stat st;
  if (fstat(null, &st) < 0) fail(step, errno, "stat /dev/null");
  if (!S_ISCHR(st.st_mode) || st.st_rdev != makedev(1, 3))
    fail(step, EINVAL, "/dev/null is not the null device (1:3): refusing to mask with it");
  for (int i = 0; i < plan->masks->n; i++) {
    const char *p = plan->masks->items[i];
    int t = in_root_open(rootfd, p, 0);
    if (t < 0) {
      if (errno == ENOENT) continue;
      fail(step, errno, "open %s", p);
    }
    if (fstat(t, &st) < 0) fail(step, errno, "stat %s", p);
    if (S_ISDIR(st.st_mode)) mount_on(step, "tmpfs", t, p, "tmpfs", MS_RDONLY, "size=0k");
    else mount_on(step, P(null).s, t, p, NULL, MS_BIND, NULL);
    close(t);
  }
  close(null);
}

static void readonly_paths(const struct rootfs_plan *plan) {
  const int step = WHARF_STEP_READONLY_PATHS;
  for (int i = 0; i < plan->rpaths->n; i++) {
    const char *p = plan->rpaths->items[i];
    int t = in_root_open(rootfd, p, 0);
    if (t < 0) {
      if (errno == ENOENT) continue;
      fail(step, errno, "open %s", p);
    }
    mount_on(step, P(t).s, t, p, NULL, MS_BIND | MS_REC, NULL);
    close(t);
    t = reopen(step, p);
    mount_on(step, NULL, t, p, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
    close(t);
  }
}

void rootfs_prepare(const struct rootfs_plan *plan) {
  if (!plan->rootfs || plan->rootfs[0] != '/') fail(WHARF_STEP_ROOTFS, EINVAL, "rootfs must be absolute");
  if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) fail(WHARF_STEP_MOUNT_PRIVATE, errno, "make / rprivate");
  /* pivot_root needs a mount point: the rootfs bound onto itself, opened after. */
  if (mount(plan->rootfs, plan->rootfs, NULL, MS_BIND | MS_REC, NULL) < 0)
    fail(WHARF_STEP_ROOTFS, errno, "bind %s", plan->rootfs);
  rootfd = open(plan->rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (rootfd < 0 || fstat(rootfd, &root_st) < 0) fail(WHARF_STEP_ROOTFS, errno, "open %s", plan->rootfs);
  close(mount_fresh(WHARF_STEP_MOUNT_PROC, "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL));
  close(mount_fresh(WHARF_STEP_MOUNT_SYS, "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC | (plan->sysrw ? 0 : MS_RDONLY), NULL));
  if (plan->cgroupfs) setup_cgroupfs(plan);
  setup_dev();
  setup_binds(plan);
  if (plan->cwd) {
    int fd = in_root_mkdirs(rootfd, plan->cwd, 0755);
    if (fd < 0) fail(WHARF_STEP_CHDIR, errno, "create working directory %s", plan->cwd);
    close(fd);
  }
  mask_paths(plan);
  readonly_paths(plan);
}

void chdir_inside(const char *cwd) {
  int root = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (root < 0) fail(WHARF_STEP_CHDIR, errno, "open /");
  int fd = in_root_open(root, cwd, 0);
  if (fd < 0) fail(WHARF_STEP_CHDIR, errno, "chdir %s", cwd);
  if (fchdir(fd) < 0) fail(WHARF_STEP_CHDIR, errno, "chdir %s", cwd);
  close(fd);
  close(root);
  /* The kernel reports a cwd outside the root as "(unreachable)/...", which
     getcwd(3) turns into ENOENT. */
  char buf[PATH_MAX];
  const char *got = getcwd(buf, sizeof buf);
  if (!got || buf[0] != '/')
    fail(WHARF_STEP_CHDIR, got ? ENOENT : errno, "working directory %s is not inside the container's root", cwd);
}

void rootfs_enter(const struct rootfs_plan *plan) {
  if (fchdir(rootfd) < 0) fail(WHARF_STEP_PIVOT_ROOT, errno, "chdir %s", plan->rootfs);
  /* runc's trick: pivot onto ".", the old root ends up stacked on top; detach it. */
  if (syscall(SYS_pivot_root, ".", ".") < 0) fail(WHARF_STEP_PIVOT_ROOT, errno, "pivot_root %s", plan->rootfs);
  if (umount2(".", MNT_DETACH) < 0) fail(WHARF_STEP_PIVOT_ROOT, errno, "detach old root");
  if (chdir("/") < 0) fail(WHARF_STEP_PIVOT_ROOT, errno, "chdir /");
  close(rootfd);
  rootfd = -1;
  if (plan->readonly && mount(NULL, "/", NULL, MS_BIND | MS_REMOUNT | MS_RDONLY, NULL) < 0)
    fail(WHARF_STEP_READONLY_ROOTFS, errno, "remount / read-only");
  chdir_inside(plan->cwd ? plan->cwd : "/");
}
