/*
 * A test driver for in-root.c (runtime/native/in-root.test.ts compiles it with
 * gcc): in-root-probe ROOT OP PATH [walk]
 *   OP: open | nofollow | mkdirs | create
 *   walk: force the O_NOFOLLOW walk instead of openat2.
 * Prints the host path the resulting fd refers to, or "errno N".
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "in-root.h"

int main(int argc, char **argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: in-root-probe ROOT OP PATH [walk]\n");
    return 2;
  }
  in_root_force_walk = argc > 4 && !strcmp(argv[4], "walk");
  int rootfd = open(argv[1], O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (rootfd < 0) {
    perror(argv[1]);
    return 2;
  }
  int fd;
  if (!strcmp(argv[2], "open")) fd = in_root_open(rootfd, argv[3], 0);
  else if (!strcmp(argv[2], "nofollow")) fd = in_root_open(rootfd, argv[3], IN_ROOT_NOFOLLOW);
  else if (!strcmp(argv[2], "mkdirs")) fd = in_root_mkdirs(rootfd, argv[3], 0755);
  else if (!strcmp(argv[2], "create")) fd = in_root_create_file(rootfd, argv[3], 0644);
  else return 2;
  if (fd < 0) {
    printf("errno %d\n", errno);
    return 0;
  }
  char link[64], target[PATH_MAX];
  snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
  ssize_t n = readlink(link, target, sizeof target - 1);
  if (n < 0) return 3;
  target[n] = 0;
  printf("%s\n", target);
  return 0;
}
