// AES-GCM (RFC 4106 form: 16-byte ICV, nonce = 4-byte salt ‖ 8-byte IV) with one OpenSSL cipher
// context per key and direction, created once and reused for every packet: only the nonce is
// reset per call. Node's own OpenSSL (its exported EVP_* symbols) does the work.
#pragma once
#include <napi.h>
#include <openssl/evp.h>

#include <cstdint>
#include <vector>

class AesGcm : public Napi::ObjectWrap<AesGcm> {
 public:
  static Napi::Function Define(Napi::Env env);
  explicit AesGcm(const Napi::CallbackInfo& info);
  ~AesGcm() override;

 private:
  Napi::Value Seal(const Napi::CallbackInfo& info);
  Napi::Value Open(const Napi::CallbackInfo& info);
  Napi::Value SealAt(const Napi::CallbackInfo& info);
  Napi::Value OpenAt(const Napi::CallbackInfo& info);
  Napi::Value SealBatch(const Napi::CallbackInfo& info);
  Napi::Value OpenBatch(const Napi::CallbackInfo& info);
  Napi::Value Dispose(const Napi::CallbackInfo& info);
  Napi::Value KeyBits(const Napi::CallbackInfo& info);

  // The cipher work itself, on raw spans; false on an OpenSSL failure (seal) or a bad tag (open).
  bool SealRaw(const uint8_t* iv, const uint8_t* aad, size_t aadLen, const uint8_t* in, size_t len, uint8_t* out);
  bool OpenRaw(const uint8_t* iv, const uint8_t* aad, size_t aadLen, const uint8_t* in, size_t len,
               const uint8_t* icv, uint8_t* out);
  // Puts salt ‖ iv in as the packet's nonce (and, when opening, the expected tag) in one call.
  bool SetNonce(EVP_CIPHER_CTX* ctx, const uint8_t* iv, const uint8_t* tag);
  // When `in` and `out` overlap but are not the same address, GCM cannot run in place: copy the
  // input aside first (the scratch grows once to the largest packet seen, never per packet).
  const uint8_t* Unalias(const uint8_t* in, size_t len, const uint8_t* out);
  void Free();

  EVP_CIPHER_CTX* enc_ = nullptr;
  EVP_CIPHER_CTX* dec_ = nullptr;
  uint8_t nonce_[12] = {0};  // salt in [0,4), the packet IV written into [4,12) per call
  int key_bits_ = 0;
  std::vector<uint8_t> scratch_;
};
