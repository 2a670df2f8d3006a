// What every native link shares:
// - errors that carry errno's name to JavaScript (ThrowErrno);
// - network-namespace switching for the calling thread (setns(2) on CLONE_NEWNET): a socket
//   belongs to the namespace it was created in, so a link opened between enterNetns and
//   leaveNetns lives there for good while the rest of the process stays where it was (also used
//   around the raw-socket package's socket creation);
// - DeviceWatch: a device's index, MTU, MAC and up/down state, read through a socket of the
//   device's namespace (sysfs shows the process's own namespace, not the device's);
// - the plumbing of an addon that lends JavaScript a memory region and reads its socket from the
//   event loop (the AF_PACKET link, the kernel provider's datagram socket): options read from an
//   object, an anonymous mapping handed out as an external ArrayBuffer, a statistics array, a
//   uv_poll on a descriptor, and exceptions thrown by a callback the event loop ran.
#pragma once
#include <napi.h>
#include <uv.h>

#include <cstdint>
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

/** o[key] as a uint32, or dflt when it is not a number. */
uint32_t GetU32(Napi::Object o, const char* key, uint32_t dflt);

/**
 * An anonymous private mapping of `bytes` (MAP_NORESERVE: pages cost memory only once written),
 * or nullptr with errno set.
 */
uint8_t* MapRegion(size_t bytes);

/** The mapping as an ArrayBuffer that unmaps it when collected (views stay valid after the socket closes). */
Napi::ArrayBuffer RegionBuffer(Napi::Env env, uint8_t* base, size_t bytes);

/** A zeroed array of `count` doubles, set as self.stats (a Float64Array); returns its storage. */
double* StatsArray(Napi::Env env, Napi::Object self, size_t count);

/** A uv_poll on `fd` for `events`, started, with `data` as its data; nullptr (and a JS error thrown) if libuv refuses. */
uv_poll_t* StartPoll(Napi::Env env, int fd, int events, uv_poll_cb cb, void* data);

/** Stops and frees a poll StartPoll made (the handle is freed once libuv closed it); sets it to nullptr. */
void StopPoll(uv_poll_t*& poll);

/** After calling into JavaScript from a libuv callback: an exception it left is reported as uncaught (process 'uncaughtException'). */
void ReportPendingException(Napi::Env env);

/** Exports enterNetns(name) / leaveNetns() and the DeviceWatch class. */
void InitSupport(Napi::Env env, Napi::Object exports);

/** Exports the TunDevice class (transports/tun/tun.cc; built into the wsk_afpacket addon). */
void InitTun(Napi::Env env, Napi::Object exports);

}  // namespace wsk
