// wharf_accept: take every connection waiting in a listening socket's accept queue at once.
//
// One function:
//   acceptPending(listenFd: number, max: number): number[]
// accept4(2)s on the listening socket `listenFd` (non-blocking, owned by libuv) until the
// queue is empty (EAGAIN) or `max` connections were taken, and returns their fds, each
// SOCK_NONBLOCK | SOCK_CLOEXEC. The caller owns them (server/http/accept-pending.ts wraps
// each in a net.Socket). Errors other than EINTR end the loop quietly: libuv's own accept
// on its next turn meets them again and reports them as it always does.
//
// Why: libuv (>= 1.45, libuv/libuv#3696) accepts one connection per event-loop turn, and
// a turn of a busy server serves every connection it already has; 64 clients connecting
// at once waited up to 64 turns (over a second under load) for their first answer.
#include <napi.h>

#include <cerrno>
#include <sys/socket.h>

namespace {

Napi::Value AcceptPending(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() != 2 || !info[0].IsNumber() || !info[1].IsNumber()) {
    throw Napi::TypeError::New(env, "acceptPending(listenFd, max)");
  }
  int listen_fd = info[0].As<Napi::Number>().Int32Value();
  uint32_t max = info[1].As<Napi::Number>().Uint32Value();
  Napi::Array fds = Napi::Array::New(env);
  uint32_t n = 0;
  while (n < max) {
    int fd = accept4(listen_fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR) continue;
      break;
    }
    fds.Set(n++, Napi::Number::New(env, fd));
  }
  return fds;
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("acceptPending", Napi::Function::New(env, AcceptPending));
  return exports;
}

}  // namespace

NODE_API_MODULE(wharf_accept, Init)
