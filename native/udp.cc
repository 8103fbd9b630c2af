// UDP socket with batched reads (recvmmsg, driven by uv_poll) and batched writes (sendmmsg), with
// the kernel's UDP segmentation offloads: consecutive datagrams of one length to one peer leave
// as one UDP_SEGMENT send (the last may be shorter), and UDP_GRO lets the kernel hand us such a
// run as one read, split here back into the datagrams.
#include "udp.h"
#include "napi-args.h"

#include <arpa/inet.h>
#include <netinet/udp.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include <string>

namespace {

constexpr size_t kSlot = 65536;  // receive slot per batch entry: a whole GRO run fits
constexpr uint32_t kMaxBatch = 1024;
constexpr uint32_t kMaxGsoSegments = 64;  // the kernel's UDP_MAX_SEGMENTS (older kernels)
constexpr size_t kMaxGsoBytes = 65000;    // one UDP datagram over IPv4 carries at most 65507
#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif
#ifndef UDP_GRO
#define UDP_GRO 104
#endif

}  // namespace

Napi::Function UdpSocket::Define(Napi::Env env) {
  return DefineClass(env, "UdpSocket",
                     {
                         InstanceAccessor<&UdpSocket::Fd>("fd"),
                         InstanceAccessor<&UdpSocket::Port>("port"),
                         InstanceAccessor<&UdpSocket::Offload>("offload"),
                         InstanceMethod<&UdpSocket::Start>("start"),
                         InstanceMethod<&UdpSocket::SendBatch>("sendBatch"),
                         InstanceMethod<&UdpSocket::WaitWritable>("waitWritable"),
                         InstanceAccessor<&UdpSocket::Refusal>("refusal"),
                         InstanceAccessor<&UdpSocket::SendErrors>("sendErrors"),
                         InstanceAccessor<&UdpSocket::ErrorReports>("errorReports"),
                         InstanceMethod<&UdpSocket::Close>("close"),
                     });
}

// new UdpSocket(address: string, port: number, batchLimit?: number, bufferBytes?: number, gso?: boolean)
// gso (default true): UDP_SEGMENT sends and UDP_GRO reads.
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
    oi::ThrowErrno(env, "socket", errno);
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
    oi::ThrowErrno(env, "bind " + addr + ":" + std::to_string(port), err);
    return;
  }
  if (info.Length() >= 5 && info[4].IsBoolean()) gso_ = info[4].As<Napi::Boolean>().Value();
  // IP_RECVERR: without it the kernel swallows a send it drops below the socket with ENOBUFS (a
  // full neighbour table or device queue) — the datagram is gone and sendmmsg says it left. With it
  // the send fails and the caller can hold the datagram and try again. ICMP errors then land on
  // the error queue (drained in OnPoll) and the next call on the socket reports one once.
  int on = 1;
  setsockopt(fd, IPPROTO_IP, IP_RECVERR, &on, sizeof on);
  // UDP_GRO goes with UDP_SEGMENT: once a socket asks for it, a veth with GRO merges the
  // datagrams for it before the taps, and captures on the receiving link show merged runs too.
  gro_ = gso_ && setsockopt(fd, IPPROTO_UDP, UDP_GRO, &on, sizeof on) == 0;
  fd_ = fd;
  rx_msgs_.resize(batch_limit_);
  rx_iov_.resize(batch_limit_);
  rx_addr_.resize(batch_limit_);
  rx_ctrl_.resize(static_cast<size_t>(batch_limit_) * CMSG_SPACE(sizeof(int)));
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

// 'gso+gro', 'gso', 'gro' or 'none': which offloads are in use.
Napi::Value UdpSocket::Offload(const Napi::CallbackInfo& info) {
  const char* v = gso_ && gro_ ? "gso+gro" : gso_ ? "gso" : gro_ ? "gro" : "none";
  return Napi::String::New(info.Env(), v);
}

// start(cb: (count: number) => void, slab: Uint8Array, meta: Uint32Array). Each batch is read into
// `slab` (batchLimit slots of 64 KiB) and datagram i is described by meta[4i..4i+3] = offset,
// length, IPv4 source address, source port; cb(count) follows. The next batch overwrites both.
Napi::Value UdpSocket::Start(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (fd_ < 0) {
    Napi::Error::New(env, "socket is closed").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  if (!oi::CheckStartArgs(info)) return env.Undefined();
  Napi::Uint8Array slab = info[1].As<Napi::Uint8Array>();
  Napi::Uint32Array meta = info[2].As<Napi::Uint32Array>();
  if (slab.ByteLength() < static_cast<size_t>(batch_limit_) * kSlot || meta.ElementLength() < 4 * static_cast<size_t>(batch_limit_)) {
    Napi::RangeError::New(env, "slab must hold batchLimit * 65536 bytes and meta 4 words per datagram").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  callback_ = Napi::Persistent(info[0].As<Napi::Function>());
  slabRef_ = Napi::Persistent(slab.As<Napi::Object>());
  metaRef_ = Napi::Persistent(meta.As<Napi::Object>());
  slab_ = slab.Data();
  meta_ = meta.Data();
  metaCap_ = meta.ElementLength() / 4;
  SetUpReceive();
  if (!EnsurePoll(env)) return env.Undefined();
  reading_ = true;
  UpdatePoll();
  if (self_.IsEmpty()) self_ = Napi::Persistent(Value());
  return env.Undefined();
}

bool UdpSocket::EnsurePoll(Napi::Env env) {
  if (poll_ == nullptr) poll_ = oi::NewPoll(env, fd_, this);
  return poll_ != nullptr;
}

// Polls for what is wanted: reads once started, writability while a waitWritable callback waits.
void UdpSocket::UpdatePoll() {
  if (poll_ == nullptr || fd_ < 0) return;
  const int events = (reading_ ? UV_READABLE : 0) | (writable_.IsEmpty() ? 0 : UV_WRITABLE);
  if (events == 0) uv_poll_stop(poll_);
  else uv_poll_start(poll_, events, &UdpSocket::OnPoll);
}

void UdpSocket::OnPoll(uv_poll_t* handle, int status, int events) {
  auto* self = static_cast<UdpSocket*>(handle->data);
  if (self == nullptr) return;
  if (status < 0) {
    // libuv stops a poll handle on POLLERR: reports wait on the error queue. Read them, poll again.
    self->DrainErrors();
    self->UpdatePoll();
    return;
  }
  if (events & UV_WRITABLE) self->OnWritable();
  if ((events & UV_READABLE) && self->fd_ >= 0) self->ReadBatch();
}

void UdpSocket::DrainErrors() {
  uint8_t data[512];
  uint8_t ctrl[512];
  for (int i = 0; i < 1024 && fd_ >= 0; i++) {
    struct iovec iov = {data, sizeof data};
    struct msghdr mh;
    memset(&mh, 0, sizeof mh);
    mh.msg_iov = &iov;
    mh.msg_iovlen = 1;
    mh.msg_control = ctrl;
    mh.msg_controllen = sizeof ctrl;
    if (recvmsg(fd_, &mh, MSG_ERRQUEUE | MSG_DONTWAIT) < 0) break;
    error_reports_++;
  }
  int err = 0;
  socklen_t len = sizeof err;
  if (fd_ >= 0) getsockopt(fd_, SOL_SOCKET, SO_ERROR, &err, &len);  // clears the pending error
}

void UdpSocket::OnWritable() {
  if (writable_.IsEmpty()) return;
  Napi::Env env = Env();
  Napi::HandleScope scope(env);
  Napi::Function cb = writable_.Value();
  writable_.Reset();
  UpdatePoll();
  cb.MakeCallback(Value(), {});
}

// waitWritable(cb: () => void): cb is called once, when the send buffer has room again (after a
// sendBatch stopped on EAGAIN). A second call before then replaces the callback.
Napi::Value UdpSocket::WaitWritable(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (fd_ < 0 || info.Length() < 1 || !info[0].IsFunction()) {
    if (fd_ < 0) Napi::Error::New(env, "socket is closed").ThrowAsJavaScriptException();
    else Napi::TypeError::New(env, "waitWritable(callback: () => void)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  if (!EnsurePoll(env)) return env.Undefined();
  writable_ = Napi::Persistent(info[0].As<Napi::Function>());
  if (self_.IsEmpty()) self_ = Napi::Persistent(Value());
  UpdatePoll();
  return env.Undefined();
}

Napi::Value UdpSocket::Refusal(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), refusal_); }
Napi::Value UdpSocket::SendErrors(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), send_errors_); }
Napi::Value UdpSocket::ErrorReports(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), error_reports_); }

// The receive headers point at the slab's slots once, here; ReadBatch refreshes only the fields
// the kernel overwrote in the entries the last read used (a wake-up for one datagram then touches
// one header, not batchLimit of them: after an idle spell each line touched is a cache miss).
void UdpSocket::SetUpReceive() {
  const size_t ctrlLen = CMSG_SPACE(sizeof(int));
  for (uint32_t i = 0; i < batch_limit_; i++) {
    rx_iov_[i].iov_base = slab_ + static_cast<size_t>(i) * kSlot;
    rx_iov_[i].iov_len = kSlot;
    memset(&rx_msgs_[i], 0, sizeof rx_msgs_[i]);
    rx_msgs_[i].msg_hdr.msg_iov = &rx_iov_[i];
    rx_msgs_[i].msg_hdr.msg_iovlen = 1;
    rx_msgs_[i].msg_hdr.msg_name = &rx_addr_[i];
    rx_msgs_[i].msg_hdr.msg_namelen = sizeof rx_addr_[i];
    if (gro_) {
      rx_msgs_[i].msg_hdr.msg_control = rx_ctrl_.data() + i * ctrlLen;
      rx_msgs_[i].msg_hdr.msg_controllen = ctrlLen;
    }
  }
  rx_dirty_ = 0;
}

void UdpSocket::ReadBatch() {
  if (fd_ < 0 || slab_ == nullptr) return;
  const size_t ctrlLen = CMSG_SPACE(sizeof(int));
  // recvmmsg writes back msg_len, msg_namelen, msg_controllen and msg_flags of the entries it
  // filled, and of the one that failed after them; the pointers and the iovecs stay as set.
  for (uint32_t i = 0; i < rx_dirty_; i++) {
    struct msghdr& h = rx_msgs_[i].msg_hdr;
    h.msg_namelen = sizeof rx_addr_[i];
    h.msg_controllen = gro_ ? ctrlLen : 0;
    h.msg_flags = 0;
    rx_msgs_[i].msg_len = 0;
  }
  int n;
  do {
    n = recvmmsg(fd_, rx_msgs_.data(), batch_limit_, MSG_DONTWAIT, nullptr);
  } while (n < 0 && errno == EINTR);
  rx_dirty_ = n <= 0 ? 1 : (static_cast<uint32_t>(n) < batch_limit_ ? static_cast<uint32_t>(n) + 1 : batch_limit_);
  if (n <= 0) return;  // EAGAIN, or a per-packet error (ICMP) reported on the socket: nothing to hand over
  size_t count = 0;
  for (int i = 0; i < n && count < metaCap_; i++) {
    const size_t len = rx_msgs_[i].msg_len;
    size_t seg = 0;
    for (struct cmsghdr* c = CMSG_FIRSTHDR(&rx_msgs_[i].msg_hdr); gro_ && c != nullptr; c = CMSG_NXTHDR(&rx_msgs_[i].msg_hdr, c)) {
      if (c->cmsg_level == SOL_UDP && c->cmsg_type == UDP_GRO) {
        int g;
        memcpy(&g, CMSG_DATA(c), sizeof g);
        if (g > 0) seg = static_cast<size_t>(g);
      }
    }
    if (seg == 0 || seg > len) seg = len;
    const uint32_t addr = ntohl(rx_addr_[i].sin_addr.s_addr);
    const uint32_t port = ntohs(rx_addr_[i].sin_port);
    const size_t base = static_cast<size_t>(i) * kSlot;
    size_t off = 0;
    do {  // a zero-length datagram is one datagram too
      const size_t l = len - off < seg ? len - off : seg;
      uint32_t* m = meta_ + 4 * count;
      m[0] = static_cast<uint32_t>(base + off);
      m[1] = static_cast<uint32_t>(l);
      m[2] = addr;
      m[3] = port;
      count++;
      off += l;
    } while (off < len && count < metaCap_);
  }
  if (count == 0 || callback_.IsEmpty()) return;
  Napi::Env env = Env();
  Napi::HandleScope scope(env);
  callback_.MakeCallback(Value(), {Napi::Number::New(env, static_cast<double>(count))});
}

// Messages for datagrams [from, count) into tx_msgs_ from index `base` on; returns how many.
// There are never more messages than datagrams, so base + result <= count always fits.
// With GSO, a run of datagrams to one peer whose lengths equal the first's (the last may be
// shorter) becomes one message with UDP_SEGMENT, its buffers gathered by the iovec array.
size_t UdpSocket::BuildMessages(size_t base, size_t from, size_t count, const uint32_t* lens, const uint32_t* addrs,
                                const uint32_t* ports) {
  const size_t ctrlLen = CMSG_SPACE(sizeof(uint16_t));
  size_t m = base;
  size_t i = from;
  while (i < count) {
    size_t j = i + 1;
    size_t total = lens[i];
    if (gso_ && lens[i] > 0) {
      while (j < count && j - i < kMaxGsoSegments && addrs[j] == addrs[i] && ports[j] == ports[i] && lens[j] > 0 &&
             lens[j] <= lens[i] && total + lens[j] <= kMaxGsoBytes) {
        total += lens[j];
        j++;
        if (lens[j - 1] < lens[i]) break;  // a shorter datagram ends the run
      }
    }
    struct mmsghdr& msg = tx_msgs_[m];
    memset(&msg, 0, sizeof msg);
    struct sockaddr_in& to = tx_to_[m];
    memset(&to, 0, sizeof to);
    to.sin_family = AF_INET;
    to.sin_addr.s_addr = htonl(addrs[i]);
    to.sin_port = htons(static_cast<uint16_t>(ports[i]));
    msg.msg_hdr.msg_name = &to;
    msg.msg_hdr.msg_namelen = sizeof to;
    msg.msg_hdr.msg_iov = &tx_iov_[i];
    msg.msg_hdr.msg_iovlen = j - i;
    if (j - i > 1) {
      uint8_t* ctrl = tx_ctrl_.data() + m * ctrlLen;
      memset(ctrl, 0, ctrlLen);
      msg.msg_hdr.msg_control = ctrl;
      msg.msg_hdr.msg_controllen = ctrlLen;
      struct cmsghdr* c = CMSG_FIRSTHDR(&msg.msg_hdr);
      c->cmsg_level = SOL_UDP;
      c->cmsg_type = UDP_SEGMENT;
      c->cmsg_len = CMSG_LEN(sizeof(uint16_t));
      uint16_t size = static_cast<uint16_t>(lens[i]);
      memcpy(CMSG_DATA(c), &size, sizeof size);
    }
    tx_first_[m] = static_cast<uint32_t>(i);
    tx_count_[m] = static_cast<uint32_t>(j - i);
    m++;
    i = j;
  }
  return m - base;
}

// sendBatch(bufs: Uint8Array[], count: number, lengths: Uint32Array, addrs: Uint32Array,
// ports: Uint32Array, offsets?: Uint32Array) sends lengths[i] bytes of bufs[i] from offsets[i]
// (default 0) to addrs[i]:ports[i], in order, and returns how many datagrams the kernel dealt with:
// sent, or refused for good (counted in sendErrors). When it returns fewer than count, the kernel
// would not take datagram [result] now — `refusal` says why (EAGAIN: the send buffer is full, wait
// for writability; ENOBUFS: no room below the socket) — and it and the rest were not tried.
Napi::Value UdpSocket::SendBatch(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (fd_ < 0) {
    Napi::Error::New(env, "socket is closed").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  const auto isU32 = [](const Napi::Value& v) {
    return v.IsTypedArray() && v.As<Napi::TypedArray>().TypedArrayType() == napi_uint32_array;
  };
  const bool hasOffsets = info.Length() >= 6 && !info[5].IsUndefined();
  if (info.Length() < 5 || !info[0].IsArray() || !info[1].IsNumber() || !isU32(info[2]) || !isU32(info[3]) || !isU32(info[4]) ||
      (hasOffsets && !isU32(info[5]))) {
    Napi::TypeError::New(env, "sendBatch(bufs: Uint8Array[], count: number, lengths: Uint32Array, addrs: Uint32Array, ports: Uint32Array, offsets?: Uint32Array)")
        .ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Napi::Array bufs = info[0].As<Napi::Array>();
  const size_t count = info[1].As<Napi::Number>().Uint32Value();
  Napi::Uint32Array lensA = info[2].As<Napi::Uint32Array>();
  Napi::Uint32Array addrsA = info[3].As<Napi::Uint32Array>();
  Napi::Uint32Array portsA = info[4].As<Napi::Uint32Array>();
  Napi::Uint32Array offsA = hasOffsets ? info[5].As<Napi::Uint32Array>() : Napi::Uint32Array();
  if (count > bufs.Length() || count > lensA.ElementLength() || count > addrsA.ElementLength() || count > portsA.ElementLength() ||
      (hasOffsets && count > offsA.ElementLength())) {
    Napi::RangeError::New(env, "sendBatch: count exceeds an array").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  if (tx_iov_.size() < count) {
    tx_msgs_.resize(count);
    tx_iov_.resize(count);
    tx_to_.resize(count);
    tx_ctrl_.resize(count * CMSG_SPACE(sizeof(uint16_t)));
    tx_first_.resize(count);
    tx_count_.resize(count);
  }
  uint32_t* lens = lensA.Data();
  const uint32_t* addrs = addrsA.Data();
  const uint32_t* ports = portsA.Data();
  const uint32_t* offs = hasOffsets ? offsA.Data() : nullptr;
  // Datagrams sealed into one region arrive as the same buffer many times: look it up once per run.
  napi_value prev = nullptr;
  uint8_t* prevData = nullptr;
  size_t prevLen = 0;
  for (size_t i = 0; i < count; i++) {
    Napi::Value b = bufs.Get(static_cast<uint32_t>(i));
    bool same = false;
    if (prev != nullptr) napi_strict_equals(env, prev, b, &same);
    if (!same) {
      if (!b.IsTypedArray() || b.As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
        Napi::TypeError::New(env, "sendBatch: bufs[" + std::to_string(i) + "] is not a Uint8Array").ThrowAsJavaScriptException();
        return env.Undefined();
      }
      Napi::Uint8Array a = b.As<Napi::Uint8Array>();
      prev = b;
      prevData = a.Data();
      prevLen = a.ByteLength();
    }
    const size_t off = offs != nullptr ? offs[i] : 0;
    if (ports[i] > 65535 || off > prevLen) {
      Napi::RangeError::New(env, "sendBatch: datagram " + std::to_string(i) + " has its port or offset out of range")
          .ThrowAsJavaScriptException();
      return env.Undefined();
    }
    if (lens[i] > prevLen - off) lens[i] = static_cast<uint32_t>(prevLen - off);
    tx_iov_[i].iov_base = prevData + off;
    tx_iov_[i].iov_len = lens[i];
  }
  size_t m = BuildMessages(0, 0, count, lens, addrs, ports);
  size_t done = 0;
  bool retried = false;  // the message at `done` already failed once with an error that may be an earlier one's
  refusal_ = 0;
  while (done < m) {
    int r = sendmmsg(fd_, tx_msgs_.data() + done, static_cast<unsigned>(m - done), MSG_DONTWAIT);
    if (r < 0) {
      const int err = errno;
      if (err == EINTR) continue;
      if (err == EAGAIN || err == EWOULDBLOCK || err == ENOBUFS) {
        refusal_ = err;
        break;
      }
      if (gso_ && tx_count_[done] > 1 && (err == EIO || err == EINVAL || err == EOPNOTSUPP || err == ENOPROTOOPT)) {
        // This kernel or route cannot segment: send one by one from here on.
        gso_ = false;
        m = done + BuildMessages(done, tx_first_[done], count, lens, addrs, ports);
        continue;
      }
      if (!retried && (err == ECONNREFUSED || err == EHOSTUNREACH || err == ENETUNREACH || err == EHOSTDOWN || err == EPROTO)) {
        // With IP_RECVERR a send first reports the ICMP error an earlier datagram met (and clears
        // it) without trying its own: try this one once more before blaming it. Its report waits
        // on the error queue: read it here too, for sockets that never poll (send-only ones).
        DrainErrors();
        retried = true;
        continue;
      }
      send_errors_ += tx_count_[done];
      done++;  // this message failed for good (e.g. no route): skip it, keep the rest
      retried = false;
      continue;
    }
    retried = false;
    done += static_cast<size_t>(r);
  }
  return Napi::Number::New(env, static_cast<double>(done < m ? tx_first_[done] : count));
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
  if (!writable_.IsEmpty()) writable_.Reset();
  reading_ = false;
}
