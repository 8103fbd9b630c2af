// JS bindings of native/offload (for tests).
#pragma once
#include <napi.h>

void DefineOffloadApi(Napi::Env env, Napi::Object exports);
