// What every native link shares:
// - errors that carry errno's name to JavaScript (ThrowErrno);
// - network-namespace switching for the calling thread (setns(2) on CLONE_NEWNET): a socket
//   belongs to the namespace it was created in, so a link opened between enterNetns and
//   leaveNetns lives there for good while the rest of the process stays where it was (also used
//   around the raw-socket package's socket creation);
// - DeviceWatch: a device's index, MTU, MAC and up/down state, read through a socket of the
//   device's namespace (sysfs shows the process's own namespace, not the device's).
#pragma once
#include <napi.h>

#include <string>

namespace wsk {

/** Throws a JavaScript Error carrying code (errno name), errno and syscall, and returns. */
void ThrowErrno(Napi::Env env, const char* syscall, int err, const char* detail = nullptr);

/**
 * The data pointer of typed array `from[key]` (which must be of `type` with at least minLength
 * elements); throws a TypeError/RangeError and returns false otherwise. ArrayBuffer() moves a
 * small array's storage off the V8 heap first, so the pointer stays valid while `from` is kept.
 */
template <typename T>
bool TypedArrayData(Napi::Env env, Napi::Object from, const char* key, napi_typedarray_type type, T** out, size_t* length,
                    size_t minLength = 0) {
  Napi::Value v = from.Get(key);
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != type) {
    Napi::TypeError::New(env, std::string("attach: ") + key + " has the wrong typed-array type").ThrowAsJavaScriptException();
    return false;
  }
  Napi::TypedArray ta = v.As<Napi::TypedArray>();
  if (ta.ElementLength() < minLength) {
    Napi::RangeError::New(env, std::string("attach: ") + key + " is too short").ThrowAsJavaScriptException();
    return false;
  }
  Napi::ArrayBuffer ab = ta.ArrayBuffer();
  *out = reinterpret_cast<T*>(static_cast<uint8_t*>(ab.Data()) + ta.ByteOffset());
  if (length) *length = ta.ElementLength();
  return true;
}

/** Exports enterNetns(name) / leaveNetns() and the DeviceWatch class. */
void InitSupport(Napi::Env env, Napi::Object exports);

}  // namespace wsk
