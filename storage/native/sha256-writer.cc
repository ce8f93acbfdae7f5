// wharf_sha256: an upload's running SHA-256 and its file writes, on a libuv pool thread.
//
// One class, Sha256Writer (the state of one upload's digest):
//   new Sha256Writer()
//   write(fd: number, position: number, chunks: Buffer[], callback: (err: Error | null) => void): void
//       On a pool thread: hashes `chunks` in order into the state and pwritev(2)s them to
//       `fd` at `position`, in order (short writes and EINTR continued), a few hundred KiB
//       at a time: each group is written while the hash has just brought it into the cache.
//       The caller keeps `fd` open and the chunks unchanged until the callback; the array
//       is held until then. On failure an Error with `code` (the errno name); the state
//       then holds an unknown prefix of the chunks (the caller goes back to a copy).
//   hashFile(fd: number, position: number, callback: (err: Error | null, bytes: number) => void): void
//       On a pool thread: pread(2)s `fd` from `position` to its end into the state (an
//       upload resumed after a restart); the callback gets the bytes hashed.
//   copy(): Sha256Writer    a new object with the same state
//   digest(): string        the hex digest of the bytes so far (the state goes on)
// One job at a time per object: write/hashFile/copy/digest throw while one runs. No
// policy here (batching, sizes, rollback): storage/sha256-writer.ts and fs-upload.ts.
#include <napi.h>
#include <openssl/evp.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>
#include <sys/uio.h>
#include <unistd.h>
#include <vector>

namespace {

// A group is hashed, then written while it is still in the CPU's cache.
constexpr size_t kGroupBytes = 256 << 10;
constexpr size_t kReadBytes = 1 << 20;

Napi::Error ErrnoError(Napi::Env env, const char* what, int err) {
  Napi::Error e = Napi::Error::New(env, std::string(what) + ": " + strerror(err));
  const char* name = strerrorname_np(err);
  e.Set("code", Napi::String::New(env, name ? name : "EIO"));
  e.Set("errno", Napi::Number::New(env, err));
  return e;
}

// pwritev of every byte of iov[0..count) at `position`; 0 or an errno.
int WriteAll(int fd, iovec* iov, int count, off_t position) {
  while (count > 0) {
    ssize_t n = pwritev(fd, iov, std::min(count, IOV_MAX), position);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    if (n == 0) return EIO;
    position += n;
    size_t left = static_cast<size_t>(n);
    while (count > 0 && left >= iov->iov_len) {
      left -= iov->iov_len;
      iov++;
      count--;
    }
    if (count > 0) {
      iov->iov_base = static_cast<char*>(iov->iov_base) + left;
      iov->iov_len -= left;
    }
  }
  return 0;
}

class Sha256Writer : public Napi::ObjectWrap<Sha256Writer> {
 public:
  static Napi::Object Init(Napi::Env env, Napi::Object exports) {
    Napi::Function cls = DefineClass(env, "Sha256Writer",
                                     {InstanceMethod("write", &Sha256Writer::Write), InstanceMethod("hashFile", &Sha256Writer::HashFile),
                                      InstanceMethod("copy", &Sha256Writer::Copy), InstanceMethod("digest", &Sha256Writer::Digest)});
    // Per environment (worker threads load the addon again), freed with it.
    env.SetInstanceData<Napi::FunctionReference>(new Napi::FunctionReference(Napi::Persistent(cls)));
    exports.Set("Sha256Writer", cls);
    return exports;
  }

  explicit Sha256Writer(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Sha256Writer>(info), ctx_(EVP_MD_CTX_new()) {
    if (!ctx_ || EVP_DigestInit_ex(ctx_, EVP_sha256(), nullptr) != 1) throw Napi::Error::New(info.Env(), "SHA-256: init failed");
  }

  ~Sha256Writer() override { EVP_MD_CTX_free(ctx_); }

  EVP_MD_CTX* ctx() { return ctx_; }
  void Done() { busy_ = false; }

 private:
  void CheckIdle(Napi::Env env) {
    if (busy_) throw Napi::Error::New(env, "Sha256Writer: a job is running");
  }

  Napi::Value Write(const Napi::CallbackInfo& info);
  Napi::Value HashFile(const Napi::CallbackInfo& info);

  Napi::Value Copy(const Napi::CallbackInfo& info) {
    CheckIdle(info.Env());
    Napi::Object copy = info.Env().GetInstanceData<Napi::FunctionReference>()->New({});
    if (EVP_MD_CTX_copy_ex(Unwrap(copy)->ctx_, ctx_) != 1) throw Napi::Error::New(info.Env(), "SHA-256: copy failed");
    return copy;
  }

  Napi::Value Digest(const Napi::CallbackInfo& info) {
    CheckIdle(info.Env());
    EVP_MD_CTX* tmp = EVP_MD_CTX_new();
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    bool ok = tmp && EVP_MD_CTX_copy_ex(tmp, ctx_) == 1 && EVP_DigestFinal_ex(tmp, md, &len) == 1;
    EVP_MD_CTX_free(tmp);
    if (!ok) throw Napi::Error::New(info.Env(), "SHA-256: final failed");
    static const char hex[] = "0123456789abcdef";
    std::string out(len * 2, '0');
    for (unsigned int i = 0; i < len; i++) {
      out[2 * i] = hex[md[i] >> 4];
      out[2 * i + 1] = hex[md[i] & 15];
    }
    return Napi::String::New(info.Env(), out);
  }

  EVP_MD_CTX* ctx_;
  bool busy_ = false;
  friend class Job;
};

// Holds the writer object (and the chunks) until the callback ran.
class Job : public Napi::AsyncWorker {
 public:
  // Marks the writer busy until the callback (only once the job is fully built).
  void Start() {
    writer_->busy_ = true;
    Queue();
  }

 protected:
  Job(Napi::Function cb, Napi::Object self, Sha256Writer* writer) : Napi::AsyncWorker(cb), writer_(writer) {
    self_ = Napi::Persistent(self);
  }

  // The writer is free again, then the callback gets the outcome.
  void Report(Napi::Value ok) {
    writer_->Done();
    Napi::Env env = Env();
    if (hash_failed_) {
      Callback().Call({Napi::Error::New(env, "SHA-256: update failed").Value()});
    } else if (errno_ != 0) {
      Callback().Call({ErrnoError(env, what_, errno_).Value()});
    } else {
      Callback().Call({env.Null(), ok});
    }
  }

  const char* what_ = "";
  Sha256Writer* writer_;
  Napi::ObjectReference self_;
  int errno_ = 0;
  bool hash_failed_ = false;
};

class WriteWorker : public Job {
 public:
  WriteWorker(Napi::Function cb, Napi::Object self, Sha256Writer* writer, int fd, int64_t position, Napi::Array chunks)
      : Job(cb, self, writer), fd_(fd), position_(position) {
    what_ = "pwritev";
    chunks_ = Napi::Persistent(chunks.As<Napi::Object>());
    uint32_t n = chunks.Length();
    iov_.reserve(n);
    for (uint32_t i = 0; i < n; i++) {
      Napi::Value v = chunks.Get(i);
      if (!v.IsBuffer()) throw Napi::TypeError::New(Env(), "write: chunks must be Buffers");
      Napi::Buffer<char> b = v.As<Napi::Buffer<char>>();
      if (b.Length() > 0) iov_.push_back({b.Data(), b.Length()});
    }
  }

  void Execute() override {
    EVP_MD_CTX* ctx = writer_->ctx();
    size_t i = 0;
    off_t position = static_cast<off_t>(position_);
    while (i < iov_.size()) {
      size_t first = i, bytes = 0;
      while (i < iov_.size() && (i == first || bytes + iov_[i].iov_len <= kGroupBytes)) {
        if (EVP_DigestUpdate(ctx, iov_[i].iov_base, iov_[i].iov_len) != 1) {
          hash_failed_ = true;
          return;
        }
        bytes += iov_[i].iov_len;
        i++;
      }
      int err = WriteAll(fd_, &iov_[first], static_cast<int>(i - first), position);
      if (err != 0) {
        errno_ = err;
        return;
      }
      position += static_cast<off_t>(bytes);
    }
  }

  void OnOK() override { Report(Env().Undefined()); }

 private:
  int fd_;
  int64_t position_;
  Napi::ObjectReference chunks_;
  std::vector<iovec> iov_;
};

class HashFileWorker : public Job {
 public:
  HashFileWorker(Napi::Function cb, Napi::Object self, Sha256Writer* writer, int fd, int64_t position)
      : Job(cb, self, writer), fd_(fd), position_(position) {
    what_ = "pread";
  }

  void Execute() override {
    std::vector<char> buf(kReadBytes);
    off_t position = static_cast<off_t>(position_);
    for (;;) {
      ssize_t n = pread(fd_, buf.data(), buf.size(), position);
      if (n < 0) {
        if (errno == EINTR) continue;
        errno_ = errno;
        return;
      }
      if (n == 0) return;
      if (EVP_DigestUpdate(writer_->ctx(), buf.data(), static_cast<size_t>(n)) != 1) {
        hash_failed_ = true;
        return;
      }
      position += n;
      bytes_ += n;
    }
  }

  void OnOK() override { Report(Napi::Number::New(Env(), static_cast<double>(bytes_))); }

 private:
  int fd_;
  int64_t position_;
  int64_t bytes_ = 0;
};

int64_t Offset(const Napi::Value& v, const char* what) {
  if (!v.IsNumber()) throw Napi::TypeError::New(v.Env(), std::string(what) + " must be a number");
  int64_t n = v.As<Napi::Number>().Int64Value();
  if (n < 0) throw Napi::RangeError::New(v.Env(), std::string(what) + " must not be negative");
  return n;
}

Napi::Value Sha256Writer::Write(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CheckIdle(env);
  if (info.Length() < 4 || !info[2].IsArray() || !info[3].IsFunction()) throw Napi::TypeError::New(env, "write(fd, position, chunks, callback)");
  int fd = static_cast<int>(Offset(info[0], "fd"));
  int64_t position = Offset(info[1], "position");
  auto* w = new WriteWorker(info[3].As<Napi::Function>(), info.This().As<Napi::Object>(), this, fd, position, info[2].As<Napi::Array>());
  w->Start();
  return env.Undefined();
}

Napi::Value Sha256Writer::HashFile(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CheckIdle(env);
  if (info.Length() < 3 || !info[2].IsFunction()) throw Napi::TypeError::New(env, "hashFile(fd, position, callback)");
  int fd = static_cast<int>(Offset(info[0], "fd"));
  int64_t position = Offset(info[1], "position");
  auto* w = new HashFileWorker(info[2].As<Napi::Function>(), info.This().As<Napi::Object>(), this, fd, position);
  w->Start();
  return env.Undefined();
}

Napi::Object InitAll(Napi::Env env, Napi::Object exports) { return Sha256Writer::Init(env, exports); }

}  // namespace

NODE_API_MODULE(wharf_sha256, InitAll)
