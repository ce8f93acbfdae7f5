/* -t: the container's terminal, created inside it (as runc's console socket). */
#ifndef WHARF_CONSOLE_H
#define WHARF_CONSOLE_H

/* Opens a new pty in the container's own devpts (/dev/ptmx after pivot_root or setns),
   sends the master to the parent over the sync socket (one byte "T" with SCM_RIGHTS,
   before sync 3.), and makes the slave this process's controlling terminal and its
   0, 1, 2. The caller must be a session leader. */
void console_setup(int sync_fd);

#endif
