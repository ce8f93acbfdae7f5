// netlink.cc: the rtnetlink requests of bridge networking (see its header comment).
#pragma once
#include <napi.h>

void RegisterNetlink(Napi::Env env, Napi::Object exports);
