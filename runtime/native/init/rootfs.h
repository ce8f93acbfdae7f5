/*
 * The container's filesystem, crun-style: every path inside the rootfs goes
 * through in-root.c against one dirfd, and every mount lands on an fd
 * (/proc/self/fd/N), never on a joined string.
 */
#ifndef WHARF_ROOTFS_H
#define WHARF_ROOTFS_H

#include "helper.h"

/* One mount onto a target inside the root, in the order given: a host path
   (the node's own files); an inherited fd (volumes and user binds: the daemon
   opened the source with O_PATH, the shim cloned it into a detached mount tree
   with open_tree, so what was checked is what is mounted, attached here with
   move_mount); or a fresh tmpfs. */
struct bind {
  const char *source; /* host path, or NULL */
  int fd;             /* a detached mount tree (open_tree, >= 5), or -1 */
  const char *tmpfs;  /* tmpfs mount data ("size=65536k,mode=1777"), or NULL */
  unsigned long flags; /* tmpfs: MS_* flags */
  const char *target; /* path inside the rootfs */
  int readonly;
};

#define MAX_BINDS 256
#define MAX_CGROUP_HIERARCHIES 32

struct rootfs_plan {
  const char *rootfs; /* host path of the prepared root (absolute) */
  const char *cwd;    /* inside; created when missing */
  int readonly;
  int sysrw; /* /sys read-write (--privileged) */
  const struct list *masks, *rpaths;
  struct bind binds[MAX_BINDS];
  int nbinds;
  /* cgroupfs at /sys/fs/cgroup: 0 none, 1 v1 (hierarchies below), 2 cgroup2 */
  int cgroupfs;
  const char *hierarchies[MAX_CGROUP_HIERARCHIES]; /* v1 controller lists, e.g. "cpu,cpuacct" */
  int nhierarchies;
};

/* Before pivot_root: proc, sys, cgroupfs, dev, binds, the working directory,
   masked and read-only paths. */
void rootfs_prepare(const struct rootfs_plan *plan);

/* pivot_root into it, read-only root, chdir to the working directory (checked
   to lie inside the root). */
void rootfs_enter(const struct rootfs_plan *plan);

/* chdir to `cwd` resolved inside the current root, then check that the kernel
   sees the cwd inside the root (the CVE-2024-21626 class). */
void chdir_inside(const char *cwd);

#endif
