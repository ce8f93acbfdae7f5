/**
 * The C source of `probe`, the test program of the `wharf run` tests: compiled with
 * gcc -static inside the tests (compileStatic), one sub-command per check
 * (argv, exit, pid, hostname, env, status, cat, ls, write, alloc, forkbomb, netdev,
 * cgroup, wait, daemon, sleep, true).
 */
export const PROBE_SOURCE = `/* The test program of the \`wharf run\` tests: one static binary, one sub-command per check. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

extern char **environ;

static void on_signal(int s) {
  char b[32];
  int n = snprintf(b, sizeof b, "signal %d\\n", s);
  write(1, b, n);
  _exit(42);
}

static void list(const char *dir) {
  DIR *d = opendir(dir);
  if (!d) { printf("%s: missing\\n", dir); return; }
  struct dirent *e;
  while ((e = readdir(d))) if (e->d_name[0] != '.') printf("%s/%s\\n", dir, e->d_name);
  closedir(d);
}

int main(int argc, char **argv) {
  const char *cmd = argc > 1 ? argv[1] : "argv";
  setvbuf(stdout, NULL, _IOLBF, 0);
  if (!strcmp(cmd, "argv")) {
    for (int i = 0; i < argc; i++) printf("%s%s", i ? "|" : "", argv[i]);
    printf("\\n");
    return 0;
  }
  if (!strcmp(cmd, "exit")) return atoi(argv[2]);
  if (!strcmp(cmd, "true")) return 0;
  if (!strcmp(cmd, "pid")) {
    printf("pid=%d\\n", getpid());
    DIR *d = opendir("/proc");
    struct dirent *e;
    while ((e = readdir(d))) if (e->d_name[0] >= '0' && e->d_name[0] <= '9') printf("proc=%s\\n", e->d_name);
    return 0;
  }
  if (!strcmp(cmd, "hostname")) {
    struct utsname u;
    uname(&u);
    printf("%s\\n", u.nodename);
    return 0;
  }
  if (!strcmp(cmd, "env")) {
    for (char **e = environ; *e; e++) printf("%s\\n", *e);
    return 0;
  }
  if (!strcmp(cmd, "status")) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[512];
    while (fgets(line, sizeof line, f))
      if (!strncmp(line, "Cap", 3) || !strncmp(line, "Uid:", 4) || !strncmp(line, "Gid:", 4) || !strncmp(line, "Groups:", 7) ||
          !strncmp(line, "NoNewPrivs", 10))
        fputs(line, stdout);
    char cwd[512];
    printf("Cwd:\\t%s\\n", getcwd(cwd, sizeof cwd));
    return 0;
  }
  if (!strcmp(cmd, "cat")) {
    FILE *f = fopen(argv[2], "r");
    if (!f) { printf("%s: %s\\n", argv[2], strerror(errno)); return 1; }
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0) fwrite(buf, 1, n, stdout);
    return 0;
  }
  if (!strcmp(cmd, "ls")) {
    for (int i = 2; i < argc; i++) list(argv[i]);
    return 0;
  }
  if (!strcmp(cmd, "write")) {
    int fd = open(argv[2], O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) { printf("write %s: %s\\n", argv[2], strerror(errno)); return 1; }
    printf("write %s: ok\\n", argv[2]);
    return 0;
  }
  if (!strcmp(cmd, "alloc")) {
    size_t mb = (size_t)atoi(argv[2]);
    printf("allocating %zu MiB\\n", mb);
    for (size_t i = 0; i < mb; i++) {
      char *p = malloc(1 << 20);
      if (!p) { printf("malloc failed\\n"); return 2; }
      memset(p, 1, 1 << 20);
    }
    printf("allocated\\n");
    return 0;
  }
  if (!strcmp(cmd, "forkbomb")) {
    int n = 0, err = 0;
    for (int i = 0; i < 64; i++) {
      pid_t p = fork();
      if (p == 0) { pause(); _exit(0); }
      if (p < 0) { err = errno; break; }
      n++;
    }
    printf("forked %d: %s\\n", n, err ? strerror(err) : "no error");
    return 0;
  }
  if (!strcmp(cmd, "netdev")) {
    FILE *f = fopen("/proc/net/dev", "r");
    char line[512];
    int skip = 2;
    while (fgets(line, sizeof line, f)) {
      if (skip > 0) { skip--; continue; }
      char *colon = strchr(line, ':');
      if (!colon) continue;
      *colon = 0;
      char *name = line;
      while (*name == ' ') name++;
      printf("%s\\n", name);
    }
    return 0;
  }
  if (!strcmp(cmd, "cgroup")) {
    FILE *f = fopen("/proc/self/cgroup", "r");
    char line[512];
    while (fgets(line, sizeof line, f)) fputs(line, stdout);
    return 0;
  }
  if (!strcmp(cmd, "wait")) {
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    alarm(60);
    printf("ready\\n");
    for (;;) pause();
  }
  if (!strcmp(cmd, "daemon")) {
    /* leaves a child behind (argv[2] marks it in its command line) and exits */
    pid_t p = fork();
    if (p == 0) {
      char *args[] = {"/bin/probe", "sleep", argv[2], NULL};
      execv("/bin/probe", args);
      _exit(1);
    }
    printf("child %d\\n", p);
    usleep(100000);
    return 0;
  }
  if (!strcmp(cmd, "sleep")) {
    sleep(1000);
    return 0;
  }
  fprintf(stderr, "probe: unknown command %s\\n", cmd);
  return 2;
}
`;
