// TUN device: open, batched non-blocking reads driven by uv_poll, single and batched writes.
// No threads: everything runs on the Node event loop thread. With IFF_VNET_HDR and TSO offered
// to the kernel, reads may be 64 KB TCP super-packets (split here into MTU-sized segments) and
// batched writes coalesce consecutive TCP segments of a flow into super-packets (GRO).
#include "tun.h"
#include "napi-args.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cstdlib>

namespace {

// A super-packet is at most 64 KB of IPv4; leave room for the header and a little slack.
constexpr size_t kMaxFrame = 65536 + 1024;
constexpr uint32_t kMaxBatch = 4096;

}  // namespace

Napi::Function TunDevice::Define(Napi::Env env) {
  return DefineClass(env, "TunDevice",
                     {
                         InstanceAccessor<&TunDevice::Name>("name"),
                         InstanceAccessor<&TunDevice::Fd>("fd"),
                         InstanceMethod<&TunDevice::Start>("start"),
                         InstanceMethod<&TunDevice::Stop>("stop"),
                         InstanceMethod<&TunDevice::Write>("write"),
                         InstanceMethod<&TunDevice::WriteBatch>("writeBatch"),
                         InstanceMethod<&TunDevice::Close>("close"),
                         InstanceAccessor<&TunDevice::Offload>("offload"),
                         InstanceAccessor<&TunDevice::Dropped>("dropped"),
                     });
}

// new TunDevice(name: string, batchLimit?: number, offload?: boolean). An empty name lets the
// kernel choose (tun%d). offload (default true): IFF_VNET_HDR, and TSO4 + checksum offload when
// the kernel accepts them.
TunDevice::TunDevice(const Napi::CallbackInfo& info) : Napi::ObjectWrap<TunDevice>(info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString()) {
    Napi::TypeError::New(env, "TunDevice(name: string, batchLimit?: number)").ThrowAsJavaScriptException();
    return;
  }
  std::string want = info[0].As<Napi::String>().Utf8Value();
  if (want.size() >= IFNAMSIZ) {
    Napi::RangeError::New(env, "interface name longer than 15 bytes: " + want).ThrowAsJavaScriptException();
    return;
  }
  if (info.Length() >= 2 && info[1].IsNumber()) {
    uint32_t b = info[1].As<Napi::Number>().Uint32Value();
    if (b < 1 || b > kMaxBatch) {
      Napi::RangeError::New(env, "batchLimit must be 1..4096").ThrowAsJavaScriptException();
      return;
    }
    batch_limit_ = b;
  }
  const bool wantOffload = !(info.Length() >= 3 && info[2].IsBoolean() && !info[2].As<Napi::Boolean>().Value());
  int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    oi::ThrowErrno(env, "open /dev/net/tun", errno);
    return;
  }
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  ifr.ifr_flags = IFF_TUN | IFF_NO_PI | (wantOffload ? IFF_VNET_HDR : 0);
  memcpy(ifr.ifr_name, want.data(), want.size());
  if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
    int err = errno;
    close(fd);
    oi::ThrowErrno(env, "ioctl TUNSETIFF " + want, err);
    return;
  }
  if (wantOffload) {
    vnet_ = true;
    int hdrLen = static_cast<int>(offload::kVnetHdrLen);
    // Without TSO the header is still there (and coalesced writes still work); reads are then
    // plain packets, so a refusal here only costs speed.
    if (ioctl(fd, TUNSETVNETHDRSZ, &hdrLen) == 0 && ioctl(fd, TUNSETOFFLOAD, TUN_F_CSUM | TUN_F_TSO4) == 0) tso_ = true;
  }
  scratch_ = static_cast<uint8_t*>(malloc(kMaxFrame));
  if (scratch_ == nullptr) {
    close(fd);
    Napi::Error::New(env, "out of memory").ThrowAsJavaScriptException();
    return;
  }
  fd_ = fd;
  name_ = std::string(ifr.ifr_name, strnlen(ifr.ifr_name, IFNAMSIZ));
}

TunDevice::~TunDevice() { CloseAll(); }

Napi::Value TunDevice::Name(const Napi::CallbackInfo& info) { return Napi::String::New(info.Env(), name_); }

Napi::Value TunDevice::Fd(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), fd_); }

// 'tso' (super-packets in and out), 'vnet' (coalesced writes only) or 'none'.
Napi::Value TunDevice::Offload(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), tso_ ? "tso" : vnet_ ? "vnet" : "none");
}

Napi::Value TunDevice::Dropped(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), dropped_); }

// start(cb: (count: number) => void, slab: Uint8Array, meta: Uint32Array): begins reading. Each
// batch is written into `slab` (packet i at meta[2i], meta[2i+1] bytes) and cb(count) is called;
// the next batch overwrites the slab, so JS must not keep views past the callback.
Napi::Value TunDevice::Start(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (fd_ < 0) {
    Napi::Error::New(env, "TUN device is closed").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  if (!oi::CheckStartArgs(info)) return env.Undefined();
  Napi::Uint8Array slab = info[1].As<Napi::Uint8Array>();
  Napi::Uint32Array meta = info[2].As<Napi::Uint32Array>();
  if (slab.ByteLength() < kMaxFrame || meta.ElementLength() < 2) {
    Napi::RangeError::New(env, "slab must hold at least one 64 KB frame and meta one pair").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  callback_ = Napi::Persistent(info[0].As<Napi::Function>());
  slabRef_ = Napi::Persistent(slab.As<Napi::Object>());
  metaRef_ = Napi::Persistent(meta.As<Napi::Object>());
  slab_ = slab.Data();
  slabCap_ = slab.ByteLength();
  meta_ = meta.Data();
  metaCap_ = meta.ElementLength() / 2;
  if (poll_ == nullptr && (poll_ = oi::NewPoll(env, fd_, this)) == nullptr) return env.Undefined();
  int rc = uv_poll_start(poll_, UV_READABLE, &TunDevice::OnPoll);
  if (rc != 0) {
    Napi::Error::New(env, std::string("uv_poll_start: ") + uv_strerror(rc)).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  if (self_.IsEmpty()) self_ = Napi::Persistent(Value());
  return env.Undefined();
}

Napi::Value TunDevice::Stop(const Napi::CallbackInfo& info) {
  StopPoll();
  return info.Env().Undefined();
}

void TunDevice::OnPoll(uv_poll_t* handle, int status, int events) {
  auto* self = static_cast<TunDevice*>(handle->data);
  if (self == nullptr || status < 0 || !(events & UV_READABLE)) return;
  self->ReadBatch();
}

// Reads until EAGAIN or the batch limit, then hands the whole batch to JS in one call.
// Level-triggered polling brings us back if packets remain after the limit; a frame that did not
// fit the slab is kept and starts the next round at once (the fd may not poll readable again).
void TunDevice::ReadBatch() {
  for (int rounds = 0; rounds < 4 && ReadRound(); rounds++) {
  }
}

// One batch: read, split into the slab, call JS. True when a frame is pending for another round.
bool TunDevice::ReadRound() {
  if (slab_ == nullptr) return false;
  size_t off = 0;
  size_t count = 0;
  uint32_t reads = 0;
  while (fd_ >= 0 && reads < batch_limit_) {
    size_t n = pending_;
    if (n == 0) {
      ssize_t r = read(fd_, scratch_, kMaxFrame);
      if (r < 0) {
        if (errno == EINTR) continue;
        break;  // EAGAIN (drained) or a transient error: stop this round
      }
      if (r == 0) break;
      n = static_cast<size_t>(r);
      reads++;
    }
    size_t k = 0;
    size_t used = 0;
    offload::SplitError err = offload::SplitError::kNone;
    if (vnet_) {
      k = offload::SplitFrame(scratch_, n, slab_ + off, slabCap_ - off, meta_ + 2 * count, metaCap_ - count, &used, &err);
    } else if (n <= slabCap_ - off && count < metaCap_) {
      memcpy(slab_ + off, scratch_, n);
      meta_[2 * count] = 0;
      meta_[2 * count + 1] = static_cast<uint32_t>(n);
      k = 1;
      used = n;
    } else {
      err = offload::SplitError::kNoRoom;
    }
    if (k == 0) {
      if (err == offload::SplitError::kNoRoom && count > 0) {
        pending_ = n;  // the slab is full: this frame opens the next batch
        break;
      }
      pending_ = 0;
      dropped_++;
      continue;
    }
    for (size_t j = 0; j < k; j++) meta_[2 * (count + j)] += static_cast<uint32_t>(off);
    off += used;
    count += k;
    pending_ = 0;
  }
  if (count == 0 || callback_.IsEmpty()) return false;
  Napi::Env env = Env();
  Napi::HandleScope scope(env);
  // MakeCallback runs microtasks and reports exceptions the way Node's own callbacks do.
  callback_.MakeCallback(Value(), {Napi::Number::New(env, static_cast<double>(count))});
  return pending_ > 0 && fd_ >= 0;
}

bool TunDevice::WriteFrame(const struct iovec* iov, int count) {
  ssize_t r;
  do {
    r = writev(fd_, iov, count);
  } while (r < 0 && errno == EINTR);
  return r >= 0;
}

bool TunDevice::WritePacket(const uint8_t* p, size_t len) {
  offload::VnetHdr h;
  memset(&h, 0, sizeof h);
  struct iovec iov[2] = {{&h, offload::kVnetHdrLen}, {const_cast<uint8_t*>(p), len}};
  return vnet_ ? WriteFrame(iov, 2) : WriteFrame(iov + 1, 1);
}

void TunDevice::StopPoll() {
  if (poll_ != nullptr) uv_poll_stop(poll_);
  if (!self_.IsEmpty()) self_.Reset();
}

// write(packet: Buffer | Uint8Array): 0 when the kernel took it, else the errno (packet dropped).
Napi::Value TunDevice::Write(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (fd_ < 0) {
    Napi::Error::New(env, "TUN device is closed").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  if (info.Length() < 1 || !info[0].IsTypedArray()) {
    Napi::TypeError::New(env, "write(packet: Uint8Array)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Napi::TypedArray t = info[0].As<Napi::TypedArray>();
  if (t.TypedArrayType() != napi_uint8_array) {
    Napi::TypeError::New(env, "write(packet: Uint8Array)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Napi::Uint8Array a = t.As<Napi::Uint8Array>();
  bool ok = WritePacket(a.Data(), a.ByteLength());
  return Napi::Number::New(env, ok ? 0 : errno);
}

// writeBatch(packets: Uint8Array[]): the number of packets the kernel took; the rest are dropped.
// With a vnet header, in-order TCP segments of a flow leave as one coalesced frame.
Napi::Value TunDevice::WriteBatch(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (fd_ < 0) {
    Napi::Error::New(env, "TUN device is closed").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  if (info.Length() < 1 || !info[0].IsArray()) {
    Napi::TypeError::New(env, "writeBatch(packets: Uint8Array[])").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Napi::Array arr = info[0].As<Napi::Array>();
  uint32_t len = arr.Length();
  uint32_t ok = 0;
  if (!vnet_) {
    for (uint32_t i = 0; i < len; i++) {
      Napi::Value v = arr.Get(i);
      if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) continue;
      Napi::Uint8Array a = v.As<Napi::Uint8Array>();
      if (WritePacket(a.Data(), a.ByteLength())) ok++;
    }
    return Napi::Number::New(env, ok);
  }
  // The packets' memory stays valid: `arr` holds them until this call returns.
  offload::Coalescer c([this](const struct iovec* iov, int n) { return WriteFrame(iov, n); });
  for (uint32_t i = 0; i < len; i++) {
    Napi::Value v = arr.Get(i);
    if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) continue;
    Napi::Uint8Array a = v.As<Napi::Uint8Array>();
    c.Add(a.Data(), a.ByteLength());
  }
  c.Flush();
  return Napi::Number::New(env, c.accepted());
}

Napi::Value TunDevice::Close(const Napi::CallbackInfo& info) {
  CloseAll();
  return info.Env().Undefined();
}

void TunDevice::CloseAll() {
  StopPoll();
  if (poll_ != nullptr) {
    poll_->data = nullptr;
    uv_close(reinterpret_cast<uv_handle_t*>(poll_), [](uv_handle_t* h) { delete reinterpret_cast<uv_poll_t*>(h); });
    poll_ = nullptr;
  }
  if (fd_ >= 0) {
    close(fd_);  // the kernel removes a non-persistent TUN device when its last fd closes
    fd_ = -1;
  }
  if (!callback_.IsEmpty()) callback_.Reset();
  if (!slabRef_.IsEmpty()) slabRef_.Reset();
  if (!metaRef_.IsEmpty()) metaRef_.Reset();
  slab_ = nullptr;
  meta_ = nullptr;
  free(scratch_);
  scratch_ = nullptr;
}
