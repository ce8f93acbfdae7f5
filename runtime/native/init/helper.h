/* What the parts of the init helper (wharf-init.c, rootfs.c, init-loop.c) share. */
#ifndef WHARF_HELPER_H
#define WHARF_HELPER_H

#define MAX_LIST 4096

struct list {
  char *items[MAX_LIST + 1];
  int n;
};

/* Reports the failed step to the parent (sync 2.) and exits 127. */
void fail(int step, int err, const char *fmt, ...) __attribute__((noreturn, format(printf, 3, 4)));

#endif
