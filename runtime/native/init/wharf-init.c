/*
 * wharf-init: the static helper that the native addon execve()s right after
 * clone(2). It is a fresh, single-threaded process, so unlike the cloned child
 * of Node it may take its time: it reads its spec, waits for the parent, sets up
 * the container (crun-style) and finally execve()s the container's program.
 *
 * File descriptors on entry (arranged by wharf_native.cc):
 *   0, 1, 2  the container's stdio
 *   3        SOCK_SEQPACKET end of the handshake socketpair
 *   4        memfd holding the spec
 *
 * Spec: a sequence of NUL-terminated "key", "value" string pairs. Repeated keys
 * (arg, env, group, mask, rpath) accumulate in order. See runtime/native/spawn.ts.
 *
 * Handshake (numbered as in crun's comments):
 *   sync 1.  parent -> helper: one byte "G" once the helper sits in its cgroup
 *            (and network). EOF instead means "abort": the helper exits.
 *   sync 2.  helper -> parent: on failure, one struct wharf_sync_error
 *            {step, errno, step name, message}, then exit(127).
 *   sync 3.  helper -> parent: EOF, because fd 3 is CLOEXEC and the final
 *            execve() of the container's program closed it: success.
 *
 * Modes:
 *   run   the helper is the container's init (PID 1 in a new pid namespace):
 *         mounts, pivot_root, hostname, masks, credentials, exec.
 *   exec  the helper joins the namespaces of a running container (setns via
 *         /proc/<pid>/ns/<kind>), forks (so that the pid namespace applies), and the
 *         child sets credentials and execs. The helper waits and exits with the
 *         child's status (re-raising its signal), forwarding signals it gets.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/capability.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <grp.h>
#include <unistd.h>

#include "../sync.h"
#include "seccomp.h"

#define SYNC_FD 3
#define SPEC_FD 4
#define MAX_LIST 4096

struct list {
  char *items[MAX_LIST + 1];
  int n;
};

static struct {
  const char *mode, *rootfs, *hostname, *cwd, *target;
  long uid, gid;
  int have_user;
  struct list args, env, groups, masks, rpaths, joins;
  int readonly, nnp, cgroupns;
  uint64_t caps;
  int have_caps;
} spec;

static void fail(int step, int err, const char *fmt, ...) __attribute__((noreturn, format(printf, 3, 4)));

static void fail(int step, int err, const char *fmt, ...) {
  struct wharf_sync_error e;
  memset(&e, 0, sizeof e);
  e.step = step;
  e.err = err;
  snprintf(e.step_name, sizeof e.step_name, "%s", wharf_step_name(step));
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(e.message, sizeof e.message, fmt, ap);
  va_end(ap);
  /* sync 2. */
  ssize_t r;
  do r = send(SYNC_FD, &e, sizeof e, MSG_NOSIGNAL);
  while (r < 0 && errno == EINTR);
  _exit(127);
}

static void push(struct list *l, char *s) {
  if (l->n >= MAX_LIST) fail(WHARF_STEP_SPEC, E2BIG, "too many entries");
  l->items[l->n++] = s;
  l->items[l->n] = NULL;
}

static void read_spec(void) {
  struct stat st;
  if (fstat(SPEC_FD, &st) < 0) fail(WHARF_STEP_SPEC, errno, "fstat spec fd");
  size_t size = (size_t)st.st_size;
  char *buf = malloc(size + 2);
  if (!buf) fail(WHARF_STEP_SPEC, ENOMEM, "spec of %zu bytes", size);
  size_t off = 0;
  while (off < size) {
    ssize_t r = pread(SPEC_FD, buf + off, size - off, (off_t)off);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) fail(WHARF_STEP_SPEC, r < 0 ? errno : EIO, "read spec");
    off += (size_t)r;
  }
  buf[size] = buf[size + 1] = 0;
  close(SPEC_FD);
  spec.uid = spec.gid = 0;
  char *p = buf, *end = buf + size;
  int rc;
  while (p < end) {
    char *k = p;
    p += strlen(p) + 1;
    if (p >= end) fail(WHARF_STEP_SPEC, EINVAL, "key %s without value", k);
    char *v = p;
    p += strlen(p) + 1;
    if (!strcmp(k, "mode")) spec.mode = v;
    else if (!strcmp(k, "rootfs")) spec.rootfs = v;
    else if (!strcmp(k, "hostname")) spec.hostname = v;
    else if (!strcmp(k, "cwd")) spec.cwd = v;
    else if (!strcmp(k, "target")) spec.target = v;
    else if (!strcmp(k, "uid")) { spec.uid = strtol(v, NULL, 10); spec.have_user = 1; }
    else if (!strcmp(k, "gid")) { spec.gid = strtol(v, NULL, 10); spec.have_user = 1; }
    else if (!strcmp(k, "group")) push(&spec.groups, v);
    else if (!strcmp(k, "arg")) push(&spec.args, v);
    else if (!strcmp(k, "env")) push(&spec.env, v);
    else if (!strcmp(k, "mask")) push(&spec.masks, v);
    else if (!strcmp(k, "rpath")) push(&spec.rpaths, v);
    else if (!strcmp(k, "join")) push(&spec.joins, v);
    else if (!strcmp(k, "readonly")) spec.readonly = !strcmp(v, "1");
    else if (!strcmp(k, "nnp")) spec.nnp = !strcmp(v, "1");
    else if (!strcmp(k, "cgroupns")) spec.cgroupns = !strcmp(v, "1");
    else if (!strcmp(k, "caps")) { spec.caps = strtoull(v, NULL, 16); spec.have_caps = 1; }
    else if ((rc = wharf_seccomp_spec(k, v)) != 0) { if (rc < 0) fail(WHARF_STEP_SPEC, -rc, "too many %s", k); }
    else fail(WHARF_STEP_SPEC, EINVAL, "unknown spec key %s", k);
  }
  if (!spec.mode) fail(WHARF_STEP_SPEC, EINVAL, "no mode");
  if (spec.args.n == 0) fail(WHARF_STEP_SPEC, EINVAL, "no program");
}

/* sync 1. */
static void wait_for_parent(void) {
  char c = 0;
  ssize_t r;
  do r = recv(SYNC_FD, &c, 1, 0);
  while (r < 0 && errno == EINTR);
  if (r < 0) fail(WHARF_STEP_SYNC, errno, "waiting for the parent");
  if (r == 0 || c != 'G') _exit(126); /* parent gave up: nobody to report to */
}

static int mkdir_p(const char *path, mode_t mode) {
  char tmp[PATH_MAX];
  if (snprintf(tmp, sizeof tmp, "%s", path) >= (int)sizeof tmp) { errno = ENAMETOOLONG; return -1; }
  for (char *p = tmp + 1; *p; p++) {
    if (*p != '/') continue;
    *p = 0;
    if (mkdir(tmp, mode) < 0 && errno != EEXIST) return -1;
    *p = '/';
  }
  if (mkdir(tmp, mode) < 0 && errno != EEXIST) return -1;
  return 0;
}

static void in_root(char *out, size_t n, const char *rel) {
  if (snprintf(out, n, "%s%s", spec.rootfs, rel) >= (int)n) fail(WHARF_STEP_ROOTFS, ENAMETOOLONG, "%s", rel);
}

static void mount_in(int step, const char *src, const char *rel, const char *fstype, unsigned long flags,
                     const char *data) {
  char target[PATH_MAX];
  in_root(target, sizeof target, rel);
  if (mkdir_p(target, 0755) < 0) fail(step, errno, "mkdir %s", rel);
  if (mount(src, target, fstype, flags, data) < 0) fail(step, errno, "mount %s on %s", fstype ? fstype : src, rel);
}

static void setup_dev(void) {
  static const struct { const char *name; unsigned maj, min; } devs[] = {
    {"null", 1, 3}, {"zero", 1, 5}, {"full", 1, 7}, {"random", 1, 8}, {"urandom", 1, 9}, {"tty", 5, 0},
  };
  static const struct { const char *target, *name; } links[] = {
    {"/proc/self/fd", "fd"}, {"/proc/self/fd/0", "stdin"}, {"/proc/self/fd/1", "stdout"},
    {"/proc/self/fd/2", "stderr"}, {"pts/ptmx", "ptmx"}, {"/proc/kcore", "core"},
  };
  char path[PATH_MAX], host[64];
  mount_in(WHARF_STEP_MOUNT_DEV, "tmpfs", "/dev", "tmpfs", MS_NOSUID | MS_STRICTATIME, "mode=755,size=65536k");
  mode_t old = umask(0);
  for (size_t i = 0; i < sizeof devs / sizeof devs[0]; i++) {
    in_root(path, sizeof path, "/dev/");
    strncat(path, devs[i].name, sizeof path - strlen(path) - 1);
    if (mknod(path, S_IFCHR | 0666, makedev(devs[i].maj, devs[i].min)) == 0) continue;
    /* Not allowed to mknod (e.g. in a user namespace): bind the host's node. */
    int fd = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0666);
    if (fd < 0) fail(WHARF_STEP_MOUNT_DEV, errno, "create /dev/%s", devs[i].name);
    close(fd);
    snprintf(host, sizeof host, "/dev/%s", devs[i].name);
    if (mount(host, path, NULL, MS_BIND, NULL) < 0) fail(WHARF_STEP_MOUNT_DEV, errno, "bind /dev/%s", devs[i].name);
  }
  umask(old);
  for (size_t i = 0; i < sizeof links / sizeof links[0]; i++) {
    in_root(path, sizeof path, "/dev/");
    strncat(path, links[i].name, sizeof path - strlen(path) - 1);
    if (symlink(links[i].target, path) < 0) fail(WHARF_STEP_MOUNT_DEV, errno, "symlink /dev/%s", links[i].name);
  }
  mount_in(WHARF_STEP_MOUNT_DEV, "devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC,
           "newinstance,ptmxmode=0666,mode=0620,gid=5");
  mount_in(WHARF_STEP_MOUNT_DEV, "shm", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
           "mode=1777,size=65536k");
  mount_in(WHARF_STEP_MOUNT_DEV, "mqueue", "/dev/mqueue", "mqueue", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
}

static void setup_rootfs(void) {
  if (!spec.rootfs || spec.rootfs[0] != '/') fail(WHARF_STEP_ROOTFS, EINVAL, "rootfs must be absolute");
  if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) fail(WHARF_STEP_MOUNT_PRIVATE, errno, "make / rprivate");
  if (mount(spec.rootfs, spec.rootfs, NULL, MS_BIND | MS_REC, NULL) < 0)
    fail(WHARF_STEP_ROOTFS, errno, "bind %s", spec.rootfs);
  mount_in(WHARF_STEP_MOUNT_PROC, "proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
  mount_in(WHARF_STEP_MOUNT_SYS, "sysfs", "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_RDONLY, NULL);
  setup_dev();
  if (spec.cwd) {
    char path[PATH_MAX];
    in_root(path, sizeof path, spec.cwd);
    if (mkdir_p(path, 0755) < 0) fail(WHARF_STEP_CHDIR, errno, "create working directory %s", spec.cwd);
  }
}

static void pivot(void) {
  if (chdir(spec.rootfs) < 0) fail(WHARF_STEP_PIVOT_ROOT, errno, "chdir %s", spec.rootfs);
  /* runc's trick: pivot onto ".", the old root ends up stacked on top; detach it. */
  if (syscall(SYS_pivot_root, ".", ".") < 0) fail(WHARF_STEP_PIVOT_ROOT, errno, "pivot_root %s", spec.rootfs);
  if (umount2(".", MNT_DETACH) < 0) fail(WHARF_STEP_PIVOT_ROOT, errno, "detach old root");
  if (chdir("/") < 0) fail(WHARF_STEP_PIVOT_ROOT, errno, "chdir /");
}

static void mask_paths(void) {
  for (int i = 0; i < spec.masks.n; i++) {
    const char *p = spec.masks.items[i];
    struct stat st;
    if (stat(p, &st) < 0) {
      if (errno == ENOENT) continue;
      fail(WHARF_STEP_MASK_PATHS, errno, "stat %s", p);
    }
    int r = S_ISDIR(st.st_mode) ? mount("tmpfs", p, "tmpfs", MS_RDONLY, "size=0k")
                                : mount("/dev/null", p, NULL, MS_BIND, NULL);
    if (r < 0) fail(WHARF_STEP_MASK_PATHS, errno, "mask %s", p);
  }
  for (int i = 0; i < spec.rpaths.n; i++) {
    const char *p = spec.rpaths.items[i];
    if (mount(p, p, NULL, MS_BIND | MS_REC, NULL) < 0) {
      if (errno == ENOENT) continue;
      fail(WHARF_STEP_READONLY_PATHS, errno, "bind %s", p);
    }
    if (mount(NULL, p, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
      fail(WHARF_STEP_READONLY_PATHS, errno, "remount %s read-only", p);
  }
}

/* Without no_new_privs, loading a filter needs CAP_SYS_ADMIN: then it is loaded before
   the capabilities are dropped (as runc does), else as late as possible. */
static void load_seccomp(void) {
  char msg[200];
  int r = wharf_seccomp_load(msg, sizeof msg);
  if (r < 0) fail(WHARF_STEP_SECCOMP, -r, "%s", msg);
}

static void set_credentials(void) {
  if (!spec.nnp) load_seccomp();
  /* Bounding set first: needs CAP_SETPCAP, which we still hold. */
  if (spec.have_caps) {
    for (int cap = 0; cap <= 63; cap++) {
      if (spec.caps & (1ULL << cap)) continue;
      if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0) {
        if (errno == EINVAL) break; /* beyond CAP_LAST_CAP */
        fail(WHARF_STEP_CAPABILITIES, errno, "drop capability %d from the bounding set", cap);
      }
    }
  }
  if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
    fail(WHARF_STEP_CAPABILITIES, errno, "clear ambient capabilities");
  if (spec.have_user) {
    gid_t groups[MAX_LIST];
    for (int i = 0; i < spec.groups.n; i++) groups[i] = (gid_t)strtoul(spec.groups.items[i], NULL, 10);
    if (setgroups((size_t)spec.groups.n, groups) < 0) fail(WHARF_STEP_SETGROUPS, errno, "setgroups");
    if (setresgid((gid_t)spec.gid, (gid_t)spec.gid, (gid_t)spec.gid) < 0)
      fail(WHARF_STEP_SETGID, errno, "setgid %ld", spec.gid);
    /* Without PR_SET_KEEPCAPS a switch to a non-zero uid clears permitted and
       effective capabilities: Docker's behaviour for non-root users. */
    if (setresuid((uid_t)spec.uid, (uid_t)spec.uid, (uid_t)spec.uid) < 0)
      fail(WHARF_STEP_SETUID, errno, "setuid %ld", spec.uid);
  }
  if (spec.have_caps) {
    struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct data[2];
    if (syscall(SYS_capget, &hdr, data) < 0) fail(WHARF_STEP_CAPABILITIES, errno, "capget");
    uint64_t perm = ((uint64_t)data[1].permitted << 32 | data[0].permitted) & spec.caps;
    for (int i = 0; i < 2; i++) {
      data[i].permitted = data[i].effective = (uint32_t)(perm >> (32 * i));
      data[i].inheritable = 0; /* as Docker since CVE-2022-24769 */
    }
    if (syscall(SYS_capset, &hdr, data) < 0) fail(WHARF_STEP_CAPABILITIES, errno, "capset");
  }
  if (spec.nnp && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) fail(WHARF_STEP_NO_NEW_PRIVS, errno, "no_new_privs");
  if (spec.nnp) load_seccomp();
}

static const char *env_get(const char *name) {
  size_t n = strlen(name);
  for (int i = 0; i < spec.env.n; i++)
    if (!strncmp(spec.env.items[i], name, n) && spec.env.items[i][n] == '=') return spec.env.items[i] + n + 1;
  return NULL;
}

/* Resolve the program like Docker: with a slash it is a path, else search the
   container's PATH (Docker's default when the image sets none). */
static void exec_program(void) {
  const char *prog = spec.args.items[0];
  if (strchr(prog, '/')) {
    execve(prog, spec.args.items, spec.env.items);
    fail(WHARF_STEP_EXEC, errno, "exec %s", prog);
  }
  const char *path = env_get("PATH");
  if (!path) path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
  int last = ENOENT;
  for (const char *p = path; ; ) {
    const char *colon = strchr(p, ':');
    size_t len = colon ? (size_t)(colon - p) : strlen(p);
    char full[PATH_MAX];
    if (len == 0) snprintf(full, sizeof full, "%s", prog);
    else snprintf(full, sizeof full, "%.*s/%s", (int)len, p, prog);
    struct stat st;
    if (stat(full, &st) == 0 && S_ISREG(st.st_mode) && access(full, X_OK) == 0) {
      execve(full, spec.args.items, spec.env.items);
      last = errno;
      fail(WHARF_STEP_EXEC, last, "exec %s", full);
    }
    if (!colon) break;
    p = colon + 1;
  }
  fail(WHARF_STEP_EXEC, last, "%s: executable file not found in $PATH", prog);
}

static void run_mode(void) {
  setup_rootfs();
  pivot();
  if (spec.hostname && sethostname(spec.hostname, strlen(spec.hostname)) < 0)
    fail(WHARF_STEP_HOSTNAME, errno, "sethostname %s", spec.hostname);
  mask_paths();
  if (spec.readonly && mount(NULL, "/", NULL, MS_BIND | MS_REMOUNT | MS_RDONLY, NULL) < 0)
    fail(WHARF_STEP_READONLY_ROOTFS, errno, "remount / read-only");
  if (spec.cwd && chdir(spec.cwd) < 0) fail(WHARF_STEP_CHDIR, errno, "chdir %s", spec.cwd);
  set_credentials();
  exec_program();
}

static pid_t exec_child;

static void forward(int sig) {
  if (exec_child > 0) kill(exec_child, sig);
}

static void exec_mode(void) {
  static const struct { const char *name; int flag; } kinds[] = {
    {"cgroup", CLONE_NEWCGROUP}, {"ipc", CLONE_NEWIPC}, {"uts", CLONE_NEWUTS},
    {"net", CLONE_NEWNET}, {"pid", CLONE_NEWPID}, {"mnt", CLONE_NEWNS},
  };
  int fds[6];
  if (!spec.target) fail(WHARF_STEP_SPEC, EINVAL, "exec without target");
  /* Open every namespace first: once in the container's mount namespace the
     host's /proc is gone. */
  for (size_t i = 0; i < 6; i++) {
    fds[i] = -1;
    int wanted = 0;
    for (int j = 0; j < spec.joins.n; j++) wanted |= !strcmp(spec.joins.items[j], kinds[i].name);
    if (!wanted) continue;
    char path[64], self[64];
    snprintf(path, sizeof path, "/proc/%s/ns/%s", spec.target, kinds[i].name);
    snprintf(self, sizeof self, "/proc/self/ns/%s", kinds[i].name);
    struct stat a, b;
    if (stat(path, &a) < 0) fail(WHARF_STEP_SETNS, errno, "stat %s", path);
    if (stat(self, &b) == 0 && a.st_ino == b.st_ino && a.st_dev == b.st_dev) continue; /* shared */
    fds[i] = open(path, O_RDONLY | O_CLOEXEC);
    if (fds[i] < 0) fail(WHARF_STEP_SETNS, errno, "open %s", path);
  }
  for (size_t i = 0; i < 6; i++)
    if (fds[i] >= 0) {
      if (setns(fds[i], kinds[i].flag) < 0) fail(WHARF_STEP_SETNS, errno, "setns %s", kinds[i].name);
      close(fds[i]);
    }
  if (spec.cwd && chdir(spec.cwd) < 0) fail(WHARF_STEP_CHDIR, errno, "chdir %s", spec.cwd);
  exec_child = fork();
  if (exec_child < 0) fail(WHARF_STEP_EXEC, errno, "fork");
  if (exec_child == 0) {
    set_credentials();
    exec_program();
  }
  close(SYNC_FD); /* the child holds the only copy now: its exec gives the EOF */
  for (int s = 1; s < NSIG; s++)
    if (s != SIGKILL && s != SIGSTOP && s != SIGCHLD) signal(s, forward);
  int status;
  while (waitpid(exec_child, &status, 0) < 0)
    if (errno != EINTR) _exit(127);
  if (WIFSIGNALED(status)) {
    int sig = WTERMSIG(status);
    signal(sig, SIG_DFL);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, sig);
    sigprocmask(SIG_UNBLOCK, &set, NULL);
    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
    raise(sig);
    _exit(128 + sig);
  }
  _exit(WEXITSTATUS(status));
}

int main(int argc, char **argv) {
  if (argc > 1 && !strcmp(argv[1], "--seccomp-bpf")) return wharf_seccomp_export_main();
  if (fcntl(SYNC_FD, F_SETFD, FD_CLOEXEC) < 0) _exit(125);
  read_spec();
  wait_for_parent();
  if (spec.cgroupns && unshare(CLONE_NEWCGROUP) < 0) fail(WHARF_STEP_CGROUPNS, errno, "unshare cgroup namespace");
  if (!strcmp(spec.mode, "run")) run_mode();
  else if (!strcmp(spec.mode, "exec")) exec_mode();
  fail(WHARF_STEP_SPEC, EINVAL, "unknown mode %s", spec.mode);
}
