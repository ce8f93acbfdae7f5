// wharf_native: the few syscalls the runtime cannot make from JS.
//
//   spawn({helper, spec, stdio, flags}) -> {pid, pidfd, syncFd}
//       clone3 (clone(2) as fallback) into the namespaces in `flags`; the child
//       execve()s the static init helper (init/wharf-init.c) which does the
//       container setup. `spec` is copied into a memfd the helper reads on fd 4.
//   resume(syncFd) -> Promise<null | {step, errno, stepName, message}>
//       /* sync 1. */ tells the helper to go on (after the caller placed it in its
//       cgroup), then waits (uv_poll) for /* sync 2. */ an error record or
//       /* sync 3. */ EOF = the container's program was exec'd. Closes syncFd.
//   wait(pidfd) -> Promise<{exitCode} | {signal}>
//       uv_poll on the pidfd, then waitid(P_PIDFD) reaps. Never blocks the loop.
//   kill(pidfd, signal)
//       pidfd_send_signal.
//   spawnDetached(path, argv, fds) -> Promise<{pid, pidfd}>
//       posix_spawn (glibc: clone(CLONE_VM|CLONE_VFORK), so the cost does not grow
//       with this process's memory as a fork does) of a program in a new session,
//       with fds[i] as its fd i, every signal default and unblocked. For the shim,
//       which forks away at once: wait(pidfd) reaps the spawned process.
//
// Filesystem syscalls Node lacks. Synchronous: each is one quick syscall (an
// overlay mount is well under a millisecond), cheaper on the JS thread than a hop
// through the libuv pool. A failure throws an Error carrying `errno` (positive)
// and `syscall`; runtime/native-fs.ts turns it into a Node-style errno error.
//   mount(source, target, fstype, flags, data, cwd) -> undefined
//       mount(2). source/fstype/data may be null. With a `cwd`, the mount runs on
//       a short-lived thread that unshare(CLONE_FS)es and chdir()s there, so
//       relative paths in `data` (overlay lowerdirs) resolve from `cwd` while the
//       process cwd, shared with the libuv pool, never changes.
//   umount(target, flags) -> undefined                   umount2(2)
//   mknod(path, mode, major, minor) -> undefined         mknod(2), makedev
//   lsetxattr(path, name, value: Buffer, flags) -> undefined
//   lgetxattr(path, name) -> Buffer                      never follows a symlink
//   mountFlags, umountFlags: the MS_* / MNT_* values the wrapper may pass.
//   attachDeviceProgram(cgroupDir, insns)  cgroup v2 devices: devices_bpf.cc
//   trimHeap() -> undefined                              the daemon, once idle: V8's
//       LowMemoryNotification (full GCs that compact and give free pages back), then
//       malloc_trim(0) (glibc gives the free pages of its heaps back to the kernel)
//
// The cloned child of this multithreaded process runs only raw syscalls on data
// prepared before clone: no malloc, no locks, no C++, no JS.
#include <napi.h>
#include <v8.h>
#include <uv.h>

#include "devices_bpf.h"
#include "netlink.h"
#include "copy_range.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <signal.h>
#include <string.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <spawn.h>
#include <malloc.h>
#include <unistd.h>

#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "sync.h"

#ifndef P_PIDFD
#define P_PIDFD 3
#endif
#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif
#ifndef SYS_close_range
#define SYS_close_range 436
#endif
#ifndef SYS_pidfd_send_signal
#define SYS_pidfd_send_signal 424
#endif
#ifndef SYS_clone3
#define SYS_clone3 435
#endif
#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif

extern char **environ;

namespace {

constexpr int kFirstPrivateFd = 10;  // parent-side dups live above the fds the child fills

struct KernelSigaction {
  void (*handler)(int);
  unsigned long flags;
  void *restorer;
  uint64_t mask;
};

struct ChildPlan {
  const char *helper;
  char *const *argv;
  char *const *envp;
  int stdio[3];
  int sync;
  int spec;
  wharf_sync_error exec_error;  // preformatted; the child only fills in errno
};

[[noreturn]] void ChildMain(ChildPlan *p) {
  // Async-signal-safe only from here on.
  KernelSigaction dfl = {};
  dfl.handler = SIG_DFL;
  for (int sig = 1; sig < 65; sig++) {
    if (sig == SIGKILL || sig == SIGSTOP) continue;
    syscall(SYS_rt_sigaction, sig, &dfl, nullptr, 8);
  }
  for (int i = 0; i < 3; i++) dup2(p->stdio[i], i);
  dup2(p->sync, 3);
  dup2(p->spec, 4);
  syscall(SYS_close_range, 5U, ~0U, CLOSE_RANGE_CLOEXEC);
  uint64_t empty = 0;
  syscall(SYS_rt_sigprocmask, SIG_SETMASK, &empty, nullptr, 8);
  execve(p->helper, p->argv, p->envp);
  p->exec_error.err = errno;
  /* sync 2. */
  send(3, &p->exec_error, sizeof p->exec_error, MSG_NOSIGNAL);
  _exit(127);
}

Napi::Error ErrnoError(Napi::Env env, int err, const std::string &what) {
  Napi::Error e = Napi::Error::New(env, what + ": " + strerror(err));
  e.Set("errno", Napi::Number::New(env, err));
  return e;
}

int DupHigh(int fd) { return fcntl(fd, F_DUPFD_CLOEXEC, kFirstPrivateFd); }

Napi::Value Spawn(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsObject()) throw Napi::TypeError::New(env, "spawn(spec): spec object expected");
  Napi::Object o = info[0].As<Napi::Object>();
  std::string helper = o.Get("helper").As<Napi::String>().Utf8Value();
  Napi::Buffer<uint8_t> specBuf = o.Get("spec").As<Napi::Buffer<uint8_t>>();
  Napi::Array stdio = o.Get("stdio").As<Napi::Array>();
  uint64_t flags = static_cast<uint64_t>(o.Get("flags").As<Napi::Number>().Int64Value());
  const uint64_t allowed = CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWNET | CLONE_NEWCGROUP;
  if (flags & ~allowed) throw Napi::RangeError::New(env, "spawn: unsupported clone flags");

  // Everything the child needs, prepared now.
  int sv[2] = {-1, -1};
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) throw ErrnoError(env, errno, "socketpair");
  int memfd = static_cast<int>(syscall(SYS_memfd_create, "wharf-spec", MFD_CLOEXEC));
  std::vector<int> toClose = {sv[1]};
  auto cleanup = [&]() {
    for (int fd : toClose)
      if (fd >= 0) close(fd);
  };
  if (memfd < 0) {
    int err = errno;
    close(sv[0]);
    cleanup();
    throw ErrnoError(env, err, "memfd_create");
  }
  toClose.push_back(memfd);
  size_t off = 0;
  while (off < specBuf.Length()) {
    ssize_t w = write(memfd, specBuf.Data() + off, specBuf.Length() - off);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      int err = errno;
      close(sv[0]);
      cleanup();
      throw ErrnoError(env, err, "write spec");
    }
    off += static_cast<size_t>(w);
  }

  ChildPlan plan = {};
  plan.helper = helper.c_str();
  std::string arg0 = "wharf-init";
  char *argv[] = {arg0.data(), nullptr};
  char *envp[] = {nullptr};
  plan.argv = argv;
  plan.envp = envp;
  for (uint32_t i = 0; i < 3; i++) {
    int fd = stdio.Get(i).As<Napi::Number>().Int32Value();
    plan.stdio[i] = DupHigh(fd);
    toClose.push_back(plan.stdio[i]);
    if (plan.stdio[i] < 0) {
      int err = errno;
      close(sv[0]);
      cleanup();
      throw ErrnoError(env, err, "stdio fd " + std::to_string(fd));
    }
  }
  plan.sync = DupHigh(sv[1]);
  toClose.push_back(plan.sync);
  plan.spec = DupHigh(memfd);
  toClose.push_back(plan.spec);
  if (plan.sync < 0 || plan.spec < 0) {
    int err = errno;
    close(sv[0]);
    cleanup();
    throw ErrnoError(env, err, "dup");
  }
  plan.exec_error.step = WHARF_STEP_EXEC_HELPER;
  snprintf(plan.exec_error.step_name, sizeof plan.exec_error.step_name, "%s", wharf_step_name(WHARF_STEP_EXEC_HELPER));
  snprintf(plan.exec_error.message, sizeof plan.exec_error.message, "execve %s", helper.c_str());

  // Block every signal across clone so that no handler of Node's runs in the
  // child before it has reset the dispositions.
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  int pidfd = -1;
  struct clone_args args = {};
  args.flags = flags | CLONE_PIDFD;
  args.pidfd = reinterpret_cast<uint64_t>(&pidfd);
  args.exit_signal = SIGCHLD;
  long pid = syscall(SYS_clone3, &args, sizeof args);
  if (pid < 0 && errno == ENOSYS)
    pid = syscall(SYS_clone, static_cast<unsigned long>(flags | CLONE_PIDFD | SIGCHLD), nullptr, &pidfd, nullptr, nullptr);
  if (pid == 0) ChildMain(&plan);
  int err = errno;
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  cleanup();
  if (pid < 0) {
    close(sv[0]);
    throw ErrnoError(env, err, "clone");
  }
  Napi::Object out = Napi::Object::New(env);
  out.Set("pid", Napi::Number::New(env, static_cast<double>(pid)));
  out.Set("pidfd", Napi::Number::New(env, pidfd));
  out.Set("syncFd", Napi::Number::New(env, sv[0]));
  return out;
}

// One pending poll: a promise settled from a libuv callback inside a callback
// scope, so that its reactions run right away.
struct Pending {
  uv_poll_t poll;
  int fd;
  Napi::Env env;
  Napi::Promise::Deferred deferred;
  Napi::AsyncContext context;
  bool closeFd;
  Pending(Napi::Env e, int f, const char *name, bool c)
      : fd(f), env(e), deferred(Napi::Promise::Deferred::New(e)), context(e, name), closeFd(c) {
    poll.data = this;
  }
};

void Finish(Pending *p, napi_value value, bool reject) {
  // Stop watching before settling: the promise's reactions run when the callback
  // scope closes and may reuse this fd number for a new poll right away.
  uv_poll_stop(&p->poll);
  if (p->closeFd) close(p->fd);
  uv_close(reinterpret_cast<uv_handle_t *>(&p->poll), [](uv_handle_t *h) { delete static_cast<Pending *>(h->data); });
  Napi::HandleScope scope(p->env);
  Napi::CallbackScope cbScope(p->env, p->context);
  if (reject) p->deferred.Reject(value);
  else p->deferred.Resolve(value);
}

bool StartPoll(Pending *p, uv_poll_cb cb) {
  uv_loop_t *loop = nullptr;
  napi_get_uv_event_loop(p->env, &loop);
  int r = uv_poll_init(loop, &p->poll, p->fd);
  if (r == 0) r = uv_poll_start(&p->poll, UV_READABLE | UV_DISCONNECT, cb);
  if (r != 0) {
    Napi::HandleScope scope(p->env);
    p->deferred.Reject(ErrnoError(p->env, -r, "uv_poll").Value());
    return false;
  }
  return true;
}

void OnSyncReadable(uv_poll_t *h, int status, int) {
  auto *p = static_cast<Pending *>(h->data);
  Napi::HandleScope scope(p->env);
  if (status < 0) return Finish(p, ErrnoError(p->env, -status, "poll sync socket").Value(), true);
  wharf_sync_error e;
  ssize_t r = recv(p->fd, &e, sizeof e, MSG_DONTWAIT);
  if (r < 0 && (errno == EAGAIN || errno == EINTR)) return;
  if (r == 0 || (r < 0 && errno == ECONNRESET)) return Finish(p, p->env.Null(), false); /* sync 3. */
  if (r < 0) return Finish(p, ErrnoError(p->env, errno, "recv sync socket").Value(), true);
  if (r != sizeof e) return Finish(p, Napi::Error::New(p->env, "short handshake record").Value(), true);
  /* sync 2. */
  e.step_name[sizeof e.step_name - 1] = 0;
  e.message[sizeof e.message - 1] = 0;
  Napi::Object o = Napi::Object::New(p->env);
  o.Set("step", Napi::Number::New(p->env, e.step));
  o.Set("errno", Napi::Number::New(p->env, e.err));
  o.Set("stepName", Napi::String::New(p->env, e.step_name));
  o.Set("message", Napi::String::New(p->env, e.message));
  Finish(p, o, false);
}

Napi::Value Resume(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsNumber()) throw Napi::TypeError::New(env, "resume(syncFd)");
  int fd = info[0].As<Napi::Number>().Int32Value();
  /* sync 1. */
  char go = 'G';
  // A helper that already died (failed exec) left its record queued; read it.
  ssize_t w;
  do w = send(fd, &go, 1, MSG_NOSIGNAL);
  while (w < 0 && errno == EINTR);
  auto *p = new Pending(env, fd, "wharf:resume", true);
  Napi::Promise promise = p->deferred.Promise();
  if (!StartPoll(p, OnSyncReadable)) {
    close(fd);
    delete p;
  }
  return promise;
}

void OnPidfdReadable(uv_poll_t *h, int status, int) {
  auto *p = static_cast<Pending *>(h->data);
  Napi::HandleScope scope(p->env);
  if (status < 0) return Finish(p, ErrnoError(p->env, -status, "poll pidfd").Value(), true);
  siginfo_t si;
  memset(&si, 0, sizeof si);
  if (waitid(static_cast<idtype_t>(P_PIDFD), static_cast<id_t>(p->fd), &si, WEXITED | WNOHANG) < 0) {
    if (errno == EINTR) return;
    return Finish(p, ErrnoError(p->env, errno, "waitid").Value(), true);
  }
  if (si.si_pid == 0) return;  // not yet
  Napi::Object o = Napi::Object::New(p->env);
  if (si.si_code == CLD_EXITED) o.Set("exitCode", Napi::Number::New(p->env, si.si_status));
  else o.Set("signal", Napi::Number::New(p->env, si.si_status));
  Finish(p, o, false);
}

Napi::Value Wait(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsNumber()) throw Napi::TypeError::New(env, "wait(pidfd)");
  auto *p = new Pending(env, info[0].As<Napi::Number>().Int32Value(), "wharf:wait", false);
  Napi::Promise promise = p->deferred.Promise();
  if (!StartPoll(p, OnPidfdReadable)) delete p;
  return promise;
}

Napi::Value Kill(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsNumber() || !info[1].IsNumber()) throw Napi::TypeError::New(env, "kill(pidfd, signal)");
  int fd = info[0].As<Napi::Number>().Int32Value();
  int sig = info[1].As<Napi::Number>().Int32Value();
  if (syscall(SYS_pidfd_send_signal, fd, sig, nullptr, 0) < 0) throw ErrnoError(env, errno, "pidfd_send_signal");
  return env.Undefined();
}

// posix_spawn on a libuv pool thread: the calling thread waits (CLONE_VFORK) until the
// child has exec'd, which on a loaded machine is a scheduling round or two; the JS thread
// goes on meanwhile.
class SpawnWorker : public Napi::AsyncWorker {
 public:
  SpawnWorker(Napi::Env env, std::string path, std::vector<std::string> args, std::vector<int> fds)
      : Napi::AsyncWorker(env, "wharf:spawnDetached"), deferred_(Napi::Promise::Deferred::New(env)),
        path_(std::move(path)), args_(std::move(args)), fds_(std::move(fds)) {
    // The environment is copied here, on the JS thread: process.env may change it while the
    // pool thread spawns.
    for (char **e = environ; e && *e; e++) env_.emplace_back(*e);
  }
  ~SpawnWorker() override {
    for (int fd : fds_) close(fd);
  }
  Napi::Promise Promise() { return deferred_.Promise(); }

  void Execute() override {
    std::vector<char *> argv;
    for (auto &a : args_) argv.push_back(a.data());
    argv.push_back(nullptr);
    std::vector<char *> envp;
    for (auto &e : env_) envp.push_back(e.data());
    envp.push_back(nullptr);
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    posix_spawn_file_actions_init(&fa);
    posix_spawnattr_init(&attr);
    for (size_t i = 0; i < fds_.size(); i++) posix_spawn_file_actions_adddup2(&fa, fds_[i], static_cast<int>(i));
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &all);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSID);
    int r = posix_spawn(&pid_, path_.c_str(), &fa, &attr, argv.data(), envp.data());
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    if (r != 0) {
      err_ = r;
      what_ = "posix_spawn " + path_;
      return;
    }
    pidfd_ = static_cast<int>(syscall(SYS_pidfd_open, pid_, 0));
    if (pidfd_ < 0) {
      err_ = errno;
      what_ = "pidfd_open";
      waitpid(pid_, nullptr, 0);  // not to leave a zombie: the shim's first process exits at once
      return;
    }
    fcntl(pidfd_, F_SETFD, FD_CLOEXEC);
  }

  void OnOK() override {
    Napi::Env env = Env();
    if (err_ != 0) {
      deferred_.Reject(ErrnoError(env, err_, what_).Value());
      return;
    }
    Napi::Object out = Napi::Object::New(env);
    out.Set("pid", Napi::Number::New(env, pid_));
    out.Set("pidfd", Napi::Number::New(env, pidfd_));
    deferred_.Resolve(out);
  }
  void OnError(const Napi::Error &e) override { deferred_.Reject(e.Value()); }

 private:
  Napi::Promise::Deferred deferred_;
  std::string path_;
  std::vector<std::string> args_;
  std::vector<std::string> env_;
  std::vector<int> fds_;
  pid_t pid_ = -1;
  int pidfd_ = -1;
  int err_ = 0;
  std::string what_;
};

Napi::Value SpawnDetached(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  if (info.Length() < 3 || !info[0].IsString() || !info[1].IsArray() || !info[2].IsArray())
    throw Napi::TypeError::New(env, "spawnDetached(path, argv, fds)");
  std::string path = info[0].As<Napi::String>().Utf8Value();
  Napi::Array argArr = info[1].As<Napi::Array>();
  Napi::Array fdArr = info[2].As<Napi::Array>();
  std::vector<std::string> args;
  for (uint32_t i = 0; i < argArr.Length(); i++) args.push_back(argArr.Get(i).As<Napi::String>().Utf8Value());
  // Each fd is duplicated now, above every target number (so that placing one never
  // overwrites another still to be placed): the caller may close its own copies at once.
  uint32_t n = fdArr.Length();
  std::vector<int> high;
  for (uint32_t i = 0; i < n; i++) {
    int fd = fcntl(fdArr.Get(i).As<Napi::Number>().Int32Value(), F_DUPFD_CLOEXEC, static_cast<int>(n) + kFirstPrivateFd);
    if (fd < 0) {
      int err = errno;
      for (int h : high) close(h);
      throw ErrnoError(env, err, "dup fd " + std::to_string(i));
    }
    high.push_back(fd);
  }
  auto *w = new SpawnWorker(env, std::move(path), std::move(args), std::move(high));
  Napi::Promise p = w->Promise();
  w->Queue();
  return p;
}

/* ---------- filesystem syscalls ---------- */

Napi::Error SyscallError(Napi::Env env, int err, const char *syscall) {
  Napi::Error e = Napi::Error::New(env, strerror(err));
  e.Set("errno", Napi::Number::New(env, err));
  e.Set("syscall", Napi::String::New(env, syscall));
  return e;
}

std::string StringArg(const Napi::CallbackInfo &info, size_t i, const char *what) {
  if (info.Length() <= i || !info[i].IsString()) throw Napi::TypeError::New(info.Env(), std::string(what) + ": string expected");
  return info[i].As<Napi::String>().Utf8Value();
}

std::optional<std::string> OptionalStringArg(const Napi::CallbackInfo &info, size_t i, const char *what) {
  if (info.Length() <= i || info[i].IsNull() || info[i].IsUndefined()) return std::nullopt;
  return StringArg(info, i, what);
}

double NumberArg(const Napi::CallbackInfo &info, size_t i, const char *what) {
  if (info.Length() <= i || !info[i].IsNumber()) throw Napi::TypeError::New(info.Env(), std::string(what) + ": number expected");
  return info[i].As<Napi::Number>().DoubleValue();
}

const char *CStr(const std::optional<std::string> &s) { return s ? s->c_str() : nullptr; }

Napi::Value Mount(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  auto source = OptionalStringArg(info, 0, "mount: source");
  std::string target = StringArg(info, 1, "mount: target");
  auto fstype = OptionalStringArg(info, 2, "mount: fstype");
  unsigned long flags = static_cast<unsigned long>(NumberArg(info, 3, "mount: flags"));
  auto data = OptionalStringArg(info, 4, "mount: data");
  auto cwd = OptionalStringArg(info, 5, "mount: cwd");
  auto doMount = [&]() { return mount(CStr(source), target.c_str(), CStr(fstype), flags, CStr(data)) < 0 ? errno : 0; };
  if (!cwd) {
    if (int err = doMount()) throw SyscallError(env, err, "mount");
    return env.Undefined();
  }
  // chdir() is process-wide and libuv's pool threads resolve relative paths from
  // it: a thread of our own with its own fs context (CLONE_FS) changes directory.
  int err = 0;
  const char *failed = "mount";
  std::thread t([&]() {
    if (unshare(CLONE_FS) < 0) {
      err = errno;
      failed = "unshare";
    } else if (chdir(cwd->c_str()) < 0) {
      err = errno;
      failed = "chdir";
    } else {
      err = doMount();
    }
  });
  t.join();
  if (err) throw SyscallError(env, err, failed);
  return env.Undefined();
}

Napi::Value Umount(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  std::string target = StringArg(info, 0, "umount: target");
  int flags = static_cast<int>(NumberArg(info, 1, "umount: flags"));
  if (umount2(target.c_str(), flags) < 0) throw SyscallError(env, errno, "umount2");
  return env.Undefined();
}

Napi::Value Mknod(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  std::string path = StringArg(info, 0, "mknod: path");
  mode_t mode = static_cast<mode_t>(NumberArg(info, 1, "mknod: mode"));
  unsigned int major = static_cast<unsigned int>(NumberArg(info, 2, "mknod: major"));
  unsigned int minor = static_cast<unsigned int>(NumberArg(info, 3, "mknod: minor"));
  if (mknod(path.c_str(), mode, makedev(major, minor)) < 0) throw SyscallError(env, errno, "mknod");
  return env.Undefined();
}

Napi::Value Lsetxattr(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  std::string path = StringArg(info, 0, "lsetxattr: path");
  std::string name = StringArg(info, 1, "lsetxattr: name");
  if (info.Length() < 3 || !info[2].IsBuffer()) throw Napi::TypeError::New(env, "lsetxattr: value: Buffer expected");
  Napi::Buffer<uint8_t> value = info[2].As<Napi::Buffer<uint8_t>>();
  int flags = static_cast<int>(NumberArg(info, 3, "lsetxattr: flags"));
  if (lsetxattr(path.c_str(), name.c_str(), value.Data(), value.Length(), flags) < 0) throw SyscallError(env, errno, "lsetxattr");
  return env.Undefined();
}

Napi::Value TrimHeap(const Napi::CallbackInfo &info) {
  v8::Isolate::GetCurrent()->LowMemoryNotification();
  malloc_trim(0);
  return info.Env().Undefined();
}

Napi::Value Lgetxattr(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  std::string path = StringArg(info, 0, "lgetxattr: path");
  std::string name = StringArg(info, 1, "lgetxattr: name");
  for (;;) {
    ssize_t size = lgetxattr(path.c_str(), name.c_str(), nullptr, 0);
    if (size < 0) throw SyscallError(env, errno, "lgetxattr");
    std::vector<uint8_t> buf(static_cast<size_t>(size));
    ssize_t got = lgetxattr(path.c_str(), name.c_str(), buf.data(), buf.size());
    if (got < 0 && errno == ERANGE) continue;  // grew between the two calls
    if (got < 0) throw SyscallError(env, errno, "lgetxattr");
    return Napi::Buffer<uint8_t>::Copy(env, buf.data(), static_cast<size_t>(got));
  }
}

// pipe2(O_CLOEXEC): Node has no way to make a plain pipe for a child it did not spawn.
Napi::Value Pipe(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) < 0) throw SyscallError(env, errno, "pipe2");
  Napi::Array out = Napi::Array::New(env, 2);
  out.Set(0u, Napi::Number::New(env, fds[0]));
  out.Set(1u, Napi::Number::New(env, fds[1]));
  return out;
}

// socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC): a connection to a process spawned with one end.
Napi::Value Socketpair(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  int fds[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) < 0) throw SyscallError(env, errno, "socketpair");
  Napi::Array out = Napi::Array::New(env, 2);
  out.Set(0u, Napi::Number::New(env, fds[0]));
  out.Set(1u, Napi::Number::New(env, fds[1]));
  return out;
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("spawn", Napi::Function::New(env, Spawn, "spawn"));
  exports.Set("resume", Napi::Function::New(env, Resume, "resume"));
  exports.Set("wait", Napi::Function::New(env, Wait, "wait"));
  exports.Set("kill", Napi::Function::New(env, Kill, "kill"));
  exports.Set("spawnDetached", Napi::Function::New(env, SpawnDetached, "spawnDetached"));
  Napi::Object flags = Napi::Object::New(env);
  flags.Set("pid", Napi::Number::New(env, CLONE_NEWPID));
  flags.Set("mount", Napi::Number::New(env, CLONE_NEWNS));
  flags.Set("uts", Napi::Number::New(env, CLONE_NEWUTS));
  flags.Set("ipc", Napi::Number::New(env, CLONE_NEWIPC));
  flags.Set("net", Napi::Number::New(env, CLONE_NEWNET));
  flags.Set("cgroup", Napi::Number::New(env, CLONE_NEWCGROUP));
  exports.Set("cloneFlags", flags);

  exports.Set("pipe", Napi::Function::New(env, Pipe, "pipe"));
  exports.Set("socketpair", Napi::Function::New(env, Socketpair, "socketpair"));
  exports.Set("mount", Napi::Function::New(env, Mount, "mount"));
  exports.Set("umount", Napi::Function::New(env, Umount, "umount"));
  exports.Set("mknod", Napi::Function::New(env, Mknod, "mknod"));
  exports.Set("lsetxattr", Napi::Function::New(env, Lsetxattr, "lsetxattr"));
  exports.Set("lgetxattr", Napi::Function::New(env, Lgetxattr, "lgetxattr"));
  exports.Set("trimHeap", Napi::Function::New(env, TrimHeap, "trimHeap"));
  Napi::Object ms = Napi::Object::New(env);
  ms.Set("rdonly", Napi::Number::New(env, MS_RDONLY));
  ms.Set("nosuid", Napi::Number::New(env, MS_NOSUID));
  ms.Set("nodev", Napi::Number::New(env, MS_NODEV));
  ms.Set("noexec", Napi::Number::New(env, MS_NOEXEC));
  ms.Set("noatime", Napi::Number::New(env, MS_NOATIME));
  ms.Set("relatime", Napi::Number::New(env, MS_RELATIME));
  ms.Set("remount", Napi::Number::New(env, MS_REMOUNT));
  ms.Set("bind", Napi::Number::New(env, MS_BIND));
  ms.Set("move", Napi::Number::New(env, MS_MOVE));
  ms.Set("rec", Napi::Number::New(env, MS_REC));
  ms.Set("private", Napi::Number::New(env, MS_PRIVATE));
  ms.Set("slave", Napi::Number::New(env, MS_SLAVE));
  ms.Set("shared", Napi::Number::New(env, MS_SHARED));
  ms.Set("unbindable", Napi::Number::New(env, MS_UNBINDABLE));
  exports.Set("mountFlags", ms);
  Napi::Object mnt = Napi::Object::New(env);
  mnt.Set("force", Napi::Number::New(env, MNT_FORCE));
  mnt.Set("detach", Napi::Number::New(env, MNT_DETACH));
  mnt.Set("expire", Napi::Number::New(env, MNT_EXPIRE));
  mnt.Set("nofollow", Napi::Number::New(env, UMOUNT_NOFOLLOW));
  exports.Set("umountFlags", mnt);
  RegisterDeviceProgram(env, exports);  // devices_bpf.cc
  RegisterNetlink(env, exports);  // netlink.cc
  RegisterCopyRange(env, exports);  // copy_range.cc
  return exports;
}

}  // namespace

NODE_API_MODULE(wharf_native, Init)
