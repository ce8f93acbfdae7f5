/* Paths inside a container's root: see in-root.h. */
#define _GNU_SOURCE
#include "in-root.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef SYS_openat2
#define SYS_openat2 437
#endif

/* Deeper trees than this are refused (ENAMETOOLONG): each level holds one fd. */
#define MAX_DEPTH 256
/* As the kernel: at most 40 symlinks in one resolution. */
#define MAX_LINKS 40

int in_root_force_walk;
static int no_openat2;

enum create { CREATE_NONE, CREATE_DIRS, CREATE_FILE };

static int try_openat2(int rootfd, const char *path, int oflags) {
  if (no_openat2 || in_root_force_walk) {
    errno = ENOSYS;
    return -1;
  }
  struct open_how how;
  memset(&how, 0, sizeof how);
  how.flags = (uint64_t)(O_PATH | O_CLOEXEC | oflags);
  how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
  for (int attempt = 0;; attempt++) {
    int fd = (int)syscall(SYS_openat2, rootfd, path, &how, sizeof how);
    if (fd >= 0) return fd;
    /* EAGAIN: a concurrent rename made ".." ambiguous; the kernel asks to retry. */
    if (errno == EAGAIN && attempt < 16) continue;
    if (errno == ENOSYS) no_openat2 = 1;
    return -1;
  }
}

/*
 * The walk: one component at a time, each opened O_PATH | O_NOFOLLOW from the
 * directory before it. `stack` holds the directories passed (the root is
 * below it, not owned), so ".." pops one and never climbs above the root. A
 * symlink is read (never followed by the kernel, so magic links are mere text)
 * and its target spliced in front of the rest: absolute targets restart at the
 * root, relative ones at the symlink's directory.
 */
static int walk(int rootfd, const char *path, int nofollow, enum create create, mode_t mode) {
  char rem[PATH_MAX], spliced[PATH_MAX];
  int stack[MAX_DEPTH];
  int depth = 0, links = 0, err = 0, fd = -1;
  if (strlen(path) >= sizeof rem) {
    errno = ENAMETOOLONG;
    return -1;
  }
  strcpy(rem, path);
  char *p = rem;
  for (;;) {
    while (*p == '/') p++;
    if (!*p) break;
    size_t len = strcspn(p, "/");
    char *rest = p + len; /* "" or starts with '/' */
    const char *after = rest;
    while (*after == '/') after++;
    int last = !*after;
    int must_be_dir = !last || *rest == '/' || create == CREATE_DIRS;
    char name[NAME_MAX + 1];
    if (len > NAME_MAX) {
      err = ENAMETOOLONG;
      goto fail;
    }
    memcpy(name, p, len);
    name[len] = 0;
    p = rest;
    int cur = depth ? stack[depth - 1] : rootfd;
    if (!strcmp(name, ".")) continue;
    if (!strcmp(name, "..")) {
      if (depth) close(stack[--depth]);
      continue;
    }
    fd = openat(cur, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT && create != CREATE_NONE) {
      if (must_be_dir) {
        if (mkdirat(cur, name, last ? mode : 0755) < 0 && errno != EEXIST) goto fail_errno;
      } else {
        int f = openat(cur, name, O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC, mode);
        if (f < 0 && errno != EEXIST) goto fail_errno;
        if (f >= 0) close(f);
      }
      fd = openat(cur, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
    }
    if (fd < 0) goto fail_errno;
    struct stat st;
    if (fstat(fd, &st) < 0) goto fail_errno;
    if (S_ISLNK(st.st_mode) && (!last || *rest == '/' || !nofollow)) {
      char target[PATH_MAX];
      ssize_t n = readlinkat(fd, "", target, sizeof target);
      if (n < 0) goto fail_errno;
      close(fd);
      fd = -1;
      if (n == 0) {
        err = ENOENT;
        goto fail;
      }
      if ((size_t)n >= sizeof target || (size_t)n + strlen(p) >= sizeof spliced) {
        err = ENAMETOOLONG;
        goto fail;
      }
      if (++links > MAX_LINKS) {
        err = ELOOP;
        goto fail;
      }
      if (target[0] == '/')
        while (depth) close(stack[--depth]);
      memcpy(spliced, target, (size_t)n);
      strcpy(spliced + n, p);
      strcpy(rem, spliced);
      p = rem;
      continue;
    }
    if (must_be_dir && !S_ISDIR(st.st_mode)) {
      err = ENOTDIR;
      goto fail;
    }
    if (depth == MAX_DEPTH) {
      err = ENAMETOOLONG;
      goto fail;
    }
    stack[depth++] = fd;
    fd = -1;
  }
  if (depth == 0) {
    fd = fcntl(rootfd, F_DUPFD_CLOEXEC, 0);
    if (fd < 0) goto fail_errno;
  } else {
    fd = stack[--depth];
  }
  while (depth) close(stack[--depth]);
  return fd;

fail_errno:
  err = errno;
fail:
  if (fd >= 0) close(fd);
  while (depth) close(stack[--depth]);
  errno = err;
  return -1;
}

int in_root_open(int rootfd, const char *path, int flags) {
  int nofollow = flags & IN_ROOT_NOFOLLOW;
  int fd = try_openat2(rootfd, path, nofollow ? O_NOFOLLOW : 0);
  if (fd >= 0 || errno != ENOSYS) return fd;
  return walk(rootfd, path, nofollow, CREATE_NONE, 0);
}

int in_root_mkdirs(int rootfd, const char *path, mode_t mode) {
  int fd = try_openat2(rootfd, path, O_DIRECTORY);
  if (fd >= 0 || (errno != ENOSYS && errno != ENOENT)) return fd;
  return walk(rootfd, path, 0, CREATE_DIRS, mode);
}

int in_root_create_file(int rootfd, const char *path, mode_t mode) {
  int fd = try_openat2(rootfd, path, 0);
  if (fd >= 0 || (errno != ENOSYS && errno != ENOENT)) return fd;
  return walk(rootfd, path, 0, CREATE_FILE, mode);
}
