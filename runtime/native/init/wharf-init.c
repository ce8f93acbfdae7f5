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
 *   5...     O_PATH fds of bind sources (bind-fd), opened by the daemon and
 *            passed by the shim; closed once mounted, and close-on-exec anyway
 *
 * Spec: a sequence of NUL-terminated "key", "value" string pairs. Repeated keys
 * (arg, env, group, mask, rpath, join, cgroup1) accumulate in order; a mount is
 * bind (host path) | bind-fd (an inherited host fd, >= 5) | tmpfs (its data),
 * then bind-target, bind-ro and for tmpfs mount-flags (hex MS_*), in this order.
 * See runtime/native/spawn.ts.
 *
 * Handshake (numbered as in crun's comments):
 *   sync 1.  parent -> helper: one byte "G" once the helper sits in its cgroup
 *            (and network). EOF instead means "abort": the helper exits.
 *   sync 2.  helper -> parent: on failure, one struct wharf_sync_error
 *            {step, errno, step name, message}, then exit(127).
 *   sync 3.  helper -> parent: EOF, because fd 3 is CLOEXEC and the final
 *            execve() of the container's program closed it: success.
 *
 * Always: its own session (setsid: no controlling terminal, so no TIOCSTI into
 * the caller's), non-dumpable until the final execve, and every fd but 0-2
 * close-on-exec before it (the CVE-2024-21626 class).
 *
 * Modes:
 *   run   the helper is the container's init (PID 1 in a new pid namespace):
 *         cgroup namespace, lo up, mounts and paths inside the rootfs (rootfs.c,
 *         in-root.c), pivot_root, hostname, credentials, exec. With init=1 it
 *         stays PID 1 and forks the program (init-loop.c).
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
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <grp.h>
#include <dirent.h>
#include <net/if.h>
#include <poll.h>
#include <unistd.h>

#include "../sync.h"
#include "helper.h"
#include "init-loop.h"
#include "rootfs.h"
#include "seccomp.h"
#include "devices.h"

#define SYNC_FD 3
#define SPEC_FD 4
#include "console.h"

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif
#ifndef SYS_close_range
#define SYS_close_range 436
#endif

static struct {
  const char *mode, *rootfs, *hostname, *cwd, *target, *netns;
  long uid, gid;
  int have_user;
  struct list args, env, groups, masks, rpaths, joins;
  int readonly, nnp, cgroupns, sysrw;
  uint64_t caps;
  int have_caps;
  int loopback, init, pdeathsig, console;
} spec;

/* Binds and cgroup hierarchies, read straight into the plan rootfs.c follows. */
static struct rootfs_plan plan;

void fail(int step, int err, const char *fmt, ...) {
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
    else if (!strcmp(k, "bind") || !strcmp(k, "bind-fd") || !strcmp(k, "tmpfs")) {
      if (plan.nbinds >= MAX_BINDS) fail(WHARF_STEP_SPEC, E2BIG, "too many binds");
      struct bind *b = &plan.binds[plan.nbinds++];
      b->fd = -1;
      if (k[0] == 't') b->tmpfs = v;
      else if (k[4] == 0) b->source = v;
      else {
        char *e;
        long fd = strtol(v, &e, 10);
        if (*e || fd < 5 || fd > 65535) fail(WHARF_STEP_SPEC, EINVAL, "bad bind-fd %s", v);
        b->fd = (int)fd;
      }
    }
    else if (!strcmp(k, "mount-flags") && plan.nbinds) plan.binds[plan.nbinds - 1].flags = strtoul(v, NULL, 16);
    else if (!strcmp(k, "bind-target") && plan.nbinds) plan.binds[plan.nbinds - 1].target = v;
    else if (!strcmp(k, "bind-ro") && plan.nbinds) plan.binds[plan.nbinds - 1].readonly = !strcmp(v, "1");
    else if (!strcmp(k, "cgroup1")) {
      if (plan.nhierarchies >= MAX_CGROUP_HIERARCHIES) fail(WHARF_STEP_SPEC, E2BIG, "too many cgroup hierarchies");
      plan.hierarchies[plan.nhierarchies++] = v;
      plan.cgroupfs = 1;
    }
    else if (!strcmp(k, "cgroup2")) plan.cgroupfs = 2;
    else if (!strcmp(k, "lo")) spec.loopback = !strcmp(v, "1");
    else if (!strcmp(k, "netns")) spec.netns = v;
    else if (!strcmp(k, "init")) spec.init = !strcmp(v, "1");
    else if (!strcmp(k, "pdeathsig")) spec.pdeathsig = !strcmp(v, "1");
    else if (!strcmp(k, "console")) spec.console = !strcmp(v, "1");
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
    else if (!strcmp(k, "sysrw")) spec.sysrw = !strcmp(v, "1");
    else if ((rc = wharf_seccomp_spec(k, v)) != 0 || (rc = wharf_devices_spec(k, v)) != 0) {
      if (rc < 0) fail(WHARF_STEP_SPEC, -rc, "too many %s", k);
    }
    else fail(WHARF_STEP_SPEC, EINVAL, "unknown spec key %s", k);
  }
  if (!spec.mode) fail(WHARF_STEP_SPEC, EINVAL, "no mode");
  if (spec.args.n == 0) fail(WHARF_STEP_SPEC, EINVAL, "no program");
  for (int i = 0; i < plan.nbinds; i++)
    if (!plan.binds[i].target) fail(WHARF_STEP_SPEC, EINVAL, "bind %d without target", i);
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

/* Every fd but 0-2 close-on-exec, so that nothing of the host (a directory fd
   that would let the program chdir out, CVE-2024-21626) reaches the program.
   The sync fd stays open until the execve itself closes it (sync 3.). */
static void close_fds(void) {
  if (syscall(SYS_close_range, 3U, ~0U, CLOSE_RANGE_CLOEXEC) == 0) return;
  if (errno != ENOSYS && errno != EINVAL) fail(WHARF_STEP_CLOSE_FDS, errno, "close_range");
  DIR *d = opendir("/proc/self/fd");
  if (!d) fail(WHARF_STEP_CLOSE_FDS, errno, "list /proc/self/fd");
  int own = dirfd(d);
  for (struct dirent *e; (e = readdir(d));) {
    int fd = atoi(e->d_name);
    if (fd > 2 && fd != own && fcntl(fd, F_SETFD, FD_CLOEXEC) < 0 && errno != EBADF)
      fail(WHARF_STEP_CLOSE_FDS, errno, "close-on-exec fd %d", fd);
  }
  closedir(d);
}

/* PR_SET_PDEATHSIG: the program dies with the process that started it. Set after
   the credentials (a uid change clears it), and checked for the race where the
   parent died first: `alive` is a descriptor whose other end the parent holds,
   so a hangup on it means the parent is gone (getppid() cannot tell across a pid
   namespace: it is 0 either way). */
static void die_with_parent(int alive) {
  if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0) fail(WHARF_STEP_PDEATHSIG, errno, "PR_SET_PDEATHSIG");
  struct pollfd p = {alive, POLLIN, 0};
  char c;
  if (poll(&p, 1, 0) > 0 && (p.revents & (POLLHUP | POLLERR | POLLRDHUP) ||
                             recv(alive, &c, 1, MSG_PEEK | MSG_DONTWAIT) == 0))
    _exit(128 + SIGKILL);
}

static void run_mode(void) {
  plan.rootfs = spec.rootfs;
  plan.cwd = spec.cwd;
  plan.readonly = spec.readonly;
  plan.sysrw = spec.sysrw;
  plan.masks = &spec.masks;
  plan.rpaths = &spec.rpaths;
  if (!spec.cgroupns) plan.cgroupfs = 0; /* outside a cgroup namespace it would show the host's tree */
  rootfs_prepare(&plan);
  if (spec.hostname && sethostname(spec.hostname, strlen(spec.hostname)) < 0)
    fail(WHARF_STEP_HOSTNAME, errno, "sethostname %s", spec.hostname);
  rootfs_enter(&plan);
  char msg[200];
  int rc = wharf_devices_create(msg, sizeof msg); /* after pivot_root: paths resolve inside */
  if (rc < 0) fail(WHARF_STEP_DEVICES, -rc, "%s", msg);
  if (spec.console) console_setup(SYNC_FD);
  set_credentials();
  if (spec.pdeathsig) die_with_parent(SYNC_FD);
  if (spec.init) init_fork(SYNC_FD); /* returns in the program's process */
  close_fds();
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
  /* After setns(mnt) the root is the container's: resolve the cwd inside it. */
  if (spec.cwd) chdir_inside(spec.cwd);
  if (spec.pdeathsig) die_with_parent(SYNC_FD);
  int alive[2] = {-1, -1}; /* the helper holds alive[1]: its death hangs up alive[0] */
  if (spec.pdeathsig && pipe2(alive, O_CLOEXEC) < 0) fail(WHARF_STEP_PDEATHSIG, errno, "pipe");
  exec_child = fork();
  if (exec_child < 0) fail(WHARF_STEP_EXEC, errno, "fork");
  if (exec_child == 0) {
    /* Its own session inside the container's pid namespace, as the container's init has. */
    if (setsid() < 0) fail(WHARF_STEP_SESSION, errno, "setsid");
    if (spec.console) console_setup(SYNC_FD);
    set_credentials();
    if (spec.pdeathsig) {
      close(alive[1]);
      die_with_parent(alive[0]);
    }
    close_fds();
    exec_program();
  }
  close(SYNC_FD); /* the child holds the only copy now: its exec gives the EOF */
  if (alive[0] >= 0) close(alive[0]);
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

/* In a new network namespace only lo exists, down; up, the kernel gives it
   127.0.0.1/8 and ::1 (Docker's --network none). */
static void loopback_up(void) {
  int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (s < 0) fail(WHARF_STEP_LOOPBACK, errno, "socket");
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  strcpy(ifr.ifr_name, "lo");
  if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0) fail(WHARF_STEP_LOOPBACK, errno, "SIOCGIFFLAGS lo");
  ifr.ifr_flags |= IFF_UP;
  if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0) fail(WHARF_STEP_LOOPBACK, errno, "SIOCSIFFLAGS lo up");
  close(s);
}

/* A network namespace the daemon made and wired (runtime/network/) before this start,
   or another container's (--network container:): joined instead of a new one. */
static void join_netns(const char *path) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail(WHARF_STEP_SETNS, errno, "open %s", path);
  if (setns(fd, CLONE_NEWNET) < 0) fail(WHARF_STEP_SETNS, errno, "setns net %s", path);
  close(fd);
}

int main(int argc, char **argv) {
  if (argc > 1 && !strcmp(argv[1], "--seccomp-bpf")) return wharf_seccomp_export_main();
  /* Nobody in the container may ptrace us or open /proc/<pid>/exe (the host's
     helper binary) or our fds while we set up; the final execve resets it. */
  if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0) _exit(125);
  if (fcntl(SYNC_FD, F_SETFD, FD_CLOEXEC) < 0) _exit(125);
  read_spec();
  wait_for_parent();
  /* Own session, no controlling terminal: TIOCSTI cannot reach the caller's. */
  if (setsid() < 0) fail(WHARF_STEP_SESSION, errno, "setsid");
  if (spec.cgroupns && unshare(CLONE_NEWCGROUP) < 0) fail(WHARF_STEP_CGROUPNS, errno, "unshare cgroup namespace");
  if (spec.netns) join_netns(spec.netns);
  if (spec.loopback) loopback_up();
  if (!strcmp(spec.mode, "run")) run_mode();
  else if (!strcmp(spec.mode, "exec")) exec_mode();
  fail(WHARF_STEP_SPEC, EINVAL, "unknown mode %s", spec.mode);
}
