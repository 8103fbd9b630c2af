// The offload functions exposed to JS on their own, so unit tests can check segmentation and
// coalescing against known packets without a TUN device.
#include "offload-api.h"

#include <vector>

#include "offload.h"

namespace {

// offloadSplit(frame: Uint8Array): Buffer[] — SplitFrame on one vnet-header frame.
Napi::Value Split(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsTypedArray() || info[0].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
    Napi::TypeError::New(env, "offloadSplit(frame: Uint8Array)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Napi::Uint8Array f = info[0].As<Napi::Uint8Array>();
  std::vector<uint8_t> out(f.ByteLength() * 2 + 65536);
  std::vector<uint32_t> meta(2 * 1024);
  size_t used = 0;
  offload::SplitError err;
  size_t k = offload::SplitFrame(f.Data(), f.ByteLength(), out.data(), out.size(), meta.data(), meta.size() / 2, &used, &err);
  if (k == 0) {
    const char* why = err == offload::SplitError::kUnsupportedGso ? "unsupported GSO type" : err == offload::SplitError::kNoRoom ? "no room" : "malformed frame";
    Napi::RangeError::New(env, std::string("offloadSplit: ") + why).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Napi::Array r = Napi::Array::New(env, k);
  for (size_t i = 0; i < k; i++) r.Set(static_cast<uint32_t>(i), Napi::Buffer<uint8_t>::Copy(env, out.data() + meta[2 * i], meta[2 * i + 1]));
  return r;
}

// offloadCoalesce(packets: Uint8Array[]): Buffer[] — the frames a TUN batch write would issue,
// each virtio_net_hdr ‖ packet bytes.
Napi::Value Coalesce(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsArray()) {
    Napi::TypeError::New(env, "offloadCoalesce(packets: Uint8Array[])").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Napi::Array in = info[0].As<Napi::Array>();
  std::vector<std::vector<uint8_t>> frames;
  offload::Coalescer c([&frames](const struct iovec* iov, int n) {
    std::vector<uint8_t> f;
    for (int i = 0; i < n; i++) {
      const uint8_t* b = static_cast<const uint8_t*>(iov[i].iov_base);
      f.insert(f.end(), b, b + iov[i].iov_len);
    }
    frames.push_back(std::move(f));
    return true;
  });
  for (uint32_t i = 0; i < in.Length(); i++) {
    Napi::Value v = in.Get(i);
    if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
      Napi::TypeError::New(env, "offloadCoalesce: packets[" + std::to_string(i) + "] is not a Uint8Array").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    Napi::Uint8Array a = v.As<Napi::Uint8Array>();
    c.Add(a.Data(), a.ByteLength());
  }
  c.Flush();
  Napi::Array r = Napi::Array::New(env, frames.size());
  for (size_t i = 0; i < frames.size(); i++) r.Set(static_cast<uint32_t>(i), Napi::Buffer<uint8_t>::Copy(env, frames[i].data(), frames[i].size()));
  return r;
}

// offloadChecksum(bytes: Uint8Array, initial: number): Record<string, number> — the folded
// one's-complement sum of `bytes` plus `initial` by every implementation this CPU runs (the one
// in use first), so a test can hold each against a reference.
Napi::Value Checksum(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsTypedArray() || info[0].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array ||
      !info[1].IsNumber()) {
    Napi::TypeError::New(env, "offloadChecksum(bytes: Uint8Array, initial: number)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Napi::Uint8Array b = info[0].As<Napi::Uint8Array>();
  const uint64_t initial = info[1].As<Napi::Number>().Uint32Value();
  Napi::Object r = Napi::Object::New(env);
  for (const offload::SumImplementation& s : offload::SumImplementations()) {
    r.Set(s.name, Napi::Number::New(env, offload::Fold(s.fn(b.Data(), b.ByteLength(), initial))));
  }
  return r;
}

}  // namespace

void DefineOffloadApi(Napi::Env env, Napi::Object exports) {
  exports.Set("offloadSplit", Napi::Function::New(env, Split, "offloadSplit"));
  exports.Set("offloadCoalesce", Napi::Function::New(env, Coalesce, "offloadCoalesce"));
  exports.Set("offloadChecksum", Napi::Function::New(env, Checksum, "offloadChecksum"));
}
