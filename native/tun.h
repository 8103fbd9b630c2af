// A TUN device (IFF_TUN | IFF_NO_PI, and IFF_VNET_HDR with TCP offloads unless asked not to)
// whose packets are read in batches from the Node event loop into a slab the JS side owns.
#pragma once
#include <napi.h>
#include <uv.h>
#include <string>
#include <vector>

#include "offload.h"

class TunDevice : public Napi::ObjectWrap<TunDevice> {
 public:
  static Napi::Function Define(Napi::Env env);
  explicit TunDevice(const Napi::CallbackInfo& info);
  ~TunDevice() override;

 private:
  Napi::Value Name(const Napi::CallbackInfo& info);
  Napi::Value Fd(const Napi::CallbackInfo& info);
  Napi::Value Start(const Napi::CallbackInfo& info);
  Napi::Value Stop(const Napi::CallbackInfo& info);
  Napi::Value Write(const Napi::CallbackInfo& info);
  Napi::Value WriteBatch(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);

  static void OnPoll(uv_poll_t* handle, int status, int events);
  void ReadBatch();
  bool ReadRound();
  bool WritePacket(const uint8_t* p, size_t len);
  bool WriteFrame(const struct iovec* iov, int count);
  void StopPoll();
  void CloseAll();

  int fd_ = -1;
  std::string name_;
  uint32_t batch_limit_ = 64;
  uv_poll_t* poll_ = nullptr;  // owned; freed in the uv_close callback
  Napi::FunctionReference callback_;
  Napi::ObjectReference self_;  // keeps the JS object alive while reading
  uint8_t* scratch_ = nullptr;  // one maximum-size frame as read
  size_t pending_ = 0;          // bytes of a frame in scratch_ that did not fit the last batch
  bool vnet_ = false;           // frames carry a virtio_net_hdr
  bool tso_ = false;            // the kernel may hand us TCP super-packets
  // The JS-owned slab packets are split into, and (offset, length) pairs; kept alive by refs.
  Napi::ObjectReference slabRef_;
  Napi::ObjectReference metaRef_;
  uint8_t* slab_ = nullptr;
  size_t slabCap_ = 0;
  uint32_t* meta_ = nullptr;
  size_t metaCap_ = 0;  // pairs
  double dropped_ = 0;  // frames refused (malformed, unsupported GSO, larger than the slab)
  Napi::Value Offload(const Napi::CallbackInfo& info);
  Napi::Value Dropped(const Napi::CallbackInfo& info);
};
