// devices_bpf.cc: the cgroup v2 device program (see its header comment).
#pragma once
#include <napi.h>

void RegisterDeviceProgram(Napi::Env env, Napi::Object exports);
