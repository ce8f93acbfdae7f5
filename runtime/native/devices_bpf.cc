// devices_bpf: the cgroup v2 devices controller, which is a BPF program.
//
//   attachDeviceProgram(cgroupDir, insns: Buffer) -> undefined
//       bpf(BPF_PROG_LOAD) of a BPF_PROG_TYPE_CGROUP_DEVICE program (`insns`: struct
//       bpf_insn[], made by runtime/cgroups/device-filter.ts), then
//       bpf(BPF_PROG_ATTACH, BPF_CGROUP_DEVICE, BPF_F_ALLOW_MULTI) to the cgroup
//       directory. The attachment holds the program; both fds are closed. A failure
//       throws an Error with `errno`, `syscall` and, for a refused program, the
//       verifier's log in the message.
#include <napi.h>

#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "devices_bpf.h"

namespace {

Napi::Error BpfError(Napi::Env env, int err, const char *syscall, const std::string &detail) {
  Napi::Error e = Napi::Error::New(env, std::string(strerror(err)) + (detail.empty() ? "" : ": " + detail));
  e.Set("errno", Napi::Number::New(env, err));
  e.Set("syscall", Napi::String::New(env, syscall));
  return e;
}

long Bpf(int cmd, union bpf_attr *attr) { return syscall(SYS_bpf, cmd, attr, sizeof *attr); }

Napi::Value AttachDeviceProgram(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsString() || !info[1].IsBuffer()) {
    throw Napi::TypeError::New(env, "attachDeviceProgram(cgroupDir: string, insns: Buffer)");
  }
  std::string dir = info[0].As<Napi::String>().Utf8Value();
  Napi::Buffer<uint8_t> insns = info[1].As<Napi::Buffer<uint8_t>>();
  if (insns.Length() == 0 || insns.Length() % sizeof(struct bpf_insn) != 0) {
    throw Napi::RangeError::New(env, "insns must hold whole struct bpf_insn records");
  }
  std::vector<char> log(1 << 16);
  static const char license[] = "Apache-2.0";
  union bpf_attr load;
  memset(&load, 0, sizeof load);
  load.prog_type = BPF_PROG_TYPE_CGROUP_DEVICE;
  load.insns = reinterpret_cast<uint64_t>(insns.Data());
  load.insn_cnt = static_cast<uint32_t>(insns.Length() / sizeof(struct bpf_insn));
  load.license = reinterpret_cast<uint64_t>(license);
  load.log_buf = reinterpret_cast<uint64_t>(log.data());
  load.log_size = static_cast<uint32_t>(log.size());
  load.log_level = 1;
  int prog = static_cast<int>(Bpf(BPF_PROG_LOAD, &load));
  if (prog < 0) {
    int err = errno;
    log.back() = 0;
    throw BpfError(env, err, "bpf(BPF_PROG_LOAD)", log.data());
  }
  int cg = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (cg < 0) {
    int err = errno;
    close(prog);
    throw BpfError(env, err, "open", dir);
  }
  union bpf_attr attach;
  memset(&attach, 0, sizeof attach);
  attach.target_fd = static_cast<uint32_t>(cg);
  attach.attach_bpf_fd = static_cast<uint32_t>(prog);
  attach.attach_type = BPF_CGROUP_DEVICE;
  attach.attach_flags = BPF_F_ALLOW_MULTI;
  long r = Bpf(BPF_PROG_ATTACH, &attach);
  int err = errno;
  close(cg);
  close(prog);
  if (r < 0) throw BpfError(env, err, "bpf(BPF_PROG_ATTACH)", dir);
  return env.Undefined();
}

}  // namespace

void RegisterDeviceProgram(Napi::Env env, Napi::Object exports) {
  exports.Set("attachDeviceProgram", Napi::Function::New(env, AttachDeviceProgram, "attachDeviceProgram"));
}
