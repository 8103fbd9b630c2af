// Argument checks and errors shared by the addon's I/O classes (TUN, UDP), so both refuse bad
// input with the same messages.
#pragma once

#include <napi.h>
#include <uv.h>
#include <string.h>

#include <string>

namespace oi {

// Throws an Error "<what>: <strerror>" carrying errno and syscall, as Node's own errors do.
inline void ThrowErrno(Napi::Env env, const std::string& what, int err) {
  Napi::Error e = Napi::Error::New(env, what + ": " + strerror(err));
  e.Set("errno", Napi::Number::New(env, err));
  e.Set("syscall", Napi::String::New(env, what));
  e.ThrowAsJavaScriptException();
}

// start(callback, slab: Uint8Array, meta: Uint32Array): true when the arguments have those types;
// otherwise a TypeError is thrown and false returned.
inline bool CheckStartArgs(const Napi::CallbackInfo& info) {
  bool ok = info.Length() >= 3 && info[0].IsFunction() && info[1].IsTypedArray() && info[2].IsTypedArray() &&
            info[1].As<Napi::TypedArray>().TypedArrayType() == napi_uint8_array &&
            info[2].As<Napi::TypedArray>().TypedArrayType() == napi_uint32_array;
  if (!ok) {
    Napi::TypeError::New(info.Env(), "start(callback: (count: number) => void, slab: Uint8Array, meta: Uint32Array)")
        .ThrowAsJavaScriptException();
  }
  return ok;
}

// A poll handle on `fd` in Node's loop, handle->data = `data`; nullptr (and an Error thrown) when
// libuv refuses it.
inline uv_poll_t* NewPoll(Napi::Env env, int fd, void* data) {
  auto* poll = new uv_poll_t;
  uv_loop_t* loop = nullptr;
  napi_get_uv_event_loop(env, &loop);
  int rc = uv_poll_init(loop, poll, fd);
  if (rc != 0) {
    delete poll;
    Napi::Error::New(env, std::string("uv_poll_init: ") + uv_strerror(rc)).ThrowAsJavaScriptException();
    return nullptr;
  }
  poll->data = data;
  return poll;
}

}  // namespace oi
