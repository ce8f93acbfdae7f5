/**
 * A static C program (compiled in the tests with gcc -static) that reports what the
 * kernel lets a container do, one "name result" line each (result: 0, or the errno's
 * symbolic name), so that a Wharf container and a Docker container of the same image can
 * be compared line by line:
 *
 *   secprobe syscalls          unshare(CLONE_NEWUSER), mount, keyctl, add_key, bpf, reboot,
 *                              kexec_load, open_by_handle_at, clone(CLONE_NEWNS), clone3,
 *                              personality(ADDR_NO_RANDOMIZE), chroot, ptrace(TRACEME)
 *                              (each is harmless when allowed: bad magic, bad flags, a
 *                              child that exits at once)
 *   secprobe ordinary          threads, socketpair, epoll on a pipe, a UDP socket, fork
 *   secprobe open PATH...      open(O_RDONLY|O_NONBLOCK|O_NOCTTY) of each path
 *   secprobe openw PATH...     the same with O_WRONLY
 */
export const SECURITY_PROBE_SOURCE = String.raw`
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <linux/reboot.h>
#include <linux/sched.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static void report(const char *name, long r) {
  if (r < 0) printf("%s %s\n", name, strerrorname_np(errno));
  else printf("%s 0\n", name);
  fflush(stdout);
}

/* Runs f in a child (so namespaces or personality do not stay) and reports its result. */
static void in_child(const char *name, long (*f)(void)) {
  int p[2];
  if (pipe(p) < 0) exit(2);
  pid_t pid = fork();
  if (pid == 0) {
    long r = f();
    int e = r < 0 ? errno : 0;
    if (write(p[1], &e, sizeof e) != sizeof e) _exit(3);
    _exit(0);
  }
  int e = -1;
  close(p[1]);
  if (read(p[0], &e, sizeof e) != sizeof e) e = -1;
  close(p[0]);
  waitpid(pid, NULL, 0);
  if (e == 0) printf("%s 0\n", name);
  else if (e < 0) printf("%s child-died\n", name);
  else printf("%s %s\n", name, strerrorname_np(e));
  fflush(stdout);
}

static long do_unshare(void) { return unshare(CLONE_NEWUSER); }
static long do_mount(void) { mkdir("/tmp", 01777); return mount("none", "/tmp", "tmpfs", 0, NULL); }
static long do_clone_newns(void) {
  long r = syscall(SYS_clone, CLONE_NEWNS | SIGCHLD, 0, 0, 0, 0);
  if (r == 0) _exit(0);
  if (r > 0) waitpid((pid_t)r, NULL, 0);
  return r < 0 ? -1 : 0;
}
static long do_clone3(void) {
  struct clone_args a;
  memset(&a, 0, sizeof a);
  a.exit_signal = SIGCHLD;
  long r = syscall(SYS_clone3, &a, sizeof a);
  if (r == 0) _exit(0);
  if (r > 0) waitpid((pid_t)r, NULL, 0);
  return r < 0 ? -1 : 0;
}
static long do_personality(void) { return personality(ADDR_NO_RANDOMIZE); }
static long do_chroot(void) { return chroot("/"); }
static long do_ptrace(void) { return ptrace(PTRACE_TRACEME, 0, NULL, NULL); }

static void syscalls(void) {
  in_child("unshare_user", do_unshare);
  in_child("mount", do_mount);
  report("keyctl", syscall(SYS_keyctl, 0 /* KEYCTL_GET_KEYRING_ID */, -3 /* session */, 0));
  report("add_key", syscall(SYS_add_key, "user", "wharf-probe", "x", 1, -2 /* process keyring */));
  union bpf_attr attr;
  memset(&attr, 0, sizeof attr); /* map_type 0: EINVAL when the call is allowed */
  report("bpf", syscall(SYS_bpf, BPF_MAP_CREATE, &attr, sizeof attr));
  report("reboot", syscall(SYS_reboot, 0x12345678, 0x12345678, LINUX_REBOOT_CMD_CAD_OFF, NULL)); /* bad magic */
  report("kexec_load", syscall(SYS_kexec_load, 0UL, 0UL, NULL, 0xdead0000UL)); /* bad flags */
  struct { unsigned int bytes; int type; unsigned char h[8]; } fh = {0, 0, {0}};
  report("open_by_handle_at", syscall(SYS_open_by_handle_at, AT_FDCWD, &fh, O_RDONLY));
  in_child("clone_newns", do_clone_newns);
  in_child("clone3", do_clone3);
  in_child("personality_addr_no_randomize", do_personality);
  in_child("chroot", do_chroot);
  in_child("ptrace_traceme", do_ptrace);
}

static void *thread_main(void *arg) { return (void *)((intptr_t)arg * 2); }

static void ordinary(void) {
  pthread_t t[4];
  long sum = 0;
  for (intptr_t i = 0; i < 4; i++)
    if (pthread_create(&t[i], NULL, thread_main, (void *)i)) { printf("threads failed\n"); exit(1); }
  for (int i = 0; i < 4; i++) { void *r; pthread_join(t[i], &r); sum += (intptr_t)r; }
  printf("threads %ld\n", sum);
  int sv[2];
  char buf[8] = {0};
  if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0 || write(sv[0], "ping", 4) != 4 || read(sv[1], buf, 4) != 4) { printf("socketpair failed\n"); exit(1); }
  printf("socketpair %s\n", buf);
  int p[2];
  if (pipe(p) < 0) exit(1);
  int ep = epoll_create1(EPOLL_CLOEXEC);
  struct epoll_event ev = {.events = EPOLLIN, .data.fd = p[0]}, out;
  if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &ev) < 0 || write(p[1], "x", 1) != 1 || epoll_wait(ep, &out, 1, 1000) != 1) { printf("epoll failed\n"); exit(1); }
  printf("epoll %d\n", out.data.fd == p[0]);
  int u = socket(AF_INET, SOCK_DGRAM, 0);
  printf("udp_socket %d\n", u >= 0);
  pid_t c = fork();
  if (c == 0) _exit(7);
  int st;
  waitpid(c, &st, 0);
  printf("fork %d\n", WEXITSTATUS(st));
}

int main(int argc, char **argv) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  if (argc < 2) return 2;
  if (!strcmp(argv[1], "syscalls")) syscalls();
  else if (!strcmp(argv[1], "ordinary")) ordinary();
  else if (!strcmp(argv[1], "open") || !strcmp(argv[1], "openw")) {
    int flags = (!strcmp(argv[1], "open") ? O_RDONLY : O_WRONLY) | O_NONBLOCK | O_NOCTTY;
    for (int i = 2; i < argc; i++) {
      int fd = open(argv[i], flags);
      report(argv[i], fd);
      if (fd >= 0) close(fd);
    }
  } else return 2;
  return 0;
}
`;
