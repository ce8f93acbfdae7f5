/*
 * --init: the helper stays PID 1 (like tini / docker-init), because a PID 1
 * without handlers ignores SIGTERM: it forks the program, forwards every
 * catchable signal to it, reaps every zombie reparented to it, and exits with
 * the program's status (128 + signal when it was killed).
 */
#ifndef WHARF_INIT_LOOP_H
#define WHARF_INIT_LOOP_H

/* Returns in the child (which goes on to exec the program); the parent never
   returns. `sync_fd` is closed in the parent, so that the child's exec gives
   the handshake its EOF (sync 3.). */
void init_fork(int sync_fd);

#endif
