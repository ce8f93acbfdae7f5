/* Extra device nodes in the container (devices.c). */
#ifndef WHARF_DEVICES_H
#define WHARF_DEVICES_H

#include <stddef.h>

/* Takes the "device" spec key: 1 when consumed, 0 when not ours, <0 -errno. Keeps `value`. */
int wharf_devices_spec(const char *key, char *value);
/* Creates the nodes (call after pivot_root): 0, or -errno with `msg` filled. */
int wharf_devices_create(char *msg, size_t msg_size);

#endif
