/**
 * The C source of `ttyprobe`, compiled with gcc -static in the terminal isolation tests:
 *
 *   ttyprobe inject TEXT        TIOCSTI of TEXT, byte by byte, on fds 0, 1, 2 and on an
 *                               opened /dev/tty; prints one line per target:
 *                               "fd0 ENOTTY", "tty ENXIO", or "fd1 ok" when it got in
 *   ttyprobe session            "sid=<getsid(0)> pgrp=<getpgrp()> pid=<getpid()> tty_nr=<N>"
 *                               (tty_nr: field 7 of /proc/self/stat, 0 = no controlling tty)
 *   ttyprobe pattern N CODE     N numbered lines on stdout and on stderr, interleaved
 *                               write by write, then exits with CODE
 */
export const TTY_PROBE_SOURCE = `#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

static const char *name(int e) {
  switch (e) {
    case 0: return "ok";
    case ENOTTY: return "ENOTTY";
    case ENXIO: return "ENXIO";
    case EPERM: return "EPERM";
    case EIO: return "EIO";
    case EBADF: return "EBADF";
    case EACCES: return "EACCES";
    default: return "other";
  }
}

static int inject(int fd, const char *text) {
  for (const char *c = text; *c; c++)
    if (ioctl(fd, TIOCSTI, c) < 0) return errno;
  return 0;
}

static void report(const char *what, int err) {
  char b[64];
  int n = snprintf(b, sizeof b, "%s %s\\n", what, name(err));
  /* fd 2 may be the target of the injection test itself: report on the first usable. */
  if (write(1, b, n) < 0) write(2, b, n);
}

int main(int argc, char **argv) {
  if (argc >= 3 && !strcmp(argv[1], "inject")) {
    int r[3];
    for (int fd = 0; fd < 3; fd++) r[fd] = inject(fd, argv[2]);
    int tty = open("/dev/tty", O_RDWR | O_NOCTTY);
    int rt = tty < 0 ? errno : inject(tty, argv[2]);
    char what[8];
    for (int fd = 0; fd < 3; fd++) {
      snprintf(what, sizeof what, "fd%d", fd);
      report(what, r[fd]);
    }
    report("tty", rt);
    return 0;
  }
  if (argc >= 2 && !strcmp(argv[1], "session")) {
    char stat[1024] = {0};
    int f = open("/proc/self/stat", O_RDONLY);
    if (f >= 0) { read(f, stat, sizeof stat - 1); close(f); }
    char *p = strrchr(stat, ')');
    int ttynr = -1;
    if (p) sscanf(p + 2, "%*c %*d %*d %*d %d", &ttynr);
    printf("sid=%d pgrp=%d pid=%d tty_nr=%d\\n", (int)getsid(0), (int)getpgrp(), (int)getpid(), ttynr);
    return 0;
  }
  if (argc >= 4 && !strcmp(argv[1], "pattern")) {
    int n = atoi(argv[2]);
    char b[64];
    for (int i = 0; i < n; i++) {
      int k = snprintf(b, sizeof b, "out %d\\n", i);
      if (write(1, b, k) != k) return 90;
      k = snprintf(b, sizeof b, "err %d\\n", i);
      if (write(2, b, k) != k) return 91;
    }
    return atoi(argv[3]);
  }
  fprintf(stderr, "ttyprobe: bad arguments\\n");
  return 2;
}
`;
