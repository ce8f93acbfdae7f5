// copy_range.cc: copy_file_range(2) between two fds, off the JS thread (see its header comment).
#pragma once
#include <napi.h>

void RegisterCopyRange(Napi::Env env, Napi::Object exports);
