// AES-GCM contexts reused per packet (see aead.h). Argument errors are thrown as RangeError or
// TypeError; a tag that does not verify is not an error, it is -1.
#include "aead.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/params.h>

#include <cstring>

namespace {

constexpr size_t kSaltLen = 4;
constexpr size_t kIvLen = 8;
constexpr size_t kIcvLen = 16;
// OpenSSL's update calls take int lengths; anything near 2 GiB is no packet.
constexpr size_t kMaxLen = 0x7fff0000;

// A Uint8Array (Buffer included) argument as a pointer and length; false (with a TypeError
// pending) for anything else.
bool Bytes(const Napi::CallbackInfo& info, size_t i, uint8_t** data, size_t* len) {
  napi_value v = info[i];
  bool is = false;
  napi_is_typedarray(info.Env(), v, &is);
  if (is) {
    napi_typedarray_type type;
    void* p = nullptr;
    size_t n = 0;
    if (napi_get_typedarray_info(info.Env(), v, &type, &n, &p, nullptr, nullptr) == napi_ok && type == napi_uint8_array) {
      *data = static_cast<uint8_t*>(p);
      *len = n;
      return true;
    }
  }
  Napi::TypeError::New(info.Env(), "argument " + std::to_string(i) + " must be a Uint8Array").ThrowAsJavaScriptException();
  return false;
}

// A non-negative integer offset argument; false (RangeError pending) otherwise.
bool Offset(const Napi::CallbackInfo& info, size_t i, size_t* off) {
  if (!info[i].IsNumber()) {
    Napi::TypeError::New(info.Env(), "argument " + std::to_string(i) + " must be a number").ThrowAsJavaScriptException();
    return false;
  }
  double d = info[i].As<Napi::Number>().DoubleValue();
  if (!(d >= 0) || d > 9007199254740991.0 || d != static_cast<double>(static_cast<uint64_t>(d))) {
    Napi::RangeError::New(info.Env(), "output offset must be a non-negative integer").ThrowAsJavaScriptException();
    return false;
  }
  *off = static_cast<size_t>(d);
  return true;
}

bool Overlap(const uint8_t* a, size_t alen, const uint8_t* b, size_t blen) {
  return alen > 0 && blen > 0 && a < b + blen && b < a + alen;
}

}  // namespace

Napi::Function AesGcm::Define(Napi::Env env) {
  return DefineClass(env, "AesGcm",
                     {
                         InstanceMethod<&AesGcm::Seal>("seal"),
                         InstanceMethod<&AesGcm::Open>("open"),
                         InstanceMethod<&AesGcm::SealAt>("sealAt"),
                         InstanceMethod<&AesGcm::OpenAt>("openAt"),
                         InstanceMethod<&AesGcm::SealBatch>("sealBatch"),
                         InstanceMethod<&AesGcm::OpenBatch>("openBatch"),
                         InstanceMethod<&AesGcm::Dispose>("dispose"),
                         InstanceAccessor<&AesGcm::KeyBits>("keyBits"),
                     });
}

// new AesGcm(keyAndSalt: Uint8Array) — AES key (16 or 32 bytes) ‖ 4-byte salt.
AesGcm::AesGcm(const Napi::CallbackInfo& info) : Napi::ObjectWrap<AesGcm>(info) {
  Napi::Env env = info.Env();
  uint8_t* km = nullptr;
  size_t kmLen = 0;
  if (info.Length() < 1 || !Bytes(info, 0, &km, &kmLen)) {
    if (!env.IsExceptionPending()) Napi::TypeError::New(env, "AesGcm(keyAndSalt: Uint8Array)").ThrowAsJavaScriptException();
    return;
  }
  size_t keyLen = kmLen - kSaltLen;
  if (kmLen < kSaltLen || (keyLen != 16 && keyLen != 32)) {
    Napi::RangeError::New(env, "AES-GCM key material must be 20 or 36 bytes (key ‖ 4-byte salt)").ThrowAsJavaScriptException();
    return;
  }
  const EVP_CIPHER* cipher = keyLen == 16 ? EVP_aes_128_gcm() : EVP_aes_256_gcm();
  enc_ = EVP_CIPHER_CTX_new();
  dec_ = EVP_CIPHER_CTX_new();
  // The key schedule is computed here, once; per packet only the nonce changes. The 12-byte nonce
  // is GCM's default IV length, so no EVP_CTRL_GCM_SET_IVLEN is needed.
  if (enc_ == nullptr || dec_ == nullptr || EVP_EncryptInit_ex(enc_, cipher, nullptr, km, nullptr) != 1 ||
      EVP_DecryptInit_ex(dec_, cipher, nullptr, km, nullptr) != 1) {
    Free();
    Napi::Error::New(env, "OpenSSL could not set up AES-GCM").ThrowAsJavaScriptException();
    return;
  }
  std::memcpy(nonce_, km + keyLen, kSaltLen);
  key_bits_ = static_cast<int>(keyLen * 8);
}

AesGcm::~AesGcm() { Free(); }

// EVP_CIPHER_CTX_free cleanses the key schedule it holds; the salt is ours to wipe.
void AesGcm::Free() {
  if (enc_ != nullptr) EVP_CIPHER_CTX_free(enc_);
  if (dec_ != nullptr) EVP_CIPHER_CTX_free(dec_);
  enc_ = nullptr;
  dec_ = nullptr;
  OPENSSL_cleanse(nonce_, sizeof nonce_);
  if (!scratch_.empty()) OPENSSL_cleanse(scratch_.data(), scratch_.size());
}

Napi::Value AesGcm::Dispose(const Napi::CallbackInfo& info) {
  Free();
  return info.Env().Undefined();
}

Napi::Value AesGcm::KeyBits(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), key_bits_); }

const uint8_t* AesGcm::Unalias(const uint8_t* in, size_t len, const uint8_t* out) {
  if (in == out || !Overlap(in, len, out, len)) return in;
  if (scratch_.size() < len) scratch_.resize(len);
  std::memcpy(scratch_.data(), in, len);
  return scratch_.data();
}

// Per packet, OpenSSL 3 is asked as little as it allows: EVP_EncryptInit_ex with an IV asks the
// provider for the IV length first (a parameter lookup by name, not cached in 3.0), and every
// EVP_CIPHER_CTX_ctrl is turned into such a lookup. So the nonce goes in as the whole "fixed IV"
// (length -1: GCM's documented whole-IV restore, which also marks it for use by the next update),
// and on open it travels in the same parameter call as the expected tag.
bool AesGcm::SetNonce(EVP_CIPHER_CTX* ctx, const uint8_t* iv, const uint8_t* tag) {
  std::memcpy(nonce_ + kSaltLen, iv, kIvLen);
  OSSL_PARAM params[3] = {
      OSSL_PARAM_construct_octet_string(OSSL_CIPHER_PARAM_AEAD_TLS1_IV_FIXED, nonce_, static_cast<size_t>(-1)),
      OSSL_PARAM_construct_end(),
      OSSL_PARAM_construct_end(),
  };
  if (tag != nullptr) params[1] = OSSL_PARAM_construct_octet_string(OSSL_CIPHER_PARAM_AEAD_TAG, const_cast<uint8_t*>(tag), kIcvLen);
  return EVP_CIPHER_CTX_set_params(ctx, params) == 1;
}

bool AesGcm::SealRaw(const uint8_t* iv, const uint8_t* aad, size_t aadLen, const uint8_t* in, size_t len, uint8_t* out) {
  in = Unalias(in, len, out);
  int n = 0;
  int fin = 0;
  if (!SetNonce(enc_, iv, nullptr)) return false;
  if (aadLen > 0 && EVP_EncryptUpdate(enc_, nullptr, &n, aad, static_cast<int>(aadLen)) != 1) return false;
  if (len > 0 && EVP_EncryptUpdate(enc_, out, &n, in, static_cast<int>(len)) != 1) return false;
  if (EVP_EncryptFinal_ex(enc_, out + len, &fin) != 1) return false;
  OSSL_PARAM params[2] = {OSSL_PARAM_construct_octet_string(OSSL_CIPHER_PARAM_AEAD_TAG, out + len, kIcvLen),
                          OSSL_PARAM_construct_end()};
  return EVP_CIPHER_CTX_get_params(enc_, params) == 1;
}

bool AesGcm::OpenRaw(const uint8_t* iv, const uint8_t* aad, size_t aadLen, const uint8_t* in, size_t len,
                     const uint8_t* icv, uint8_t* out) {
  // The tag is copied before any output is written: with in-place decryption it may sit right
  // after the ciphertext, inside what `out` covers.
  uint8_t tag[kIcvLen];
  std::memcpy(tag, icv, kIcvLen);
  in = Unalias(in, len, out);
  int n = 0;
  int fin = 0;
  bool ok = SetNonce(dec_, iv, tag) &&
            (aadLen == 0 || EVP_DecryptUpdate(dec_, nullptr, &n, aad, static_cast<int>(aadLen)) == 1) &&
            (len == 0 || EVP_DecryptUpdate(dec_, out, &n, in, static_cast<int>(len)) == 1) &&
            EVP_DecryptFinal_ex(dec_, out + len, &fin) == 1;
  // Unauthenticated plaintext must not be left where a caller might read it.
  if (!ok && len > 0) OPENSSL_cleanse(out, len);
  return ok;
}

// seal(iv, aad, plaintext, out, outOffset) → plaintext.length + 16
Napi::Value AesGcm::Seal(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint8_t *iv, *aad, *pt, *out;
  size_t ivLen, aadLen, ptLen, outLen, off;
  if (info.Length() < 5 || !Bytes(info, 0, &iv, &ivLen) || !Bytes(info, 1, &aad, &aadLen) || !Bytes(info, 2, &pt, &ptLen) ||
      !Bytes(info, 3, &out, &outLen) || !Offset(info, 4, &off)) {
    if (!env.IsExceptionPending()) Napi::TypeError::New(env, "seal(iv, aad, plaintext, out, outOffset)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  if (enc_ == nullptr) {
    Napi::Error::New(env, "AesGcm used after dispose()").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  if (ivLen != kIvLen) {
    Napi::RangeError::New(env, "ESP IV must be 8 bytes, got " + std::to_string(ivLen)).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  if (ptLen > kMaxLen || aadLen > kMaxLen) {
    Napi::RangeError::New(env, "plaintext or AAD too long for AES-GCM here").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  if (off > outLen || outLen - off < ptLen + kIcvLen) {
    Napi::RangeError::New(env, "output buffer too small: " + std::to_string(ptLen + kIcvLen) + " bytes needed at offset " +
                                   std::to_string(off) + " of " + std::to_string(outLen))
        .ThrowAsJavaScriptException();
    return env.Undefined();
  }
  if (!SealRaw(iv, aad, aadLen, pt, ptLen, out + off)) {
    Napi::Error::New(env, "OpenSSL AES-GCM encryption failed").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  return Napi::Number::New(env, static_cast<double>(ptLen + kIcvLen));
}

// open(iv, aad, ciphertext, icv, out, outOffset) → ciphertext.length, or -1 when the ICV fails
Napi::Value AesGcm::Open(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint8_t *iv, *aad, *ct, *icv, *out;
  size_t ivLen, aadLen, ctLen, icvLen, outLen, off;
  if (info.Length() < 6 || !Bytes(info, 0, &iv, &ivLen) || !Bytes(info, 1, &aad, &aadLen) || !Bytes(info, 2, &ct, &ctLen) ||
      !Bytes(info, 3, &icv, &icvLen) || !Bytes(info, 4, &out, &outLen) || !Offset(info, 5, &off)) {
    if (!env.IsExceptionPending()) Napi::TypeError::New(env, "open(iv, aad, ciphertext, icv, out, outOffset)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  if (dec_ == nullptr) {
    Napi::Error::New(env, "AesGcm used after dispose()").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  // Packet-derived lengths that do not fit are a forgery or a framing bug: refuse, never guess.
  if (icvLen != kIcvLen || ivLen != kIvLen || ctLen > kMaxLen || aadLen > kMaxLen) return Napi::Number::New(env, -1);
  if (off > outLen || outLen - off < ctLen) {
    Napi::RangeError::New(env, "output buffer too small: " + std::to_string(ctLen) + " bytes needed at offset " +
                                   std::to_string(off) + " of " + std::to_string(outLen))
        .ThrowAsJavaScriptException();
    return env.Undefined();
  }
  bool ok = OpenRaw(iv, aad, aadLen, ct, ctLen, icv, out + off);
  return Napi::Number::New(env, ok ? static_cast<double>(ctLen) : -1);
}

namespace {

// `count` offset/length arguments from index `first` on; false with an exception pending.
bool Offsets(const Napi::CallbackInfo& info, size_t first, size_t count, size_t* out) {
  for (size_t k = 0; k < count; k++) {
    if (!Offset(info, first + k, &out[k])) return false;
  }
  return true;
}

bool Fits(size_t off, size_t len, size_t size) { return off <= size && len <= size - off; }

}  // namespace

// sealAt(ivBuf, ivOffset, aad, aadLength, in, inOffset, inLength, out, outOffset) → inLength + 16.
// seal() on spans given as offsets, so the per-packet call creates no typed-array views.
Napi::Value AesGcm::SealAt(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint8_t *ivb, *aad, *in, *out;
  size_t ivbLen, aadBufLen, inBufLen, outBufLen;
  size_t o[5];  // ivOffset, aadLength, inOffset, inLength, outOffset (args 1, 3, 5, 6, 8)
  if (info.Length() < 9 || !Bytes(info, 0, &ivb, &ivbLen) || !Offset(info, 1, &o[0]) || !Bytes(info, 2, &aad, &aadBufLen) ||
      !Offset(info, 3, &o[1]) || !Bytes(info, 4, &in, &inBufLen) || !Offsets(info, 5, 2, &o[2]) ||
      !Bytes(info, 7, &out, &outBufLen) || !Offset(info, 8, &o[4])) {
    if (!env.IsExceptionPending()) Napi::TypeError::New(env, "sealAt(ivBuf, ivOffset, aad, aadLength, in, inOffset, inLength, out, outOffset)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  if (enc_ == nullptr) {
    Napi::Error::New(env, "AesGcm used after dispose()").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  if (!Fits(o[0], kIvLen, ivbLen) || !Fits(0, o[1], aadBufLen) || !Fits(o[2], o[3], inBufLen) || o[3] > kMaxLen ||
      !Fits(o[4], o[3] + kIcvLen, outBufLen)) {
    Napi::RangeError::New(env, "sealAt: a span lies outside its buffer").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  if (!SealRaw(ivb + o[0], aad, o[1], in + o[2], o[3], out + o[4])) {
    Napi::Error::New(env, "OpenSSL AES-GCM encryption failed").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  return Napi::Number::New(env, static_cast<double>(o[3] + kIcvLen));
}

// openAt(buf, ivOffset, aad, aadLength, ctOffset, ctLength, icvOffset, out, outOffset) → ctLength,
// or -1 when the ICV does not verify (or a span of `buf`, which comes from a packet, does not fit).
Napi::Value AesGcm::OpenAt(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint8_t *buf, *aad, *out;
  size_t bufLen, aadBufLen, outBufLen;
  size_t o[6];  // ivOffset, aadLength, ctOffset, ctLength, icvOffset, outOffset
  if (info.Length() < 9 || !Bytes(info, 0, &buf, &bufLen) || !Offset(info, 1, &o[0]) || !Bytes(info, 2, &aad, &aadBufLen) ||
      !Offsets(info, 3, 4, &o[1]) || !Bytes(info, 7, &out, &outBufLen) || !Offset(info, 8, &o[5])) {
    if (!env.IsExceptionPending()) Napi::TypeError::New(env, "openAt(buf, ivOffset, aad, aadLength, ctOffset, ctLength, icvOffset, out, outOffset)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  if (dec_ == nullptr) {
    Napi::Error::New(env, "AesGcm used after dispose()").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  if (!Fits(0, o[1], aadBufLen)) {
    Napi::RangeError::New(env, "openAt: aadLength exceeds the AAD buffer").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  if (!Fits(o[0], kIvLen, bufLen) || !Fits(o[2], o[3], bufLen) || !Fits(o[4], kIcvLen, bufLen) || o[3] > kMaxLen) {
    return Napi::Number::New(env, -1);
  }
  if (!Fits(o[5], o[3], outBufLen)) {
    Napi::RangeError::New(env, "output buffer too small: " + std::to_string(o[3]) + " bytes needed at offset " + std::to_string(o[5]) +
                                   " of " + std::to_string(outBufLen))
        .ThrowAsJavaScriptException();
    return env.Undefined();
  }
  bool ok = OpenRaw(buf + o[0], aad, o[1], buf + o[2], o[3], buf + o[4], out + o[5]);
  return Napi::Number::New(env, ok ? static_cast<double>(o[3]) : -1);
}

// sealBatch(buf, count, desc: Uint32Array) → packets sealed
// One crossing for several packets that all live in `buf`. desc holds 6 words per packet:
// ivOffset, aadOffset, aadLength, inOffset, inLength, outOffset (ciphertext ‖ ICV written there).
// Stops at the first descriptor that does not fit `buf` and returns its index.
Napi::Value AesGcm::SealBatch(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint8_t* buf;
  size_t bufLen;
  if (info.Length() < 3 || !Bytes(info, 0, &buf, &bufLen) || !info[1].IsNumber() || !info[2].IsTypedArray()) {
    if (!env.IsExceptionPending()) Napi::TypeError::New(env, "sealBatch(buf, count, desc: Uint32Array)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Napi::Uint32Array desc = info[2].As<Napi::Uint32Array>();
  if (enc_ == nullptr) {
    Napi::Error::New(env, "AesGcm used after dispose()").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  size_t count = info[1].As<Napi::Number>().Uint32Value();
  if (desc.TypedArrayType() != napi_uint32_array || count * 6 > desc.ElementLength()) {
    Napi::RangeError::New(env, "desc must be a Uint32Array of 6 words per packet").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  const uint32_t* d = desc.Data();
  size_t i = 0;
  for (; i < count; i++, d += 6) {
    size_t ivOff = d[0], aadOff = d[1], aadLen = d[2], inOff = d[3], inLen = d[4], outOff = d[5];
    if (inLen > kMaxLen || ivOff + kIvLen > bufLen || aadOff + aadLen > bufLen || inOff + inLen > bufLen ||
        outOff + inLen + kIcvLen > bufLen)
      break;
    if (!SealRaw(buf + ivOff, buf + aadOff, aadLen, buf + inOff, inLen, buf + outOff)) break;
  }
  return Napi::Number::New(env, static_cast<double>(i));
}

// openBatch(buf, count, desc: Uint32Array, results: Int32Array) → packets looked at
// desc as for sealBatch (ivOffset, aadOffset, aadLength, inOffset, inLength, outOffset); the ICV
// follows the ciphertext. results[i] is the plaintext length, or -1 when the ICV failed.
Napi::Value AesGcm::OpenBatch(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint8_t* buf;
  size_t bufLen;
  if (info.Length() < 4 || !Bytes(info, 0, &buf, &bufLen) || !info[1].IsNumber() || !info[2].IsTypedArray() ||
      !info[3].IsTypedArray()) {
    if (!env.IsExceptionPending())
      Napi::TypeError::New(env, "openBatch(buf, count, desc: Uint32Array, results: Int32Array)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Napi::TypedArray descT = info[2].As<Napi::TypedArray>();
  Napi::TypedArray resT = info[3].As<Napi::TypedArray>();
  size_t count = info[1].As<Napi::Number>().Uint32Value();
  if (descT.TypedArrayType() != napi_uint32_array || resT.TypedArrayType() != napi_int32_array ||
      count * 6 > descT.ElementLength() || count > resT.ElementLength()) {
    Napi::RangeError::New(env, "desc must be a Uint32Array of 6 words per packet, results an Int32Array").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  if (dec_ == nullptr) {
    Napi::Error::New(env, "AesGcm used after dispose()").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  const uint32_t* d = descT.As<Napi::Uint32Array>().Data();
  int32_t* res = resT.As<Napi::Int32Array>().Data();
  size_t i = 0;
  for (; i < count; i++, d += 6) {
    size_t ivOff = d[0], aadOff = d[1], aadLen = d[2], inOff = d[3], inLen = d[4], outOff = d[5];
    if (inLen > kMaxLen || ivOff + kIvLen > bufLen || aadOff + aadLen > bufLen || inOff + inLen + kIcvLen > bufLen ||
        outOff + inLen > bufLen)
      break;
    res[i] = OpenRaw(buf + ivOff, buf + aadOff, aadLen, buf + inOff, inLen, buf + inOff + inLen, buf + outOff) ? static_cast<int32_t>(inLen) : -1;
  }
  return Napi::Number::New(env, static_cast<double>(i));
}
