// A TUN device (Linux's Documentation/networking/tuntap.rst): /dev/net/tun opened non-blocking
// and attached with TUNSETIFF as IFF_TUN | IFF_NO_PI, so each read(2) is one bare IP packet the
// host routed into the device and each write(2) one packet the host receives from it. Built into
// the wsk_afpacket addon (it shares that addon's event-loop plumbing, support.h).
//
// JavaScript side (transports/tun/tun-device.ts): new TunDevice(name) opens it (the kernel may
// pick the name: read .name); start(onReadable) calls onReadable() from the event loop whenever
// the descriptor is readable; read(buf, offset) returns the packet's length, or -errno (-EAGAIN
// when nothing is left); write(buf, offset, length) returns the bytes written or -errno; close().
// Nothing here throws after the constructor: errors come back as -errno for the caller to count.
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "../native/support.h"

namespace wsk {
namespace {

class TunDevice : public Napi::ObjectWrap<TunDevice> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "TunDevice", {
      InstanceAccessor<&TunDevice::Name>("name"),
      InstanceMethod<&TunDevice::Start>("start"),
      InstanceMethod<&TunDevice::Read>("read"),
      InstanceMethod<&TunDevice::Write>("write"),
      InstanceMethod<&TunDevice::Close>("close"),
    });
  }

  explicit TunDevice(const Napi::CallbackInfo& info) : Napi::ObjectWrap<TunDevice>(info) {
    Napi::Env env = info.Env();
    std::string name = info[0].IsString() ? info[0].As<Napi::String>().Utf8Value() : "";
    if (name.size() >= IFNAMSIZ) { Napi::RangeError::New(env, "TunDevice: the name is longer than 15 bytes").ThrowAsJavaScriptException(); return; }
    fd_ = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
    if (fd_ < 0) { ThrowErrno(env, "open", errno, "/dev/net/tun"); return; }
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
    memcpy(ifr.ifr_name, name.data(), name.size());
    if (ioctl(fd_, TUNSETIFF, &ifr) != 0) {
      int err = errno;
      ::close(fd_);
      fd_ = -1;
      ThrowErrno(env, "ioctl", err, "TUNSETIFF");
      return;
    }
    name_ = std::string(ifr.ifr_name, strnlen(ifr.ifr_name, IFNAMSIZ));
  }

 private:
  Napi::Value Name(const Napi::CallbackInfo& info) { return Napi::String::New(info.Env(), name_); }

  Napi::Value Start(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (fd_ < 0 || poll_ || !info[0].IsFunction()) { Napi::TypeError::New(env, "TunDevice.start(onReadable) on an open device, once").ThrowAsJavaScriptException(); return env.Undefined(); }
    onReadable_ = Napi::Persistent(info[0].As<Napi::Function>());
    poll_ = StartPoll(env, fd_, UV_READABLE, OnPoll, this);
    if (!poll_) return env.Undefined();
    Ref();  // alive while polling; Unref in Close
    return env.Undefined();
  }

  static void OnPoll(uv_poll_t* handle, int, int) {
    auto* self = static_cast<TunDevice*>(handle->data);
    if (self->fd_ < 0) return;
    Napi::Env env = self->Env();
    Napi::HandleScope scope(env);
    self->onReadable_.Call({});
    ReportPendingException(env);
  }

  /** The bytes of `info[0]` (a Uint8Array) from `info[1]`, or false with a -EINVAL result. */
  static bool Bytes(const Napi::CallbackInfo& info, uint8_t** data, size_t* length) {
    if (!info[0].IsTypedArray()) return false;
    Napi::Uint8Array a = info[0].As<Napi::Uint8Array>();
    size_t offset = info[1].IsNumber() ? info[1].As<Napi::Number>().Uint32Value() : 0;
    if (offset > a.ByteLength()) return false;
    *data = a.Data() + offset;
    *length = a.ByteLength() - offset;
    return true;
  }

  Napi::Value Read(const Napi::CallbackInfo& info) {
    uint8_t* data;
    size_t room;
    if (fd_ < 0) return Napi::Number::New(info.Env(), -EBADF);
    if (!Bytes(info, &data, &room)) return Napi::Number::New(info.Env(), -EINVAL);
    ssize_t n = ::read(fd_, data, room);
    return Napi::Number::New(info.Env(), n < 0 ? -errno : static_cast<double>(n));
  }

  Napi::Value Write(const Napi::CallbackInfo& info) {
    uint8_t* data;
    size_t room;
    if (fd_ < 0) return Napi::Number::New(info.Env(), -EBADF);
    if (!Bytes(info, &data, &room)) return Napi::Number::New(info.Env(), -EINVAL);
    size_t length = info[2].IsNumber() ? info[2].As<Napi::Number>().Uint32Value() : room;
    if (length > room) return Napi::Number::New(info.Env(), -EINVAL);
    ssize_t n = ::write(fd_, data, length);
    return Napi::Number::New(info.Env(), n < 0 ? -errno : static_cast<double>(n));
  }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    if (poll_) { StopPoll(poll_); Unref(); }
    if (fd_ >= 0) { ::close(fd_); fd_ = -1; }
    onReadable_.Reset();
    return info.Env().Undefined();
  }

  int fd_ = -1;
  std::string name_;
  uv_poll_t* poll_ = nullptr;
  Napi::FunctionReference onReadable_;
};

}  // namespace

void InitTun(Napi::Env env, Napi::Object exports) {
  exports.Set("TunDevice", TunDevice::Define(env));
}

}  // namespace wsk
