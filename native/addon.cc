// Entry point of the oi_native addon: the TUN device and the batched UDP socket (Linux only).
#include <napi.h>
#include "aead.h"
#ifdef __linux__
#include "offload-api.h"
#include "tun.h"
#include "udp.h"
#endif

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("AesGcm", AesGcm::Define(env));
#ifdef __linux__
  exports.Set("TunDevice", TunDevice::Define(env));
  exports.Set("UdpSocket", UdpSocket::Define(env));
  DefineOffloadApi(env, exports);
#endif
  return exports;
}

NODE_API_MODULE(oi_native, Init)
