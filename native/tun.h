// A TUN device (IFF_TUN | IFF_NO_PI) whose packets are read in batches from the Node event loop.
#pragma once
#include <napi.h>
#include <uv.h>
#include <string>

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
  void StopPoll();
  void CloseAll();

  int fd_ = -1;
  std::string name_;
  uint32_t batch_limit_ = 64;
  uv_poll_t* poll_ = nullptr;  // owned; freed in the uv_close callback
  Napi::FunctionReference callback_;
  Napi::ObjectReference self_;  // keeps the JS object alive while reading
  uint8_t* scratch_ = nullptr;  // one maximum-size packet
};
