// A UDP/IPv4 socket read in batches (recvmmsg) from the Node event loop and written in batches
// (sendmmsg): the ESP-in-UDP "conn" of the data path, one system call per batch, not per packet.
#pragma once
#include <napi.h>
#include <uv.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <vector>

class UdpSocket : public Napi::ObjectWrap<UdpSocket> {
 public:
  static Napi::Function Define(Napi::Env env);
  explicit UdpSocket(const Napi::CallbackInfo& info);
  ~UdpSocket() override;

 private:
  Napi::Value Fd(const Napi::CallbackInfo& info);
  Napi::Value Port(const Napi::CallbackInfo& info);
  Napi::Value Start(const Napi::CallbackInfo& info);
  Napi::Value SendBatch(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);

  static void OnPoll(uv_poll_t* handle, int status, int events);
  void ReadBatch();
  void CloseAll();

  int fd_ = -1;
  uint32_t batch_limit_ = 64;
  uv_poll_t* poll_ = nullptr;
  Napi::FunctionReference callback_;
  Napi::ObjectReference self_;
  // Receive scratch: one buffer, address and header per batch slot.
  std::vector<uint8_t> rx_;
  std::vector<struct mmsghdr> rx_msgs_;
  std::vector<struct iovec> rx_iov_;
  std::vector<struct sockaddr_in> rx_addr_;
};
