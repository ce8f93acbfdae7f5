// wharf_sendfile: sendfile(2) from a blob file to a plain-HTTP socket, for blob GETs.
//
// One function:
//   sendFile(socketFd: number, fileFd: number, offset: number, length: number,
//            callback: (err: Error | null, sent: number) => void): void
// On a libuv thread-pool thread it sendfile(2)s `length` bytes of the open file `fileFd`
// from `offset` to `socketFd` (the caller keeps the file open until the callback). The socket fd is dup'ed before the call returns, so
// libuv closing its own fd meanwhile (a client gone) can never let the bytes reach
// another file that reused the number. The socket stays non-blocking (libuv owns it): on
// EAGAIN the thread waits in poll(2) for POLLOUT, at most 60 s per wait. The callback
// gets the bytes sent; on failure an Error with `code` (the errno name, e.g. EPIPE) and
// the bytes sent before it. The caller guarantees nothing else writes to the socket
// until the callback ran (server/http/send-file.ts). Policy lives in TypeScript.
#include <napi.h>

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <poll.h>
#include <string>
#include <sys/sendfile.h>
#include <unistd.h>

namespace {

class SendFileWorker : public Napi::AsyncWorker {
 public:
  SendFileWorker(Napi::Function cb, int socket_fd, int file_fd, int64_t offset, int64_t length)
      : Napi::AsyncWorker(cb), socket_fd_(socket_fd), file_fd_(file_fd), offset_(offset), length_(length) {}

  void Execute() override {
    int fd = file_fd_;
    off_t off = static_cast<off_t>(offset_);
    int64_t left = length_;
    while (left > 0) {
      size_t chunk = left > (1 << 30) ? (1 << 30) : static_cast<size_t>(left);
      ssize_t n = sendfile(socket_fd_, fd, &off, chunk);
      if (n > 0) {
        left -= n;
        sent_ += n;
        continue;
      }
      if (n == 0) {  // the file is shorter than it was said to be
        errno_ = EIO;
        break;
      }
      if (errno == EINTR) continue;
      if (errno == EAGAIN) {
        struct pollfd p = {socket_fd_, POLLOUT, 0};
        int r = poll(&p, 1, 60000);
        if (r == 0) {
          errno_ = ETIMEDOUT;
          break;
        }
        if (r < 0 && errno != EINTR) {
          errno_ = errno;
          break;
        }
        if (r > 0 && (p.revents & (POLLERR | POLLHUP | POLLNVAL)) && !(p.revents & POLLOUT)) {
          errno_ = EPIPE;
          break;
        }
        continue;
      }
      errno_ = errno;
      break;
    }
  }

  ~SendFileWorker() override { close(socket_fd_); }

  void OnOK() override {
    Napi::Env env = Env();
    Napi::Value err = env.Null();
    if (errno_ != 0) {
      Napi::Error e = Napi::Error::New(env, std::string("sendfile: ") + strerror(errno_));
      const char* name = strerrorname_np(errno_);
      e.Set("code", Napi::String::New(env, name ? name : "EIO"));
      e.Set("errno", Napi::Number::New(env, errno_));
      err = e.Value();
    }
    Callback().Call({err, Napi::Number::New(env, static_cast<double>(sent_))});
  }

 private:
  int socket_fd_;
  int file_fd_;
  int64_t offset_;
  int64_t length_;
  int64_t sent_ = 0;
  int errno_ = 0;
};

Napi::Value SendFile(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() != 5 || !info[0].IsNumber() || !info[1].IsNumber() || !info[2].IsNumber() || !info[3].IsNumber() ||
      !info[4].IsFunction()) {
    throw Napi::TypeError::New(env, "sendFile(socketFd, fileFd, offset, length, callback)");
  }
  int socket_fd = fcntl(info[0].As<Napi::Number>().Int32Value(), F_DUPFD_CLOEXEC, 0);
  if (socket_fd < 0) throw Napi::Error::New(env, std::string("sendfile: dup: ") + strerror(errno));
  auto* worker = new SendFileWorker(info[4].As<Napi::Function>(), socket_fd,
                                    info[1].As<Napi::Number>().Int32Value(), info[2].As<Napi::Number>().Int64Value(),
                                    info[3].As<Napi::Number>().Int64Value());
  worker->Queue();
  return env.Undefined();
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("sendFile", Napi::Function::New(env, SendFile));
  return exports;
}

}  // namespace

NODE_API_MODULE(wharf_sendfile, Init)
