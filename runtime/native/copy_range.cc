// copy_range.cc: copyFileRange(inFd, inOffset, outFd, outOffset, length) -> Promise<number>
//
// The layer unpack's large regular files (runtime/layers/unpack.ts): the bytes of a tar
// entry in a layer blob of the content store go into the new file in the kernel, by
// copy_file_range(2) in chunks of up to 1 GiB, on a libuv pool thread (Napi::AsyncWorker),
// never through the JS heap. Where the kernel refuses the call for these two files (EXDEV
// before 5.3, EINVAL/EOPNOTSUPP/ENOSYS on some filesystems) the rest is copied by
// pread/pwrite in 1 MiB steps on the same thread. Neither fd's file offset moves (explicit
// offsets only). Resolves with the bytes copied (always `length`); rejects with an Error
// carrying `errno` (positive) and `syscall`, as the addon's other calls throw; a source
// shorter than `length` is EIO ("copy_file_range: source ended early").
#include "copy_range.h"

#include <errno.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#include <cstdint>
#include <string>
#include <vector>

namespace {

class CopyRangeWorker : public Napi::AsyncWorker {
 public:
  CopyRangeWorker(Napi::Env env, int in, int64_t inOff, int out, int64_t outOff, int64_t len)
      : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)), in_(in), out_(out), inOff_(inOff), outOff_(outOff), left_(len) {}

  Napi::Promise Promise() { return deferred_.Promise(); }

  void Execute() override {
    loff_t io = inOff_, oo = outOff_;
    while (left_ > 0) {
      size_t chunk = left_ > (int64_t(1) << 30) ? size_t(1) << 30 : size_t(left_);
      ssize_t n = copy_file_range(in_, &io, out_, &oo, chunk, 0);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EXDEV || errno == EINVAL || errno == EOPNOTSUPP || errno == ENOSYS)) {
        Fallback(io, oo);
        return;
      }
      if (n < 0) return Fail(errno, "copy_file_range");
      if (n == 0) return Fail(EIO, "copy_file_range", "source ended early");
      left_ -= n;
      done_ += n;
    }
  }

  void OnOK() override {
    Napi::Env env = Env();
    if (err_ != 0) {
      std::string msg = std::string(syscall_) + ": " + (detail_.empty() ? strerror(err_) : detail_);
      Napi::Error e = Napi::Error::New(env, msg);
      e.Set("errno", Napi::Number::New(env, err_));
      e.Set("syscall", Napi::String::New(env, syscall_));
      deferred_.Reject(e.Value());
      return;
    }
    deferred_.Resolve(Napi::Number::New(env, double(done_)));
  }

  void OnError(const Napi::Error &e) override { deferred_.Reject(e.Value()); }

 private:
  void Fail(int err, const char *syscall, const char *detail = nullptr) {
    err_ = err;
    syscall_ = syscall;
    if (detail) detail_ = detail;
  }

  void Fallback(loff_t io, loff_t oo) {
    std::vector<char> buf(1 << 20);
    while (left_ > 0) {
      size_t want = left_ > int64_t(buf.size()) ? buf.size() : size_t(left_);
      ssize_t r = pread(in_, buf.data(), want, io);
      if (r < 0 && errno == EINTR) continue;
      if (r < 0) return Fail(errno, "pread");
      if (r == 0) return Fail(EIO, "pread", "source ended early");
      ssize_t off = 0;
      while (off < r) {
        ssize_t w = pwrite(out_, buf.data() + off, size_t(r - off), oo + off);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0) return Fail(errno, "pwrite");
        off += w;
      }
      io += r;
      oo += r;
      left_ -= r;
      done_ += r;
    }
  }

  Napi::Promise::Deferred deferred_;
  int in_, out_;
  int64_t inOff_, outOff_, left_;
  int64_t done_ = 0;
  int err_ = 0;
  const char *syscall_ = "";
  std::string detail_;
};

int64_t Int(const Napi::CallbackInfo &info, size_t i, const char *what) {
  if (!info[i].IsNumber()) throw Napi::TypeError::New(info.Env(), std::string(what) + " must be a number");
  double d = info[i].As<Napi::Number>().DoubleValue();
  if (d < 0 || d > 9007199254740991.0 || d != double(int64_t(d))) throw Napi::RangeError::New(info.Env(), std::string(what) + " must be a non-negative integer");
  return int64_t(d);
}

Napi::Value CopyFileRange(const Napi::CallbackInfo &info) {
  int64_t in = Int(info, 0, "inFd"), inOff = Int(info, 1, "inOffset"), out = Int(info, 2, "outFd"), outOff = Int(info, 3, "outOffset"), len = Int(info, 4, "length");
  if (in > 0x7fffffff || out > 0x7fffffff) throw Napi::RangeError::New(info.Env(), "fd out of range");
  auto *w = new CopyRangeWorker(info.Env(), int(in), inOff, int(out), outOff, len);
  Napi::Promise p = w->Promise();
  w->Queue();
  return p;
}

}  // namespace

void RegisterCopyRange(Napi::Env env, Napi::Object exports) {
  exports.Set("copyFileRange", Napi::Function::New(env, CopyFileRange, "copyFileRange"));
}
