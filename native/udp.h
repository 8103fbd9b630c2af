// A UDP/IPv4 socket read in batches (recvmmsg, UDP_GRO) from the Node event loop and written in
// batches (sendmmsg, UDP_SEGMENT): the ESP-in-UDP "conn" of the data path, one system call per
// batch and, where datagrams to one peer are alike, one trip through the kernel per run of them.
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
  Napi::Value Offload(const Napi::CallbackInfo& info);
  Napi::Value Start(const Napi::CallbackInfo& info);
  Napi::Value SendBatch(const Napi::CallbackInfo& info);
  Napi::Value WaitWritable(const Napi::CallbackInfo& info);
  Napi::Value Refusal(const Napi::CallbackInfo& info);
  Napi::Value SendErrors(const Napi::CallbackInfo& info);
  Napi::Value ErrorReports(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);

  static void OnPoll(uv_poll_t* handle, int status, int events);
  bool EnsurePoll(Napi::Env env);
  void UpdatePoll();
  void OnWritable();
  void DrainErrors();
  void SetUpReceive();
  void ReadBatch();
  void CloseAll();
  size_t BuildMessages(size_t base, size_t from, size_t count, const uint32_t* lens, const uint32_t* addrs, const uint32_t* ports);

  int fd_ = -1;
  uint32_t batch_limit_ = 64;
  bool gro_ = false;  // UDP_GRO on: a datagram read may be several, gso_size apart
  bool gso_ = true;   // UDP_SEGMENT in use until the kernel refuses it once
  uv_poll_t* poll_ = nullptr;
  bool reading_ = false;
  Napi::FunctionReference callback_;
  // Called once when the socket can take datagrams again (waitWritable), then forgotten.
  Napi::FunctionReference writable_;
  // Why the last sendBatch stopped early: EAGAIN (send buffer full) or ENOBUFS (no room further
  // down: the device queue, the neighbour table); 0 when it took every datagram.
  int refusal_ = 0;
  double send_errors_ = 0;     // datagrams the kernel refused for good (unreachable, too big, …)
  double error_reports_ = 0;   // reports read off the error queue (IP_RECVERR: ICMP errors)
  Napi::ObjectReference self_;
  // Receive: the JS-owned slab (one 64 KiB slot per batch slot) and the per-datagram meta
  // (offset, length, address, port), kept alive by references.
  Napi::ObjectReference slabRef_;
  Napi::ObjectReference metaRef_;
  uint8_t* slab_ = nullptr;
  uint32_t* meta_ = nullptr;
  size_t metaCap_ = 0;  // datagrams
  std::vector<struct mmsghdr> rx_msgs_;
  std::vector<struct iovec> rx_iov_;
  std::vector<struct sockaddr_in> rx_addr_;
  std::vector<uint8_t> rx_ctrl_;
  uint32_t rx_dirty_ = 0;  // leading receive entries the last recvmmsg may have written to
  // Send scratch, reused across calls: one message per datagram or per run of alike datagrams.
  std::vector<struct mmsghdr> tx_msgs_;
  std::vector<struct iovec> tx_iov_;
  std::vector<struct sockaddr_in> tx_to_;
  std::vector<uint8_t> tx_ctrl_;
  std::vector<uint32_t> tx_first_;  // first datagram index of each message
  std::vector<uint32_t> tx_count_;  // datagrams in each message
};
