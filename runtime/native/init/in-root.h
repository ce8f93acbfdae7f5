/*
 * Paths inside a container's root, resolved as if that root were "/".
 *
 * The rootfs is opened once (a dirfd) and every path under it goes through
 * these functions, never through a string join: an image's absolute symlink
 * (`evil -> /tmp`) points inside the image, `..` stops at the root, and magic
 * links (/proc/<pid>/root, /proc/self/fd/N) are refused (openat2) or read as
 * plain text (the walk), never followed out.
 *
 * Every function returns an O_PATH | O_CLOEXEC fd (use it as a dirfd, with
 * fstat, fchdir, or as /proc/self/fd/N for mount(2)), or -1 with errno set.
 *
 * openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS) does the work where the
 * kernel has it (5.6+); else a component-by-component walk with O_NOFOLLOW,
 * each symlink re-resolved against the root. The create variants walk (against
 * dirfds) only for what is missing.
 */
#ifndef WHARF_IN_ROOT_H
#define WHARF_IN_ROOT_H

#include <sys/types.h>

/* Flags for in_root_open. */
#define IN_ROOT_NOFOLLOW 1 /* do not follow a symlink in the last component */

/* Opens `path` under `rootfd`. */
int in_root_open(int rootfd, const char *path, int flags);

/* Opens the directory `path` under `rootfd`, creating every missing component
 * as a directory with `mode` (a symlink met on the way is followed inside the
 * root, so `evil -> /tmp` + "/evil/a" creates <root>/tmp/a). */
int in_root_mkdirs(int rootfd, const char *path, mode_t mode);

/* Opens the file `path` under `rootfd`, creating missing parent directories
 * (0755) and the file itself (empty, `mode`) when missing. */
int in_root_create_file(int rootfd, const char *path, mode_t mode);

/* Tests set this to 1 to exercise the walk where openat2 exists. */
extern int in_root_force_walk;

#endif
