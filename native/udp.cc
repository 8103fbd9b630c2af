// UDP socket with batched reads (recvmmsg, driven by uv_poll) and batched writes (sendmmsg).
#include "udp.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include <string>

namespace {

constexpr size_t kMaxDatagram = 65535;
constexpr uint32_t kMaxBatch = 1024;

void ThrowErrno(Napi::Env env, const std::string& what, int err) {
  Napi::Error e = Napi::Error::New(env, what + ": " + strerror(err));
  e.Set("errno", Napi::Number::New(env, err));
  e.Set("syscall", Napi::String::New(env, what));
  e.ThrowAsJavaScriptException();
}

}  // namespace

Napi::Function UdpSocket::Define(Napi::Env env) {
  return DefineClass(env, "UdpSocket",
                     {
                         InstanceAccessor<&UdpSocket::Fd>("fd"),
                         InstanceAccessor<&UdpSocket::Port>("port"),
                         InstanceMethod<&UdpSocket::Start>("start"),
                         InstanceMethod<&UdpSocket::SendBatch>("sendBatch"),
                         InstanceMethod<&UdpSocket::Close>("close"),
                     });
}

// new UdpSocket(address: string, port: number, batchLimit?: number, bufferBytes?: number)
UdpSocket::UdpSocket(const Napi::CallbackInfo& info) : Napi::ObjectWrap<UdpSocket>(info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsString() || !info[1].IsNumber()) {
    Napi::TypeError::New(env, "UdpSocket(address: string, port: number, batchLimit?: number, bufferBytes?: number)")
        .ThrowAsJavaScriptException();
    return;
  }
  std::string addr = info[0].As<Napi::String>().Utf8Value();
  uint32_t port = info[1].As<Napi::Number>().Uint32Value();
  if (info.Length() >= 3 && info[2].IsNumber()) {
    uint32_t b = info[2].As<Napi::Number>().Uint32Value();
    if (b < 1 || b > kMaxBatch) {
      Napi::RangeError::New(env, "batchLimit must be 1..1024").ThrowAsJavaScriptException();
      return;
    }
    batch_limit_ = b;
  }
  int bufBytes = info.Length() >= 4 && info[3].IsNumber() ? info[3].As<Napi::Number>().Int32Value() : 0;
  struct sockaddr_in sa;
  memset(&sa, 0, sizeof sa);
  sa.sin_family = AF_INET;
  sa.sin_port = htons(static_cast<uint16_t>(port));
  if (port > 65535 || inet_pton(AF_INET, addr.c_str(), &sa.sin_addr) != 1) {
    Napi::RangeError::New(env, "bad IPv4 address or port: " + addr).ThrowAsJavaScriptException();
    return;
  }
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    ThrowErrno(env, "socket", errno);
    return;
  }
  if (bufBytes > 0) {
    // Best effort: the kernel caps these at net.core.[rw]mem_max.
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &bufBytes, sizeof bufBytes);
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &bufBytes, sizeof bufBytes);
  }
  if (bind(fd, reinterpret_cast<struct sockaddr*>(&sa), sizeof sa) < 0) {
    int err = errno;
    close(fd);
    ThrowErrno(env, "bind " + addr + ":" + std::to_string(port), err);
    return;
  }
  fd_ = fd;
  rx_.resize(static_cast<size_t>(batch_limit_) * kMaxDatagram);
  rx_msgs_.resize(batch_limit_);
  rx_iov_.resize(batch_limit_);
  rx_addr_.resize(batch_limit_);
}

UdpSocket::~UdpSocket() { CloseAll(); }

Napi::Value UdpSocket::Fd(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), fd_); }

// The bound port (the kernel's choice when 0 was asked for).
Napi::Value UdpSocket::Port(const Napi::CallbackInfo& info) {
  struct sockaddr_in sa;
  socklen_t len = sizeof sa;
  if (fd_ < 0 || getsockname(fd_, reinterpret_cast<struct sockaddr*>(&sa), &len) < 0) return Napi::Number::New(info.Env(), 0);
  return Napi::Number::New(info.Env(), ntohs(sa.sin_port));
}

// start(cb: (datagrams: Buffer[], addrs: number[], ports: number[]) => void)
Napi::Value UdpSocket::Start(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (fd_ < 0) {
    Napi::Error::New(env, "socket is closed").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  if (info.Length() < 1 || !info[0].IsFunction()) {
    Napi::TypeError::New(env, "start(callback)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  callback_ = Napi::Persistent(info[0].As<Napi::Function>());
  if (poll_ == nullptr) {
    poll_ = new uv_poll_t;
    uv_loop_t* loop = nullptr;
    napi_get_uv_event_loop(env, &loop);
    int rc = uv_poll_init(loop, poll_, fd_);
    if (rc != 0) {
      delete poll_;
      poll_ = nullptr;
      Napi::Error::New(env, std::string("uv_poll_init: ") + uv_strerror(rc)).ThrowAsJavaScriptException();
      return env.Undefined();
    }
    poll_->data = this;
  }
  uv_poll_start(poll_, UV_READABLE, &UdpSocket::OnPoll);
  if (self_.IsEmpty()) self_ = Napi::Persistent(Value());
  return env.Undefined();
}

void UdpSocket::OnPoll(uv_poll_t* handle, int status, int events) {
  auto* self = static_cast<UdpSocket*>(handle->data);
  if (self == nullptr || status < 0 || !(events & UV_READABLE)) return;
  self->ReadBatch();
}

void UdpSocket::ReadBatch() {
  if (fd_ < 0) return;
  for (uint32_t i = 0; i < batch_limit_; i++) {
    rx_iov_[i].iov_base = rx_.data() + static_cast<size_t>(i) * kMaxDatagram;
    rx_iov_[i].iov_len = kMaxDatagram;
    memset(&rx_msgs_[i], 0, sizeof rx_msgs_[i]);
    rx_msgs_[i].msg_hdr.msg_iov = &rx_iov_[i];
    rx_msgs_[i].msg_hdr.msg_iovlen = 1;
    rx_msgs_[i].msg_hdr.msg_name = &rx_addr_[i];
    rx_msgs_[i].msg_hdr.msg_namelen = sizeof rx_addr_[i];
  }
  int n;
  do {
    n = recvmmsg(fd_, rx_msgs_.data(), batch_limit_, MSG_DONTWAIT, nullptr);
  } while (n < 0 && errno == EINTR);
  if (n <= 0) return;  // EAGAIN, or a per-packet error (ICMP) reported on the socket: nothing to hand over
  Napi::Env env = Env();
  Napi::HandleScope scope(env);
  Napi::Array bufs = Napi::Array::New(env, n);
  Napi::Array addrs = Napi::Array::New(env, n);
  Napi::Array ports = Napi::Array::New(env, n);
  for (int i = 0; i < n; i++) {
    bufs.Set(i, Napi::Buffer<uint8_t>::Copy(env, static_cast<uint8_t*>(rx_iov_[i].iov_base), rx_msgs_[i].msg_len));
    addrs.Set(i, Napi::Number::New(env, ntohl(rx_addr_[i].sin_addr.s_addr)));
    ports.Set(i, Napi::Number::New(env, ntohs(rx_addr_[i].sin_port)));
  }
  if (!callback_.IsEmpty()) callback_.MakeCallback(Value(), {bufs, addrs, ports});
}

// sendBatch(bufs: Uint8Array[], lengths: number[], addrs: number[], ports: number[]): number sent.
// Datagrams the kernel will not take now (socket buffer full) are dropped, like a full NIC queue.
Napi::Value UdpSocket::SendBatch(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (fd_ < 0) {
    Napi::Error::New(env, "socket is closed").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  if (info.Length() < 4 || !info[0].IsArray() || !info[1].IsArray() || !info[2].IsArray() || !info[3].IsArray()) {
    Napi::TypeError::New(env, "sendBatch(bufs, lengths, addrs, ports)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Napi::Array bufs = info[0].As<Napi::Array>();
  Napi::Array lens = info[1].As<Napi::Array>();
  Napi::Array addrs = info[2].As<Napi::Array>();
  Napi::Array ports = info[3].As<Napi::Array>();
  uint32_t count = bufs.Length();
  std::vector<struct mmsghdr> msgs(count);
  std::vector<struct iovec> iov(count);
  std::vector<struct sockaddr_in> to(count);
  uint32_t m = 0;
  for (uint32_t i = 0; i < count; i++) {
    Napi::Value b = bufs.Get(i);
    if (!b.IsTypedArray()) continue;
    Napi::Uint8Array a = b.As<Napi::Uint8Array>();
    uint32_t len = lens.Get(i).As<Napi::Number>().Uint32Value();
    if (len > a.ByteLength()) len = static_cast<uint32_t>(a.ByteLength());
    iov[m].iov_base = a.Data();
    iov[m].iov_len = len;
    memset(&to[m], 0, sizeof to[m]);
    to[m].sin_family = AF_INET;
    to[m].sin_addr.s_addr = htonl(addrs.Get(i).As<Napi::Number>().Uint32Value());
    to[m].sin_port = htons(static_cast<uint16_t>(ports.Get(i).As<Napi::Number>().Uint32Value()));
    memset(&msgs[m], 0, sizeof msgs[m]);
    msgs[m].msg_hdr.msg_iov = &iov[m];
    msgs[m].msg_hdr.msg_iovlen = 1;
    msgs[m].msg_hdr.msg_name = &to[m];
    msgs[m].msg_hdr.msg_namelen = sizeof to[m];
    m++;
  }
  uint32_t sent = 0;
  while (sent < m) {
    int r = sendmmsg(fd_, msgs.data() + sent, m - sent, MSG_DONTWAIT);
    if (r < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == ENOBUFS) break;
      sent++;  // this datagram failed (e.g. unreachable): skip it, keep the rest
      continue;
    }
    sent += static_cast<uint32_t>(r);
  }
  return Napi::Number::New(env, sent);
}

Napi::Value UdpSocket::Close(const Napi::CallbackInfo& info) {
  CloseAll();
  return info.Env().Undefined();
}

void UdpSocket::CloseAll() {
  if (poll_ != nullptr) {
    uv_poll_stop(poll_);
    poll_->data = nullptr;
    uv_close(reinterpret_cast<uv_handle_t*>(poll_), [](uv_handle_t* h) { delete reinterpret_cast<uv_poll_t*>(h); });
    poll_ = nullptr;
  }
  if (!self_.IsEmpty()) self_.Reset();
  if (fd_ >= 0) {
    close(fd_);
    fd_ = -1;
  }
  if (!callback_.IsEmpty()) callback_.Reset();
}
