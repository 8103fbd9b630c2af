// Entry point of the oi_native addon: exports the TUN device class (Linux only).
#include <napi.h>
#ifdef __linux__
#include "tun.h"
#endif

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
#ifdef __linux__
  exports.Set("TunDevice", TunDevice::Define(env));
#endif
  return exports;
}

NODE_API_MODULE(oi_native, Init)
