// See support.h. Only one level of entering a namespace is allowed: the saved namespace is the
// one to go back to.
#include "support.h"

#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <sched.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>

namespace wsk {

namespace {

int savedNs = -1;

const char* ErrnoName(int err) {
  const char* name = strerrorname_np(err);
  return name ? name : "EUNKNOWN";
}

Napi::Value EnterNetns(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString()) {
    Napi::TypeError::New(env, "enterNetns(name): name must be a string").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  std::string name = info[0].As<Napi::String>().Utf8Value();
  if (name.empty() || name.find('/') != std::string::npos || name == "." || name == "..") {
    Napi::TypeError::New(env, "enterNetns(name): a namespace name as `ip netns list` shows it, without '/'").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  if (savedNs >= 0) {
    Napi::Error::New(env, "enterNetns: already inside another namespace; call leaveNetns() first").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  int self = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
  if (self < 0) { ThrowErrno(env, "open /proc/thread-self/ns/net", errno); return env.Undefined(); }
  std::string path = "/run/netns/" + name;
  int target = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (target < 0) {
    int err = errno;
    close(self);
    ThrowErrno(env, "open", err, path.c_str());
    return env.Undefined();
  }
  if (setns(target, CLONE_NEWNET) != 0) {
    int err = errno;
    close(target);
    close(self);
    ThrowErrno(env, "setns", err, path.c_str());
    return env.Undefined();
  }
  close(target);
  savedNs = self;
  return env.Undefined();
}

Napi::Value LeaveNetns(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (savedNs < 0) return env.Undefined();
  int rc = setns(savedNs, CLONE_NEWNET);
  int err = errno;
  close(savedNs);
  savedNs = -1;
  if (rc != 0) ThrowErrno(env, "setns (back to the original namespace)", err);
  return env.Undefined();
}

// DeviceWatch(ifname): opened in the device's namespace (inside enterNetns); fails with ENODEV
// when there is no such device. state() gives IFF_* flags, or -ENODEV once the device is gone
// (also when a new device took its name: it has another index).
class DeviceWatch : public Napi::ObjectWrap<DeviceWatch> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "DeviceWatch", {
      InstanceMethod("state", &DeviceWatch::State),
      InstanceMethod("close", &DeviceWatch::Close),
    });
  }

  DeviceWatch(const Napi::CallbackInfo& info) : Napi::ObjectWrap<DeviceWatch>(info) {
    Napi::Env env = info.Env();
    std::string name = info[0].ToString().Utf8Value();
    if (name.empty() || name.size() >= IFNAMSIZ) {
      Napi::TypeError::New(env, "DeviceWatch: a device name of 1 to 15 characters").ThrowAsJavaScriptException();
      return;
    }
    memcpy(name_, name.data(), name.size() + 1);
    fd_ = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0) { ThrowErrno(env, "socket", errno); return; }
    struct ifreq ifr;
    if (!Query(SIOCGIFINDEX, &ifr)) { Fail(env, "SIOCGIFINDEX"); return; }
    index_ = ifr.ifr_ifindex;
    if (!Query(SIOCGIFMTU, &ifr)) { Fail(env, "SIOCGIFMTU"); return; }
    int mtu = ifr.ifr_mtu;
    if (!Query(SIOCGIFHWADDR, &ifr)) { Fail(env, "SIOCGIFHWADDR"); return; }
    const uint8_t* m = reinterpret_cast<const uint8_t*>(ifr.ifr_hwaddr.sa_data);
    bool ethernet = ifr.ifr_hwaddr.sa_family == ARPHRD_ETHER;
    Napi::Object self = info.This().As<Napi::Object>();
    self.Set("ifindex", Napi::Number::New(env, index_));
    self.Set("mtu", Napi::Number::New(env, mtu));
    self.Set("ethernet", Napi::Boolean::New(env, ethernet));
    self.Set("macHi", Napi::Number::New(env, ethernet ? (m[0] << 8) | m[1] : 0));
    self.Set("macLo", Napi::Number::New(env, ethernet ? (static_cast<uint32_t>(m[2]) << 24) | (m[3] << 16) | (m[4] << 8) | m[5] : 0));
  }

  ~DeviceWatch() override { if (fd_ >= 0) close(fd_); }

 private:
  bool Query(unsigned long request, struct ifreq* ifr) {
    memset(ifr, 0, sizeof *ifr);
    memcpy(ifr->ifr_name, name_, sizeof name_);
    return ioctl(fd_, request, ifr) == 0;
  }

  void Fail(Napi::Env env, const char* what) {
    int err = errno;
    close(fd_);
    fd_ = -1;
    ThrowErrno(env, what, err, name_);
  }

  Napi::Value State(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (fd_ < 0) return Napi::Number::New(env, -EBADF);
    struct ifreq ifr;
    if (!Query(SIOCGIFINDEX, &ifr)) return Napi::Number::New(env, -errno);
    if (ifr.ifr_ifindex != index_) return Napi::Number::New(env, -ENODEV);
    if (!Query(SIOCGIFFLAGS, &ifr)) return Napi::Number::New(env, -errno);
    return Napi::Number::New(env, ifr.ifr_flags & 0xffff);
  }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    if (fd_ >= 0) close(fd_);
    fd_ = -1;
    return info.Env().Undefined();
  }

  int fd_ = -1;
  int index_ = 0;
  char name_[IFNAMSIZ] = {0};
};

}  // namespace

void ThrowErrno(Napi::Env env, const char* syscall, int err, const char* detail) {
  std::string msg = std::string(syscall) + (detail ? std::string(" ") + detail : std::string()) + ": " + strerror(err);
  Napi::Error e = Napi::Error::New(env, msg);
  e.Set("code", Napi::String::New(env, ErrnoName(err)));
  e.Set("errno", Napi::Number::New(env, err));
  e.Set("syscall", Napi::String::New(env, syscall));
  e.ThrowAsJavaScriptException();
}

uint32_t GetU32(Napi::Object o, const char* key, uint32_t dflt) {
  Napi::Value v = o.Get(key);
  return v.IsNumber() ? v.As<Napi::Number>().Uint32Value() : dflt;
}

uint8_t* MapRegion(size_t bytes) {
  void* region = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  return region == MAP_FAILED ? nullptr : static_cast<uint8_t*>(region);
}

Napi::ArrayBuffer RegionBuffer(Napi::Env env, uint8_t* base, size_t bytes) {
  return Napi::ArrayBuffer::New(env, base, bytes, [bytes](Napi::Env, void* data) { munmap(data, bytes); });
}

double* StatsArray(Napi::Env env, Napi::Object self, size_t count) {
  Napi::ArrayBuffer buffer = Napi::ArrayBuffer::New(env, count * sizeof(double));
  double* stats = static_cast<double*>(buffer.Data());
  memset(stats, 0, count * sizeof(double));
  self.Set("stats", Napi::Float64Array::New(env, count, buffer, 0));
  return stats;
}

uv_poll_t* StartPoll(Napi::Env env, int fd, int events, uv_poll_cb cb, void* data) {
  uv_loop_t* loop = nullptr;
  napi_get_uv_event_loop(env, &loop);
  uv_poll_t* poll = new uv_poll_t;
  int rc = uv_poll_init(loop, poll, fd);
  if (rc == 0) {
    poll->data = data;
    rc = uv_poll_start(poll, events, cb);
    if (rc != 0) { StopPoll(poll); }
  } else {
    delete poll;
    poll = nullptr;
  }
  if (rc != 0) { ThrowErrno(env, "uv_poll", -rc); return nullptr; }
  return poll;
}

void StopPoll(uv_poll_t*& poll) {
  if (!poll) return;
  uv_poll_stop(poll);
  uv_close(reinterpret_cast<uv_handle_t*>(poll), [](uv_handle_t* h) { delete reinterpret_cast<uv_poll_t*>(h); });
  poll = nullptr;
}

void ReportPendingException(Napi::Env env) {
  if (env.IsExceptionPending()) {
    Napi::Error e = env.GetAndClearPendingException();
    napi_fatal_exception(env, e.Value());
  }
}

void InitSupport(Napi::Env env, Napi::Object exports) {
  exports.Set("enterNetns", Napi::Function::New(env, EnterNetns, "enterNetns"));
  exports.Set("leaveNetns", Napi::Function::New(env, LeaveNetns, "leaveNetns"));
  exports.Set("DeviceWatch", DeviceWatch::Define(env));
}

}  // namespace wsk
