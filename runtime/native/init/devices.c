/*
 * Device nodes the container gets beyond the helper's standard /dev: each --device,
 * and with --privileged every device of the host (runtime/security/devices.ts).
 * Spec key (repeated):
 *
 *   device   "<c|b> <major> <minor> <mode, octal> <uid> <gid> <absolute path>"
 *
 * Created after pivot_root, so every path is resolved inside the container's root
 * (an image's symlink cannot lead out of it); missing parents are made 0755, a path
 * that exists already is left as it is (runc's rule), and the node is chowned to
 * the host node's owner. The devices cgroup allows mknod of any node (Docker's "m"
 * rules); what may be opened is the cgroup's decision, not this file's.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "devices.h"

#define MAX_DEVICES 4096

static char *devices[MAX_DEVICES];
static int n_devices;

int wharf_devices_spec(const char *key, char *value) {
  if (strcmp(key, "device")) return 0;
  if (n_devices >= MAX_DEVICES) return -E2BIG;
  devices[n_devices++] = value;
  return 1;
}

static int make_parents(char *path) {
  for (char *p = path + 1; *p; p++) {
    if (*p != '/') continue;
    *p = 0;
    int r = mkdir(path, 0755);
    *p = '/';
    if (r < 0 && errno != EEXIST) return -1;
  }
  return 0;
}

int wharf_devices_create(char *msg, size_t msg_size) {
  mode_t old = umask(0);
  int r = 0;
  for (int i = 0; i < n_devices && r == 0; i++) {
    char type;
    unsigned maj, min, mode, uid, gid;
    int off = 0;
    if (sscanf(devices[i], "%c %u %u %o %u %u %n", &type, &maj, &min, &mode, &uid, &gid, &off) != 6 || off == 0 ||
        (type != 'c' && type != 'b') || devices[i][off] != '/') {
      snprintf(msg, msg_size, "bad device entry %.100s", devices[i]);
      r = -EINVAL;
      break;
    }
    char *path = devices[i] + off;
    if (strstr(path, "/../") || strlen(path) >= PATH_MAX) {
      snprintf(msg, msg_size, "bad device path %.100s", path);
      r = -EINVAL;
      break;
    }
    if (make_parents(path) < 0) {
      r = -errno;
      snprintf(msg, msg_size, "create parents of %.150s", path);
      break;
    }
    if (mknod(path, (type == 'c' ? S_IFCHR : S_IFBLK) | (mode & 07777), makedev(maj, min)) < 0) {
      if (errno == EEXIST) continue;
      r = -errno;
      snprintf(msg, msg_size, "mknod %.150s", path);
      break;
    }
    if (lchown(path, uid, gid) < 0) {
      r = -errno;
      snprintf(msg, msg_size, "chown %.150s", path);
    }
  }
  umask(old);
  return r;
}
