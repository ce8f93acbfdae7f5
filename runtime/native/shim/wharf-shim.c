/*
 * wharf-shim: the per-container monitor. The daemon starts one per container start (and
 * one per exec); it forks away at once (setsid, reparented: the daemon is not its
 * parent), so the daemon can die and come back without losing the container or its
 * exit status. Single-threaded, static, a poll loop.
 *
 *   - it is the container's parent: on `start` it clones into the namespaces the daemon
 *     asked for and execs the init helper (wharf-init) there, places the pid in the
 *     container's cgroups (the cgroup.procs files it was given), then does the helper's
 *     handshake (runtime/native/sync.h): sync 1 "G"; sync 2 error record; sync 3 EOF;
 *   - it holds the container's stdio: pipes, or with -t the pty master that wharf-init
 *     opened inside the container's devpts and sent back over the sync socket;
 *   - it writes stdout/stderr as Docker's json-file log lines, rotated by size;
 *   - it serves a unix socket (0600) for the daemon: line commands, and attach streams
 *     framed as the Engine API's 8-byte multiplexed frames;
 *   - it records the exit status to a file (temp + rename) before telling anyone.
 *
 * Usage (every option is set by runtime/native/shim.ts):
 *   wharf-shim -b BUNDLE -s SOCKET -H HELPER -S SPECFILE -f CLONEFLAGS -x EXITFILE
 *              [-c CGROUP_PROCS]... [-l LOGFILE [-m MAXSIZE] [-n MAXFILES]] [-t] [-i] [-o]
 *              [-F N] [-N] [-C]
 *   -C: fd 3 is a connected stream socket, not a pipe: after "ready\n" it stays open as
 *   the first client connection (the caller's monitor connection, without a connect).
 *   -N: the caller spawned us in a session of our own and reaps us (a pidfd): no fork
 *   away from it (a process and a scheduling round less on every start).
 *   fd 3 on entry: a pipe; the shim writes "ready\n" once its socket listens (or
 *   "error <message>\n") and closes it.
 *   fds 4 .. 4+N-1 on entry (-F N): O_PATH fds of bind sources the daemon opened;
 *   the shim clones each into a detached mount tree (open_tree) and wharf-init gets
 *   those as its fds 5 .. 5+N-1 (its spec names them) to attach with move_mount.
 *
 * Socket protocol: the client sends lines; answers are lines.
 *   start [<cloneflags>]  -> "started <pid>" | "failed <step>\t<errno>\t<message>"
 *   status                -> "created" | "running <pid>" | "exited <code> <signal>"
 *   wait                  -> "exited <code> <signal>" once the container has exited
 *   quit                  -> "ok" and exit, when the container was never started
 *   kill <signal>         -> "ok" | "error <errno>"
 *   resize <rows> <cols>  -> "ok" | "error <errno>"
 *   attach <i|o|e...>     -> "ok"; from then on the shim sends frames
 *                            [stream 1|2, 0, 0, 0, u32 big-endian length] + data, and
 *                            [0xff, 0, 0, 0, len] + "exited <code> <signal>" at the end;
 *                            what the client sends is the container's stdin; the client's
 *                            EOF closes that stdin when -o (StdinOnce) was given.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "../sync.h"

#ifndef OPEN_TREE_CLONE
#define OPEN_TREE_CLONE 1
#endif
#ifndef OPEN_TREE_CLOEXEC
#define OPEN_TREE_CLOEXEC O_CLOEXEC
#endif
#ifndef AT_RECURSIVE
#define AT_RECURSIVE 0x8000
#endif
#ifndef SYS_open_tree
#define SYS_open_tree 428
#endif

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif
#ifndef SYS_close_range
#define SYS_close_range 436
#endif

#define MAX_CLIENTS 64
#define MAX_CGROUPS 16
#define LINE_MAX_LOG 16384

static struct {
  const char *bundle, *socket, *helper, *specfile, *exitfile, *logfile;
  const char *cgroups[MAX_CGROUPS];
  int ncgroups;
  unsigned long flags;
  long long maxsize;
  int maxfiles, tty, stdin_open, stdin_once;
  int npass;          /* -F: fds 4.. on entry are bind sources for wharf-init */
  int nofork;         /* -N: stay the caller's child (it reaps us) */
  int conn3;          /* -C: fd 3 becomes the first client after "ready" */
} opt = {.maxsize = -1, .maxfiles = 1};

/* The bind-source fds (O_PATH) handed to wharf-init as its fds 5...: moved above
   everything at entry, close-on-exec, dup'ed into place in the clone child only,
   and closed here once the helper has them. */
#define MAX_PASS 256
static int pass_fds[MAX_PASS];

enum { ST_CREATED, ST_RUNNING, ST_EXITED };
static int state = ST_CREATED;
static pid_t child = -1;
static int exit_code = -1, exit_signal = 0;

struct client {
  int fd;
  int attached, want_in, want_out, want_err, waiting, dead, rd_eof;
  char line[512];
  size_t len;
};
static struct client clients[MAX_CLIENTS];
static int nclients;

static int listen_fd = -1, sig_fd = -1;
static int in_fd = -1;               /* the container's stdin (write end), or the pty master */
static int out_fd = -1, err_fd = -1; /* read ends; with a pty out_fd is the master */
static int log_fd = -1;
static long long log_size;
static char partial[2][LINE_MAX_LOG];
static size_t partial_len[2];

static void die(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
static void die(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "wharf-shim: ");
  vfprintf(stderr, fmt, ap);
  fprintf(stderr, "\n");
  va_end(ap);
  if (opt.socket) unlink(opt.socket);
  _exit(1);
}

static int write_all(int fd, const void *buf, size_t n) {
  const char *p = buf;
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0 && errno == EAGAIN) { /* a non-blocking fd (the pty master): wait until it takes more */
      struct pollfd pw = {fd, POLLOUT, 0};
      poll(&pw, 1, -1);
      continue;
    }
    if (w <= 0) return -1;
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

/* ---------- json-file logs ---------- */

static void rotate_log(void) {
  if (opt.maxfiles > 1) {
    char from[4096], to[4096];
    for (int i = opt.maxfiles - 1; i >= 1; i--) {
      if (i == 1) snprintf(from, sizeof from, "%s", opt.logfile);
      else snprintf(from, sizeof from, "%s.%d", opt.logfile, i - 1);
      snprintf(to, sizeof to, "%s.%d", opt.logfile, i);
      rename(from, to);
    }
    close(log_fd);
  } else {
    close(log_fd);
    unlink(opt.logfile);
  }
  log_fd = open(opt.logfile, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
  log_size = 0;
}

static void log_line(int stream, const char *data, size_t n) {
  if (log_fd < 0) return;
  static char buf[LINE_MAX_LOG * 6 + 256];
  size_t o = 0;
  o += (size_t)snprintf(buf, sizeof buf, "{\"log\":\"");
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)data[i];
    switch (c) {
      case '"': buf[o++] = '\\'; buf[o++] = '"'; break;
      case '\\': buf[o++] = '\\'; buf[o++] = '\\'; break;
      case '\n': buf[o++] = '\\'; buf[o++] = 'n'; break;
      case '\r': buf[o++] = '\\'; buf[o++] = 'r'; break;
      case '\t': buf[o++] = '\\'; buf[o++] = 't'; break;
      default:
        if (c < 0x20 || c == 0x7f) o += (size_t)sprintf(buf + o, "\\u%04x", c);
        else buf[o++] = (char)c;
    }
  }
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  struct tm tm;
  gmtime_r(&ts.tv_sec, &tm);
  o += (size_t)snprintf(buf + o, sizeof buf - o, "\",\"stream\":\"%s\",\"time\":\"%04d-%02d-%02dT%02d:%02d:%02d.%09ldZ\"}\n",
                        stream == 2 ? "stderr" : "stdout", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                        tm.tm_min, tm.tm_sec, ts.tv_nsec);
  if (opt.maxsize > 0 && log_size > 0 && log_size + (long long)o > opt.maxsize) rotate_log();
  if (log_fd >= 0 && write_all(log_fd, buf, o) == 0) log_size += (long long)o;
}

/* Docker's copier: one log entry per line; a line longer than the buffer is cut. */
static void log_output(int stream, const char *data, size_t n) {
  int s = stream == 2 ? 1 : 0;
  while (n > 0) {
    const char *nl = memchr(data, '\n', n);
    size_t take = nl ? (size_t)(nl - data) + 1 : n;
    if (partial_len[s] + take > LINE_MAX_LOG) take = LINE_MAX_LOG - partial_len[s];
    memcpy(partial[s] + partial_len[s], data, take);
    partial_len[s] += take;
    data += take;
    n -= take;
    if (partial[s][partial_len[s] - 1] == '\n' || partial_len[s] == LINE_MAX_LOG) {
      log_line(stream, partial[s], partial_len[s]);
      partial_len[s] = 0;
    }
  }
}

static void flush_logs(void) {
  for (int s = 0; s < 2; s++)
    if (partial_len[s] > 0) {
      log_line(s == 1 ? 2 : 1, partial[s], partial_len[s]);
      partial_len[s] = 0;
    }
}

/* ---------- clients ---------- */

static void drop_client(int i) {
  close(clients[i].fd);
  clients[i] = clients[--nclients];
}

static int send_frame(struct client *c, int stream, const char *data, size_t n) {
  unsigned char h[8] = {(unsigned char)stream, 0, 0, 0, (unsigned char)(n >> 24), (unsigned char)(n >> 16),
                        (unsigned char)(n >> 8), (unsigned char)n};
  struct iovec iov[2] = {{h, 8}, {(void *)data, n}};
  size_t total = 8 + n, done = 0;
  while (done < total) {
    ssize_t w = writev(c->fd, iov, 2);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return -1;
    done += (size_t)w;
    size_t skip = (size_t)w;
    for (int k = 0; k < 2; k++) {
      size_t d = skip < iov[k].iov_len ? skip : iov[k].iov_len;
      iov[k].iov_base = (char *)iov[k].iov_base + d;
      iov[k].iov_len -= d;
      skip -= d;
    }
  }
  return 0;
}

static void reply(struct client *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void reply(struct client *c, const char *fmt, ...) {
  char buf[512];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf, sizeof buf - 1, fmt, ap);
  va_end(ap);
  if (n < 0) return;
  if (n > (int)sizeof buf - 2) n = (int)sizeof buf - 2;
  buf[n++] = '\n';
  write_all(c->fd, buf, (size_t)n);
}

static void broadcast(int stream, const char *data, size_t n) {
  for (int i = 0; i < nclients; i++) {
    struct client *c = &clients[i];
    if (!c->attached || !(stream == 2 ? c->want_err : c->want_out)) continue;
    if (!c->dead && send_frame(c, stream, data, n) < 0) c->dead = 1; /* dropped after this round */
  }
}

/* ---------- the container ---------- */

static void close_stdin(void) {
  if (opt.tty || in_fd < 0) return; /* the pty master is also the output */
  close(in_fd);
  in_fd = -1;
}

/* What an attach sends before the container starts (the docker CLI writes `echo x | docker
   run -i` input right after attaching): kept, and written once the program runs. */
static char pending_in[65536];
static size_t pending_len;
static int pending_eof;

static void write_stdin(const char *data, size_t n) {
  if (state == ST_CREATED) {
    if (n > sizeof pending_in - pending_len) n = sizeof pending_in - pending_len;
    memcpy(pending_in + pending_len, data, n);
    pending_len += n;
    return;
  }
  if (in_fd < 0) return;
  /* A pipe's write end is ours alone and can block (a container that does not read its
     stdin stalls only its attach); the pty master is also the output, read by pump() until
     EAGAIN, so it stays non-blocking and a full input queue is waited out in write_all. */
  if (!opt.tty) fcntl(in_fd, F_SETFL, 0);
  if (write_all(in_fd, data, n) < 0) close_stdin();
}

static void end_stdin(void) {
  if (state == ST_CREATED) pending_eof = 1;
  else close_stdin();
}

static void flush_pending_stdin(void) {
  if (pending_len > 0) write_stdin(pending_in, pending_len);
  pending_len = 0;
  if (pending_eof && opt.stdin_once) close_stdin();
}

static int recv_master(int sock) {
  char byte;
  struct iovec iov = {&byte, 1};
  union {
    char buf[CMSG_SPACE(sizeof(int))];
    struct cmsghdr align;
  } u;
  struct msghdr msg = {0};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = u.buf;
  msg.msg_controllen = sizeof u.buf;
  ssize_t r;
  do r = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
  while (r < 0 && errno == EINTR);
  if (r != 1) return -1;
  struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
  if (!cm || cm->cmsg_type != SCM_RIGHTS) return -1;
  int fd;
  memcpy(&fd, CMSG_DATA(cm), sizeof fd);
  return fd;
}

/* Starts the container; returns 0, or -1 with *err filled. */
static int start_container(struct wharf_sync_error *err) {
  int sv[2], out[2] = {-1, -1}, errp[2] = {-1, -1}, in[2] = {-1, -1};
  memset(err, 0, sizeof *err);
  err->step = WHARF_STEP_EXEC_HELPER;
  snprintf(err->step_name, sizeof err->step_name, "%s", "shim");
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) goto sys;
  int spec = open(opt.specfile, O_RDONLY | O_CLOEXEC);
  if (spec < 0) goto sys;
  int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
  if (devnull < 0) goto sys;
  int cin = devnull, cout = devnull, cerr = devnull;
  if (!opt.tty) {
    if (pipe2(out, O_CLOEXEC) < 0 || pipe2(errp, O_CLOEXEC) < 0) goto sys;
    cout = out[1];
    cerr = errp[1];
    if (opt.stdin_open) {
      if (pipe2(in, O_CLOEXEC) < 0) goto sys;
      cin = in[0];
    }
  }
  sigset_t empty;
  sigemptyset(&empty);
  long pid = syscall(SYS_clone, opt.flags | SIGCHLD, NULL, NULL, NULL, NULL);
  if (pid < 0) goto sys;
  if (pid == 0) {
    for (int s = 1; s < NSIG; s++) signal(s, SIG_DFL);
    sigprocmask(SIG_SETMASK, &empty, NULL);
    dup2(cin, 0);
    dup2(cout, 1);
    dup2(cerr, 2);
    dup2(sv[1], 3);
    dup2(spec, 4);
    /* pass_fds[i] >= 4 + 2 * npass > 5 + i: no dup2 here overwrites one still to come */
    for (int i = 0; i < opt.npass; i++) dup2(pass_fds[i], 5 + i);
    syscall(SYS_close_range, 5U + (unsigned)opt.npass, ~0U, CLOSE_RANGE_CLOEXEC);
    char *argv[] = {"wharf-init", NULL};
    char *envp[] = {NULL};
    execve(opt.helper, argv, envp);
    struct wharf_sync_error e = {.step = WHARF_STEP_EXEC_HELPER, .err = errno};
    snprintf(e.step_name, sizeof e.step_name, "%s", wharf_step_name(WHARF_STEP_EXEC_HELPER));
    snprintf(e.message, sizeof e.message, "execve %s", opt.helper);
    send(3, &e, sizeof e, MSG_NOSIGNAL); /* sync 2. */
    _exit(127);
  }
  child = (pid_t)pid;
  for (int i = 0; i < opt.npass; i++) close(pass_fds[i]);
  opt.npass = 0;
  close(sv[1]);
  close(spec);
  if (out[1] >= 0) close(out[1]);
  if (errp[1] >= 0) close(errp[1]);
  if (in[0] >= 0) close(in[0]);
  close(devnull);
  out_fd = out[0];
  err_fd = errp[0];
  in_fd = in[1];
  for (int i = 0; i < opt.ncgroups; i++) {
    int fd = open(opt.cgroups[i], O_WRONLY | O_CLOEXEC);
    char buf[32];
    int n = snprintf(buf, sizeof buf, "%ld", pid);
    if (fd < 0 || write_all(fd, buf, (size_t)n) < 0) {
      err->err = errno;
      snprintf(err->step_name, sizeof err->step_name, "%s", "cgroup");
      snprintf(err->message, sizeof err->message, "add pid %ld to %s", pid, opt.cgroups[i]);
      if (fd >= 0) close(fd);
      close(sv[0]);
      return -1;
    }
    close(fd);
  }
  /* sync 1. */
  char go = 'G';
  if (send(sv[0], &go, 1, MSG_NOSIGNAL) < 0 && errno != EPIPE && errno != ECONNRESET) goto sys;
  for (;;) {
    struct wharf_sync_error e;
    ssize_t r;
    if (opt.tty && out_fd < 0) {
      /* the console message comes first: wharf-init sends the pty master it opened */
      struct pollfd p = {sv[0], POLLIN, 0};
      poll(&p, 1, -1);
      r = recv(sv[0], &e, sizeof e, MSG_PEEK);
      if (r == 1) {
        int m = recv_master(sv[0]);
        if (m < 0) {
          err->err = EPROTO;
          snprintf(err->message, sizeof err->message, "bad console message");
          close(sv[0]);
          return -1;
        }
        out_fd = in_fd = m;
        continue;
      }
    }
    do r = recv(sv[0], &e, sizeof e, 0);
    while (r < 0 && errno == EINTR);
    if (r == 0 || (r < 0 && errno == ECONNRESET)) break; /* sync 3. */
    if (r == (ssize_t)sizeof e) { /* sync 2. */
      e.step_name[sizeof e.step_name - 1] = 0;
      e.message[sizeof e.message - 1] = 0;
      *err = e;
      close(sv[0]);
      return -1;
    }
    err->err = r < 0 ? errno : EPROTO;
    snprintf(err->message, sizeof err->message, "handshake with wharf-init");
    close(sv[0]);
    return -1;
  }
  close(sv[0]);
  if (out_fd >= 0) fcntl(out_fd, F_SETFL, O_NONBLOCK);
  if (err_fd >= 0) fcntl(err_fd, F_SETFL, O_NONBLOCK);
  if (opt.tty && !opt.stdin_open) in_fd = -1;
  state = ST_RUNNING;
  return 0;
sys:
  err->err = errno;
  snprintf(err->message, sizeof err->message, "%s", strerror(errno));
  return -1;
}

/* temp + rename: a reader never sees a torn file. No fsync: the file is for a daemon that
   died or restarts while this host keeps running (a power loss ends the container and its
   status with it), and an fsync here would be the slowest step of every exit. */
static void write_exit_file(void) {
  char tmp[4096], body[256];
  snprintf(tmp, sizeof tmp, "%s.tmp", opt.exitfile);
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  int n = snprintf(body, sizeof body, "{\"exitCode\":%d,\"signal\":%d,\"finishedAt\":%lld.%09ld}\n", exit_code, exit_signal,
                   (long long)ts.tv_sec, ts.tv_nsec);
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return;
  write_all(fd, body, (size_t)n);
  close(fd);
  rename(tmp, opt.exitfile);
}

/* Reads what is there; returns 0 on EOF or error (the fd is closed), 1 otherwise. */
static int pump(int *fd, int stream) {
  char buf[32768];
  for (;;) {
    ssize_t r = read(*fd, buf, sizeof buf);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0 && errno == EAGAIN) return 1;
    if (r <= 0) {
      if (*fd == in_fd) in_fd = -1;
      close(*fd);
      *fd = -1;
      return 0;
    }
    log_output(stream, buf, (size_t)r);
    broadcast(stream, buf, (size_t)r);
  }
}

static void finish(void) __attribute__((noreturn));
static void finish(void) {
  /* Drain what the container wrote: when its init is gone every process of its pid
     namespace is, so the pipes reach EOF soon; give up after a second. */
  struct timespec start, now;
  clock_gettime(CLOCK_MONOTONIC, &start);
  while (out_fd >= 0 || err_fd >= 0) {
    struct pollfd p[2] = {{out_fd, POLLIN, 0}, {err_fd, POLLIN, 0}};
    clock_gettime(CLOCK_MONOTONIC, &now);
    long elapsed = (now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000;
    if (elapsed > 1000) break;
    if (poll(p, 2, (int)(1000 - elapsed)) <= 0) break;
    if (out_fd >= 0 && p[0].revents) pump(&out_fd, 1);
    if (err_fd >= 0 && p[1].revents) pump(&err_fd, 2);
  }
  flush_logs();
  write_exit_file();
  char msg[64];
  int n = snprintf(msg, sizeof msg, "exited %d %d", exit_code, exit_signal);
  unlink(opt.socket);
  for (int i = 0; i < nclients; i++) {
    struct client *c = &clients[i];
    if (c->attached) send_frame(c, 0xff, msg, (size_t)n);
    else if (c->waiting) reply(c, "%s", msg);
    shutdown(c->fd, SHUT_WR);
  }
  /* Let the clients read to EOF before the sockets go. */
  for (int i = 0; i < nclients; i++) {
    struct pollfd p = {clients[i].fd, POLLIN, 0};
    char junk[4096];
    while (poll(&p, 1, 200) > 0 && read(clients[i].fd, junk, sizeof junk) > 0) {}
    close(clients[i].fd);
  }
  _exit(0);
}

static void reap(void) {
  int status;
  for (;;) {
    pid_t p = waitpid(-1, &status, WNOHANG);
    if (p <= 0) return;
    if (p != child) continue;
    if (WIFEXITED(status)) exit_code = WEXITSTATUS(status);
    else {
      exit_signal = WTERMSIG(status);
      exit_code = 128 + exit_signal;
    }
    state = ST_EXITED;
  }
}

static void command(int i) {
  struct client *c = &clients[i];
  char *line = c->line;
  if (!strcmp(line, "start") || !strncmp(line, "start ", 6)) {
    /* "start <cloneflags>": flags known only once the spec was made (the daemon launches
       the shim while it mounts the rootfs) */
    if (line[5] == ' ') opt.flags = strtoul(line + 6, NULL, 10);
    if (state != ST_CREATED) {
      reply(c, "failed shim\t%d\talready started", EINVAL);
      return;
    }
    struct wharf_sync_error e;
    if (start_container(&e) < 0) {
      for (char *p = e.message; *p; p++)
        if (*p == '\n' || *p == '\t') *p = ' ';
      reply(c, "failed %s\t%d\t%s", e.step_name, e.err, e.message);
      if (child > 0) {
        kill(child, SIGKILL);
        waitpid(child, NULL, 0);
      }
      exit_code = 127;
      state = ST_EXITED;
      unlink(opt.socket);
      _exit(1);
    }
    flush_pending_stdin();
    reply(c, "started %d", (int)child);
  } else if (!strcmp(line, "status")) {
    if (state == ST_CREATED) reply(c, "created");
    else if (state == ST_RUNNING) reply(c, "running %d", (int)child);
    else reply(c, "exited %d %d", exit_code, exit_signal);
  } else if (!strcmp(line, "quit")) {
    /* a daemon that died between launching and starting us: nothing to keep */
    if (state == ST_CREATED) {
      reply(c, "ok");
      unlink(opt.socket);
      _exit(0);
    }
    reply(c, "error %d", EBUSY);
  } else if (!strcmp(line, "wait")) {
    c->waiting = 1;
  } else if (!strncmp(line, "kill ", 5)) {
    int sig = atoi(line + 5);
    if (state != ST_RUNNING) reply(c, "error %d", ESRCH);
    else if (kill(child, sig) < 0) reply(c, "error %d", errno);
    else reply(c, "ok");
  } else if (!strncmp(line, "resize ", 7)) {
    struct winsize ws = {0};
    unsigned rows = 0, cols = 0;
    sscanf(line + 7, "%u %u", &rows, &cols);
    ws.ws_row = (unsigned short)rows;
    ws.ws_col = (unsigned short)cols;
    if (!opt.tty || out_fd < 0) reply(c, "error %d", ENOTTY);
    else if (ioctl(out_fd, TIOCSWINSZ, &ws) < 0) reply(c, "error %d", errno);
    else reply(c, "ok");
  } else if (!strncmp(line, "attach ", 7)) {
    c->attached = 1;
    c->want_in = strchr(line + 7, 'i') != NULL;
    c->want_out = strchr(line + 7, 'o') != NULL;
    c->want_err = strchr(line + 7, 'e') != NULL;
    reply(c, "ok");
  } else {
    reply(c, "error %d", EINVAL);
  }
}

/* Input from a client: command lines, or stdin once attached. Returns -1 to drop it. */
static int client_input(int i) {
  struct client *c = &clients[i];
  char buf[32768];
  ssize_t r = read(c->fd, buf, sizeof buf);
  if (r < 0 && (errno == EINTR || errno == EAGAIN)) return 0;
  if (r <= 0) {
    if (c->attached && c->want_in && opt.stdin_once) end_stdin();
    /* A half-closed attach keeps receiving output. */
    if (r == 0 && c->attached && (c->want_out || c->want_err)) {
      c->rd_eof = 1;
      return 0;
    }
    return -1;
  }
  size_t off = 0;
  while (!c->attached && off < (size_t)r) {
    char ch = buf[off++];
    if (ch == '\n') {
      c->line[c->len] = 0;
      c->len = 0;
      command(i);
      /* A wait after the exit is answered by finish(), once the exit file is written. */
    } else if (c->len < sizeof c->line - 1) {
      c->line[c->len++] = ch;
    }
  }
  if (c->attached && c->want_in && off < (size_t)r) write_stdin(buf + off, (size_t)r - off);
  return 0;
}

static void parse_args(int argc, char **argv) {
  int c;
  while ((c = getopt(argc, argv, "b:s:H:S:f:x:c:l:m:n:tioF:NC")) != -1) {
    switch (c) {
      case 'b': opt.bundle = optarg; break;
      case 's': opt.socket = optarg; break;
      case 'H': opt.helper = optarg; break;
      case 'S': opt.specfile = optarg; break;
      case 'f': opt.flags = strtoul(optarg, NULL, 10); break;
      case 'x': opt.exitfile = optarg; break;
      case 'c':
        if (opt.ncgroups < MAX_CGROUPS) opt.cgroups[opt.ncgroups++] = optarg;
        break;
      case 'l': opt.logfile = optarg; break;
      case 'm': opt.maxsize = atoll(optarg); break;
      case 'n': opt.maxfiles = atoi(optarg); break;
      case 't': opt.tty = 1; break;
      case 'i': opt.stdin_open = 1; break;
      case 'o': opt.stdin_once = 1; break;
      case 'F': opt.npass = atoi(optarg); break;
      case 'N': opt.nofork = 1; break;
      case 'C': opt.conn3 = 1; break;
      default: die("unknown option");
    }
  }
  if (!opt.bundle || !opt.socket || !opt.helper || !opt.specfile || !opt.exitfile) die("missing options");
  if (opt.maxfiles < 1) opt.maxfiles = 1;
}

int main(int argc, char **argv) {
  parse_args(argc, argv);
  if (opt.npass < 0 || opt.npass > MAX_PASS) die("bad -F %d", opt.npass);
  for (int i = 0; i < opt.npass; i++) {
    /* A bind of a path opened in this mount namespace fails (EINVAL) in the container's
       new one: clone the tree here into a detached mount (open_tree), which wharf-init
       attaches with move_mount. Closing the fd unmounts a tree never attached. */
    int tree = (int)syscall(SYS_open_tree, 4 + i, "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH | AT_RECURSIVE);
    if (tree < 0) die("open_tree of bind source fd %d: %s", 4 + i, strerror(errno));
    pass_fds[i] = fcntl(tree, F_DUPFD_CLOEXEC, 4 + opt.npass * 2);
    if (pass_fds[i] < 0) die("bind source fd %d: %s", 4 + i, strerror(errno));
    close(tree);
    close(4 + i);
  }
  /* Away from the daemon: it is not our parent, and its session is not ours (with -N the
     daemon made the session and reaps us; when it dies we are reparented, as after a fork). */
  if (!opt.nofork) {
    pid_t p = fork();
    if (p < 0) die("fork: %s", strerror(errno));
    if (p > 0) _exit(0);
  }
  setsid(); /* EPERM with -N: a session leader already */
  if (chdir(opt.bundle) < 0) die("chdir %s: %s", opt.bundle, strerror(errno));
  int devnull = open("/dev/null", O_RDWR);
  if (devnull >= 0) {
    dup2(devnull, 0);
    dup2(devnull, 1);
    if (devnull > 2) close(devnull);
  }
  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGCHLD);
  sigaddset(&mask, SIGTERM);
  sigaddset(&mask, SIGINT);
  sigaddset(&mask, SIGHUP);
  sigprocmask(SIG_BLOCK, &mask, NULL);
  signal(SIGPIPE, SIG_IGN);
  sig_fd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
  if (sig_fd < 0) die("signalfd: %s", strerror(errno));

  if (opt.logfile) {
    log_fd = open(opt.logfile, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
    if (log_fd < 0) die("open %s: %s", opt.logfile, strerror(errno));
    struct stat st;
    if (fstat(log_fd, &st) == 0) log_size = st.st_size;
  }
  listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  struct sockaddr_un addr = {.sun_family = AF_UNIX};
  if (strlen(opt.socket) >= sizeof addr.sun_path) die("socket path too long: %s", opt.socket);
  strcpy(addr.sun_path, opt.socket);
  unlink(opt.socket);
  mode_t old = umask(0077);
  if (bind(listen_fd, (struct sockaddr *)&addr, sizeof addr) < 0) die("bind %s: %s", opt.socket, strerror(errno));
  umask(old);
  if (listen(listen_fd, 16) < 0) die("listen: %s", strerror(errno));
  write_all(3, "ready\n", 6);
  if (opt.conn3) {
    /* the caller's connection: a client as an accepted one (the clone child's dup2 onto
       fd 3 replaces it there, and close-on-exec keeps it from any exec) */
    fcntl(3, F_SETFD, FD_CLOEXEC);
    struct timeval tv = {5, 0};
    setsockopt(3, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    clients[nclients++] = (struct client){.fd = 3};
  } else {
    close(3);
  }

  for (;;) {
    if (state == ST_EXITED) finish();
    struct pollfd fds[MAX_CLIENTS + 4];
    int n = 0;
    fds[n++] = (struct pollfd){sig_fd, POLLIN, 0};
    fds[n++] = (struct pollfd){nclients < MAX_CLIENTS ? listen_fd : -1, POLLIN, 0};
    fds[n++] = (struct pollfd){out_fd, POLLIN, 0};
    fds[n++] = (struct pollfd){err_fd, POLLIN, 0};
    for (int i = 0; i < nclients; i++) fds[n++] = (struct pollfd){clients[i].rd_eof ? -1 : clients[i].fd, POLLIN, 0};
    if (poll(fds, (nfds_t)n, -1) < 0) {
      if (errno == EINTR) continue;
      die("poll: %s", strerror(errno));
    }
    if (fds[0].revents) {
      struct signalfd_siginfo si;
      while (read(sig_fd, &si, sizeof si) == sizeof si) {
        if (si.ssi_signo == SIGCHLD) reap();
        /* SIGTERM, SIGINT, SIGHUP: the shim outlives whoever sent them. */
      }
    }
    if (out_fd >= 0 && fds[2].revents) pump(&out_fd, 1);
    if (err_fd >= 0 && fds[3].revents) pump(&err_fd, 2);
    /* Clients after the output, so that an exit is seen after what came before it. */
    for (int i = nclients - 1; i >= 0; i--)
      if (!clients[i].dead && fds[4 + i].revents && client_input(i) < 0) clients[i].dead = 1;
    for (int i = nclients - 1; i >= 0; i--)
      if (clients[i].dead) drop_client(i);
    if (fds[1].revents & POLLIN) {
      int fd;
      while (nclients < MAX_CLIENTS && (fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK)) >= 0) {
        fcntl(fd, F_SETFL, 0); /* blocking writes, bounded by SO_SNDTIMEO */
        struct timeval tv = {5, 0};
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
        clients[nclients++] = (struct client){.fd = fd};
      }
    }
  }
}
