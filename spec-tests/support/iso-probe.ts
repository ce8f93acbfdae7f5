/**
 * The C source of `iso`, the test program of spec-tests/isolation-init.test.ts: compiled
 * with gcc -static inside the test, one sub-command per isolation it tries to break.
 *   session          sid, pgrp and pid as the container sees them; open("/dev/tty")
 *   fds              the descriptors it was given (other than its own listing's)
 *   lo               lo's flags; a TCP round trip over 127.0.0.1 and ::1
 *   cat FILE...      prints files ("FILE: errno NAME" when they cannot be read)
 *   write FILE TEXT  writes; prints "ok" or the errno
 *   wait-stdin       no signal handlers: prints "ready", reads stdin, prints "survived"
 *   orphan MODE      makes a grandchild that exits at once, orphaned to PID 1; prints
 *                    "zombie" once it is one (MODE zombie) or "reaped" once it is gone
 *   mkdir DIR        prints "ok" or the errno
 *   ls DIR           the names in DIR (unsorted)
 *   pwd              the working directory
 *   stat PATH        type and device numbers of PATH (lstat)
 *   sleep N          prints "ready", sleeps N seconds
 */
export const ISO_PROBE_SOURCE = `
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void nap(int ms) { struct timespec t = {ms / 1000, (ms % 1000) * 1000000L}; nanosleep(&t, NULL); }

static int roundtrip(int family) {
  int s = socket(family, SOCK_STREAM, 0);
  struct sockaddr_storage ss; memset(&ss, 0, sizeof ss);
  socklen_t len;
  if (family == AF_INET) {
    struct sockaddr_in *a = (struct sockaddr_in *)&ss; a->sin_family = AF_INET; a->sin_addr.s_addr = htonl(INADDR_LOOPBACK); len = sizeof *a;
  } else {
    struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss; a->sin6_family = AF_INET6; a->sin6_addr = in6addr_loopback; len = sizeof *a;
  }
  if (s < 0 || bind(s, (struct sockaddr *)&ss, len) < 0 || listen(s, 1) < 0) return errno;
  getsockname(s, (struct sockaddr *)&ss, &len);
  int c = socket(family, SOCK_STREAM, 0);
  if (connect(c, (struct sockaddr *)&ss, len) < 0) return errno;
  int a = accept(s, NULL, NULL);
  char buf[8] = {0};
  if (a < 0 || write(c, "ping", 4) != 4 || read(a, buf, 4) != 4 || strcmp(buf, "ping")) return EIO;
  return 0;
}

static char state_of(pid_t pid) {
  char path[64], buf[256];
  snprintf(path, sizeof path, "/proc/%d/stat", pid);
  int fd = open(path, O_RDONLY);
  if (fd < 0) return 0;
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return 0;
  buf[n] = 0;
  char *p = strrchr(buf, ')');
  return p && p[1] && p[2] ? p[2] : '?';
}

int main(int argc, char **argv) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  const char *cmd = argc > 1 ? argv[1] : "";
  if (!strcmp(cmd, "session")) {
    printf("sid=%d pgrp=%d pid=%d\\n", getsid(0), getpgrp(), getpid());
    int fd = open("/dev/tty", O_RDWR);
    printf("tty=%s\\n", fd < 0 ? strerrorname_np(errno) : "opened");
    return 0;
  }
  if (!strcmp(cmd, "fds")) {
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    while ((e = readdir(d)))
      if (e->d_name[0] != '.' && atoi(e->d_name) != dirfd(d)) printf("%s\\n", e->d_name);
    return 0;
  }
  if (!strcmp(cmd, "lo")) {
    FILE *f = fopen("/sys/class/net/lo/flags", "r");
    char flags[32] = "";
    if (f && fgets(flags, sizeof flags, f)) printf("flags=%s", flags);
    int r4 = roundtrip(AF_INET), r6 = roundtrip(AF_INET6);
    printf("tcp4=%s\\ntcp6=%s\\n", r4 ? strerrorname_np(r4) : "ok", r6 ? strerrorname_np(r6) : "ok");
    return 0;
  }
  if (!strcmp(cmd, "cat")) {
    for (int i = 2; i < argc; i++) {
      int fd = open(argv[i], O_RDONLY);
      if (fd < 0) { printf("%s: %s\\n", argv[i], strerrorname_np(errno)); continue; }
      char buf[4096]; ssize_t n;
      while ((n = read(fd, buf, sizeof buf)) > 0) fwrite(buf, 1, (size_t)n, stdout);
      close(fd);
    }
    return 0;
  }
  if (!strcmp(cmd, "write") && argc > 3) {
    int fd = open(argv[2], O_WRONLY);
    if (fd < 0 || write(fd, argv[3], strlen(argv[3])) < 0) printf("%s\\n", strerrorname_np(errno));
    else printf("ok\\n");
    return 0;
  }
  if (!strcmp(cmd, "wait-stdin")) {
    printf("ready\\n");
    char c;
    while (read(0, &c, 1) < 0 && errno == EINTR) {}
    printf("survived\\n");
    return 0;
  }
  if (!strcmp(cmd, "orphan") && argc > 2) {
    int p[2];
    if (pipe(p) < 0) return 1;
    pid_t child = fork();
    if (child == 0) {
      pid_t g = fork();
      if (g == 0) _exit(0);
      write(p[1], &g, sizeof g);
      _exit(0);
    }
    pid_t g;
    if (read(p[0], &g, sizeof g) != sizeof g) return 1;
    waitpid(child, NULL, 0); /* the grandchild now belongs to PID 1 */
    int want_zombie = !strcmp(argv[2], "zombie");
    for (int i = 0; i < 1000; i++) {
      char s = state_of(g);
      if (want_zombie && s == 'Z') { printf("zombie\\n"); return 0; }
      if (!want_zombie && s == 0) { printf("reaped\\n"); return 0; }
      nap(10);
    }
    printf("still %c\\n", state_of(g));
    return 0;
  }
  if (!strcmp(cmd, "mkdir") && argc > 2) {
    printf("%s\\n", mkdir(argv[2], 0755) < 0 ? strerrorname_np(errno) : "ok");
    return 0;
  }
  if (!strcmp(cmd, "ls") && argc > 2) {
    DIR *d = opendir(argv[2]);
    if (!d) { printf("%s\\n", strerrorname_np(errno)); return 0; }
    for (struct dirent *e; (e = readdir(d));) if (e->d_name[0] != '.') printf("%s\\n", e->d_name);
    return 0;
  }
  if (!strcmp(cmd, "pwd")) {
    char buf[4096];
    printf("%s\\n", getcwd(buf, sizeof buf) ? buf : strerrorname_np(errno));
    return 0;
  }
  if (!strcmp(cmd, "stat") && argc > 2) {
    struct stat st;
    if (lstat(argv[2], &st) < 0) { printf("%s\\n", strerrorname_np(errno)); return 0; }
    printf("%s %u:%u\\n", S_ISCHR(st.st_mode) ? "char" : S_ISLNK(st.st_mode) ? "symlink" : S_ISDIR(st.st_mode) ? "dir" : "other",
           major(st.st_rdev), minor(st.st_rdev));
    return 0;
  }
  if (!strcmp(cmd, "sleep") && argc > 2) {
    printf("ready\\n");
    sleep((unsigned)atoi(argv[2]));
    return 0;
  }
  fprintf(stderr, "iso: unknown command %s\\n", cmd);
  return 2;
}
`;
