// wharf_execve: replace this process's image, keeping its pid (Node 20 has no process.execve).
//
// One function:
//   execve(file: string, argv: string[], env: string[]): never
// execve(2)s `file` with `argv` and `env` ("KEY=value" strings). It returns only by
// throwing an Error with `code` (the errno name) when execve fails. Used by bin/wharf.ts
// to start `wharf serve` again under the V8 flags it needs, at the very start, before
// any server, thread-pool work or file is open; libuv's own fds are O_CLOEXEC. Node marks
// stdin, stdout and stderr O_CLOEXEC too: they are cleared first, or the new image would
// start with fds 0-2 closed (Node then opens /dev/null on them, and every log is lost).
#include <napi.h>

#include <cerrno>
#include <fcntl.h>
#include <cstring>
#include <string>
#include <unistd.h>
#include <vector>

namespace {

std::vector<std::string> Strings(Napi::Env env, Napi::Value v, const char* what) {
  if (!v.IsArray()) throw Napi::TypeError::New(env, std::string(what) + " must be an array of strings");
  Napi::Array a = v.As<Napi::Array>();
  std::vector<std::string> out;
  for (uint32_t i = 0; i < a.Length(); i++) {
    Napi::Value e = a.Get(i);
    if (!e.IsString()) throw Napi::TypeError::New(env, std::string(what) + " must be an array of strings");
    out.push_back(e.As<Napi::String>().Utf8Value());
  }
  return out;
}

std::vector<char*> Pointers(std::vector<std::string>& strings) {
  std::vector<char*> p;
  for (auto& s : strings) p.push_back(s.data());
  p.push_back(nullptr);
  return p;
}

Napi::Value Execve(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() != 3 || !info[0].IsString()) throw Napi::TypeError::New(env, "execve(file, argv, env)");
  std::string file = info[0].As<Napi::String>().Utf8Value();
  std::vector<std::string> args = Strings(env, info[1], "argv");
  std::vector<std::string> vars = Strings(env, info[2], "env");
  std::vector<char*> argv = Pointers(args);
  std::vector<char*> envp = Pointers(vars);
  for (int fd = 0; fd <= 2; fd++) {
    int flags = fcntl(fd, F_GETFD);
    if (flags >= 0) fcntl(fd, F_SETFD, flags & ~FD_CLOEXEC);
  }
  execve(file.c_str(), argv.data(), envp.data());
  int err = errno;
  Napi::Error e = Napi::Error::New(env, std::string("execve ") + file + ": " + strerror(err));
  const char* name = strerrorname_np(err);
  e.Set("code", Napi::String::New(env, name ? name : "EIO"));
  throw e;
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("execve", Napi::Function::New(env, Execve));
  return exports;
}

}  // namespace

NODE_API_MODULE(wharf_execve, Init)
