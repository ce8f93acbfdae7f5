/*
 * The handshake record shared by wharf_native.cc and init/wharf-init.c (C and
 * C++). A failing setup step sends exactly one of these on the SOCK_SEQPACKET
 * socket; runtime/native/spawn.ts turns it into a ContainerStartError.
 */
#ifndef WHARF_SYNC_H
#define WHARF_SYNC_H

#include <stdint.h>

enum wharf_step {
  WHARF_STEP_EXEC_HELPER = 1, /* the cloned child could not execve wharf-init */
  WHARF_STEP_SPEC,
  WHARF_STEP_SYNC,
  WHARF_STEP_CGROUPNS,
  WHARF_STEP_MOUNT_PRIVATE,
  WHARF_STEP_ROOTFS,
  WHARF_STEP_MOUNT_PROC,
  WHARF_STEP_MOUNT_SYS,
  WHARF_STEP_MOUNT_DEV,
  WHARF_STEP_PIVOT_ROOT,
  WHARF_STEP_HOSTNAME,
  WHARF_STEP_MASK_PATHS,
  WHARF_STEP_READONLY_PATHS,
  WHARF_STEP_READONLY_ROOTFS,
  WHARF_STEP_CHDIR,
  WHARF_STEP_SETGROUPS,
  WHARF_STEP_SETGID,
  WHARF_STEP_SETUID,
  WHARF_STEP_CAPABILITIES,
  WHARF_STEP_NO_NEW_PRIVS,
  WHARF_STEP_SETNS,
  WHARF_STEP_EXEC,
  WHARF_STEP_SECCOMP,
  WHARF_STEP_DEVICES,
  WHARF_STEP_SESSION,
  WHARF_STEP_LOOPBACK,
  WHARF_STEP_MOUNT_CGROUP,
  WHARF_STEP_BINDS,
  WHARF_STEP_PDEATHSIG,
  WHARF_STEP_INIT,
  WHARF_STEP_CLOSE_FDS,
  WHARF_STEP_CONSOLE,
};

static inline const char *wharf_step_name(int step) {
  switch (step) {
    case WHARF_STEP_EXEC_HELPER: return "exec_helper";
    case WHARF_STEP_SPEC: return "spec";
    case WHARF_STEP_SYNC: return "sync";
    case WHARF_STEP_CGROUPNS: return "cgroup_namespace";
    case WHARF_STEP_MOUNT_PRIVATE: return "mount_private";
    case WHARF_STEP_ROOTFS: return "rootfs";
    case WHARF_STEP_MOUNT_PROC: return "mount_proc";
    case WHARF_STEP_MOUNT_SYS: return "mount_sys";
    case WHARF_STEP_MOUNT_DEV: return "mount_dev";
    case WHARF_STEP_PIVOT_ROOT: return "pivot_root";
    case WHARF_STEP_HOSTNAME: return "hostname";
    case WHARF_STEP_MASK_PATHS: return "mask_paths";
    case WHARF_STEP_READONLY_PATHS: return "readonly_paths";
    case WHARF_STEP_READONLY_ROOTFS: return "readonly_rootfs";
    case WHARF_STEP_CHDIR: return "chdir";
    case WHARF_STEP_SETGROUPS: return "setgroups";
    case WHARF_STEP_SETGID: return "setgid";
    case WHARF_STEP_SETUID: return "setuid";
    case WHARF_STEP_CAPABILITIES: return "capabilities";
    case WHARF_STEP_NO_NEW_PRIVS: return "no_new_privs";
    case WHARF_STEP_SETNS: return "setns";
    case WHARF_STEP_EXEC: return "exec";
    case WHARF_STEP_CONSOLE: return "console";
    case WHARF_STEP_SECCOMP: return "seccomp";
    case WHARF_STEP_DEVICES: return "devices";
    case WHARF_STEP_SESSION: return "session";
    case WHARF_STEP_LOOPBACK: return "loopback";
    case WHARF_STEP_MOUNT_CGROUP: return "mount_cgroup";
    case WHARF_STEP_BINDS: return "binds";
    case WHARF_STEP_PDEATHSIG: return "pdeathsig";
    case WHARF_STEP_INIT: return "init";
    case WHARF_STEP_CLOSE_FDS: return "close_fds";
    default: return "unknown";
  }
}

/* Fixed size, no pointers: 256 bytes on the wire. */
struct wharf_sync_error {
  int32_t step;
  int32_t err;
  char step_name[24];
  char message[224];
};

#endif
