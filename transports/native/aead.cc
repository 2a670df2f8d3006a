// ChaCha20-Poly1305 (RFC 8439) in place, through the OpenSSL that Node itself links and exports:
// WireGuard's data path (apps/wireguard) seals and opens one packet per call. node:crypto makes a
// Cipher object and output Buffers on every call and its per-call cost is most of a packet's
// (bench/wireguard-aead.bench.ts); here one EVP context per direction is set up once, each call
// only sets key and nonce, and nothing is allocated on the JavaScript heap.
//
// JavaScript API (main thread only; the contexts are shared):
//   seal(key, nonce, ad | null, buf, offset, length): void   encrypts buf[offset, +length) in
//       place and writes the 16-byte tag after it; throws TypeError on bad arguments.
//   open(key, nonce, ad | null, buf, offset, length): boolean  length includes the tag; decrypts
//       in place; false if the tag does not verify or the arguments are bad (bytes unspecified).
#include <napi.h>
#include <openssl/evp.h>

namespace {

constexpr size_t KEY_LENGTH = 32;
constexpr size_t NONCE_LENGTH = 12;
constexpr size_t TAG_LENGTH = 16;

EVP_CIPHER_CTX* sealContext = nullptr;
EVP_CIPHER_CTX* openContext = nullptr;

struct Args {
  const uint8_t* key;
  const uint8_t* nonce;
  const uint8_t* ad;
  size_t adLength;
  uint8_t* data;
  size_t length;
};

// Reads and checks the six arguments; `extra` bytes after the data must also fit (the tag for seal).
bool ReadArgs(const Napi::CallbackInfo& info, size_t extra, Args& a) {
  if (info.Length() < 6 || !info[0].IsTypedArray() || !info[1].IsTypedArray() || !info[3].IsTypedArray()
      || !info[4].IsNumber() || !info[5].IsNumber()) {
    return false;
  }
  Napi::Uint8Array key = info[0].As<Napi::Uint8Array>();
  Napi::Uint8Array nonce = info[1].As<Napi::Uint8Array>();
  Napi::Uint8Array buf = info[3].As<Napi::Uint8Array>();
  if (key.TypedArrayType() != napi_uint8_array || nonce.TypedArrayType() != napi_uint8_array || buf.TypedArrayType() != napi_uint8_array) return false;
  if (key.ByteLength() != KEY_LENGTH || nonce.ByteLength() != NONCE_LENGTH) return false;
  double offset = info[4].As<Napi::Number>().DoubleValue();
  double length = info[5].As<Napi::Number>().DoubleValue();
  if (!(offset >= 0) || !(length >= 0) || offset + length + extra > static_cast<double>(buf.ByteLength())) return false;
  a.key = key.Data();
  a.nonce = nonce.Data();
  a.ad = nullptr;
  a.adLength = 0;
  if (info[2].IsTypedArray()) {
    Napi::Uint8Array ad = info[2].As<Napi::Uint8Array>();
    if (ad.TypedArrayType() != napi_uint8_array) return false;
    a.ad = ad.Data();
    a.adLength = ad.ByteLength();
  } else if (!info[2].IsNull() && !info[2].IsUndefined()) {
    return false;
  }
  a.data = buf.Data() + static_cast<size_t>(offset);
  a.length = static_cast<size_t>(length);
  return true;
}

Napi::Value Seal(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Args a;
  if (!ReadArgs(info, TAG_LENGTH, a)) {
    Napi::TypeError::New(env, "seal(key: 32 bytes, nonce: 12 bytes, ad: Uint8Array | null, buf, offset, length): length + 16 bytes must fit in buf").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  int n = 0;
  bool ok = EVP_CipherInit_ex(sealContext, nullptr, nullptr, a.key, a.nonce, 1) == 1
    && (a.adLength == 0 || EVP_CipherUpdate(sealContext, nullptr, &n, a.ad, static_cast<int>(a.adLength)) == 1)
    && EVP_CipherUpdate(sealContext, a.data, &n, a.data, static_cast<int>(a.length)) == 1
    && EVP_CipherFinal_ex(sealContext, a.data + n, &n) == 1
    && EVP_CIPHER_CTX_ctrl(sealContext, EVP_CTRL_AEAD_GET_TAG, TAG_LENGTH, a.data + a.length) == 1;
  if (!ok) Napi::Error::New(env, "seal: OpenSSL refused ChaCha20-Poly1305").ThrowAsJavaScriptException();
  return env.Undefined();
}

Napi::Value Open(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Args a;
  if (!ReadArgs(info, 0, a) || a.length < TAG_LENGTH) return Napi::Boolean::New(env, false);
  size_t n = a.length - TAG_LENGTH;
  int outl = 0;
  bool ok = EVP_CipherInit_ex(openContext, nullptr, nullptr, a.key, a.nonce, 0) == 1
    && EVP_CIPHER_CTX_ctrl(openContext, EVP_CTRL_AEAD_SET_TAG, TAG_LENGTH, a.data + n) == 1
    && (a.adLength == 0 || EVP_CipherUpdate(openContext, nullptr, &outl, a.ad, static_cast<int>(a.adLength)) == 1)
    && EVP_CipherUpdate(openContext, a.data, &outl, a.data, static_cast<int>(n)) == 1
    && EVP_CipherFinal_ex(openContext, a.data + outl, &outl) == 1;
  return Napi::Boolean::New(env, ok);
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  if (!sealContext) {
    sealContext = EVP_CIPHER_CTX_new();
    openContext = EVP_CIPHER_CTX_new();
    if (!sealContext || !openContext
        || EVP_CipherInit_ex(sealContext, EVP_chacha20_poly1305(), nullptr, nullptr, nullptr, 1) != 1
        || EVP_CipherInit_ex(openContext, EVP_chacha20_poly1305(), nullptr, nullptr, nullptr, 0) != 1) {
      Napi::Error::New(env, "this Node's OpenSSL has no ChaCha20-Poly1305").ThrowAsJavaScriptException();
      return exports;
    }
  }
  exports.Set("seal", Napi::Function::New(env, Seal, "seal"));
  exports.Set("open", Napi::Function::New(env, Open, "open"));
  return exports;
}

}  // namespace

NODE_API_MODULE(wsk_aead, Init)
