/* --init: see init-loop.h. */
#define _GNU_SOURCE
#include "init-loop.h"

#include <errno.h>
#include <signal.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../sync.h"
#include "helper.h"

/* Faults are the init's own, never forwarded (as tini). */
static const int faults[] = {SIGFPE, SIGILL, SIGSEGV, SIGBUS, SIGABRT, SIGTRAP, SIGSYS};

static void __attribute__((noreturn)) init_loop(pid_t child, const sigset_t *set) {
  for (;;) {
    siginfo_t si;
    int sig = sigwaitinfo(set, &si);
    if (sig < 0) {
      if (errno == EINTR) continue;
      _exit(127);
    }
    if (sig != SIGCHLD) {
      kill(child, sig);
      continue;
    }
    /* Signals coalesce: reap everything that has ended. */
    for (;;) {
      int status;
      pid_t p = waitpid(-1, &status, WNOHANG);
      if (p <= 0) break;
      if (p != child) continue; /* an orphan reparented to us: reaped, nothing more */
      if (WIFSIGNALED(status)) _exit(128 + WTERMSIG(status));
      _exit(WEXITSTATUS(status));
    }
  }
}

void init_fork(int sync_fd) {
  sigset_t set, old;
  sigfillset(&set);
  for (size_t i = 0; i < sizeof faults / sizeof faults[0]; i++) sigdelset(&set, faults[i]);
  /* Blocked before fork, so that nothing sent in between is lost. */
  if (sigprocmask(SIG_BLOCK, &set, &old) < 0) fail(WHARF_STEP_INIT, errno, "block signals");
  pid_t child = fork();
  if (child < 0) fail(WHARF_STEP_INIT, errno, "fork the program");
  if (child == 0) {
    /* Its own process group, in the foreground of a terminal if it has one (-t): a
       ^C reaches it once, from the terminal, not once more forwarded by us (tini's
       way). SIGTTOU is still blocked here, so tcsetpgrp cannot stop us. */
    if (setpgid(0, 0) < 0) fail(WHARF_STEP_INIT, errno, "setpgid");
    if (isatty(0) && tcsetpgrp(0, getpid()) < 0 && errno != ENOTTY) fail(WHARF_STEP_INIT, errno, "tcsetpgrp");
    if (sigprocmask(SIG_SETMASK, &old, NULL) < 0) fail(WHARF_STEP_INIT, errno, "unblock signals");
    return;
  }
  setpgid(child, child); /* either side may run first */
  close(sync_fd);
  init_loop(child, &set);
}
