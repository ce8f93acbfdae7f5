/* The container's seccomp filter (seccomp.c). */
#ifndef WHARF_SECCOMP_H
#define WHARF_SECCOMP_H

#include <stddef.h>

/* Takes a spec key of seccomp.c's: 1 when consumed, 0 when not ours, <0 -errno. Keeps `value`. */
int wharf_seccomp_spec(const char *key, char *value);
/* Whether the spec asked for a filter. */
int wharf_seccomp_enabled(void);
/* Builds and loads the filter (no-op without one): 0, or -errno with `msg` filled. */
int wharf_seccomp_load(char *msg, size_t msg_size);
/* `wharf-init --seccomp-bpf`: the keys on stdin, the BPF program on stdout; exit status. */
int wharf_seccomp_export_main(void);

#endif
