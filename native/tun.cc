// TUN device: open, batched non-blocking reads driven by uv_poll, single and batched writes.
// No threads: everything runs on the Node event loop thread.
#include "tun.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cstdlib>

namespace {

constexpr size_t kMaxPacket = 65535;
constexpr uint32_t kMaxBatch = 4096;

void ThrowErrno(Napi::Env env, const std::string& what, int err) {
  Napi::Error e = Napi::Error::New(env, what + ": " + strerror(err));
  e.Set("errno", Napi::Number::New(env, err));
  e.Set("syscall", Napi::String::New(env, what));
  e.ThrowAsJavaScriptException();
}

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
                     });
}

// new TunDevice(name: string, batchLimit?: number). An empty name lets the kernel choose (tun%d).
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
  int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    ThrowErrno(env, "open /dev/net/tun", errno);
    return;
  }
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
  memcpy(ifr.ifr_name, want.data(), want.size());
  if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
    int err = errno;
    close(fd);
    ThrowErrno(env, "ioctl TUNSETIFF " + want, err);
    return;
  }
  scratch_ = static_cast<uint8_t*>(malloc(kMaxPacket));
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

// start(cb: (packets: Buffer[]) => void): begins reading; cb gets each batch.
Napi::Value TunDevice::Start(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (fd_ < 0) {
    Napi::Error::New(env, "TUN device is closed").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  if (info.Length() < 1 || !info[0].IsFunction()) {
    Napi::TypeError::New(env, "start(callback: (packets: Buffer[]) => void)").ThrowAsJavaScriptException();
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
// Level-triggered polling brings us back if packets remain after the limit.
void TunDevice::ReadBatch() {
  Napi::Env env = Env();
  Napi::HandleScope scope(env);
  Napi::Array batch = Napi::Array::New(env);
  uint32_t n = 0;
  while (fd_ >= 0 && n < batch_limit_) {
    ssize_t r = read(fd_, scratch_, kMaxPacket);
    if (r < 0) {
      if (errno == EINTR) continue;
      break;  // EAGAIN (drained) or a transient error: stop this round
    }
    if (r == 0) break;
    batch.Set(n++, Napi::Buffer<uint8_t>::Copy(env, scratch_, static_cast<size_t>(r)));
  }
  if (n == 0 || callback_.IsEmpty()) return;
  // MakeCallback runs microtasks and reports exceptions the way Node's own callbacks do.
  callback_.MakeCallback(Value(), {batch});
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
  Napi::Uint8Array a = info[0].As<Napi::Uint8Array>();
  ssize_t r;
  do {
    r = write(fd_, a.Data(), a.ByteLength());
  } while (r < 0 && errno == EINTR);
  return Napi::Number::New(env, r < 0 ? errno : 0);
}

// writeBatch(packets: Uint8Array[]): the number of packets the kernel took; the rest are dropped.
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
  for (uint32_t i = 0; i < len; i++) {
    Napi::Value v = arr.Get(i);
    if (!v.IsTypedArray()) continue;
    Napi::Uint8Array a = v.As<Napi::Uint8Array>();
    ssize_t r;
    do {
      r = write(fd_, a.Data(), a.ByteLength());
    } while (r < 0 && errno == EINTR);
    if (r >= 0) ok++;
  }
  return Napi::Number::New(env, ok);
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
  free(scratch_);
  scratch_ = nullptr;
}
