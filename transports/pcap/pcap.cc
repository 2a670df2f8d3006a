// libpcap link, native half: live capture and injection on any device libpcap opens, feeding the
// userspace stack's ring in batches. pcap-link.ts is the JavaScript half and states the contract.
//
// Why our own addon and not the `pcap` npm package: that package calls JavaScript once per
// packet with its own reused buffer (a copy into JavaScript memory plus one call and one Buffer
// per frame) and has no inject path; the ring contract is one call per batch, written straight
// into the stack's slots. Here pcap_dispatch's callback copies each frame once, in C, into a
// free slot of the stack's arena that JavaScript set aside; JavaScript is called once per batch.
//
// Capture runs in immediate mode (libpcap then uses a per-frame TPACKET_V2 ring, so no block
// timeout delays packets), non-blocking, woken by libuv polling pcap_get_selectable_fd.
// Injection is pcap_inject per frame (libpcap has no batch send on Linux); one JavaScript call
// sends a whole batch.
#include <napi.h>
#include <pcap/pcap.h>
#include <uv.h>

#include <errno.h>
#include <linux/if_packet.h>
#include <sys/socket.h>
#include <string.h>

#include <memory>
#include <string>

#include "../native/support.h"

namespace wsk {
namespace {

enum Stat {
  ST_RX_FRAMES, ST_RX_BYTES, ST_RX_TRUNCATED, ST_TX_FRAMES, ST_TX_BYTES, ST_TX_ERRORS, ST_TX_AGAIN, ST_TX_LAST_ERRNO,
  ST_WAKEUPS, ST_PCAP_RECV, ST_PCAP_DROP, ST_PCAP_IFDROP, ST_COUNT
};

class PcapHandle : public Napi::ObjectWrap<PcapHandle> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "PcapHandle", {
      InstanceMethod("attach", &PcapHandle::Attach),
      InstanceMethod("send", &PcapHandle::Send),
      InstanceMethod("resume", &PcapHandle::Resume),
      InstanceMethod("readStats", &PcapHandle::ReadStats),
      InstanceMethod("close", &PcapHandle::Close),
    });
  }

  PcapHandle(const Napi::CallbackInfo& info) : Napi::ObjectWrap<PcapHandle>(info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsObject()) {
      Napi::TypeError::New(env, "new PcapHandle(options)").ThrowAsJavaScriptException();
      return;
    }
    Napi::Object o = info[0].As<Napi::Object>();
    std::string ifname = o.Get("ifname").ToString().Utf8Value();
    bool promisc = o.Get("promiscuous").ToBoolean().Value();
    int bufferSize = o.Get("bufferSize").IsNumber() ? o.Get("bufferSize").As<Napi::Number>().Int32Value() : 32 << 20;
    char errbuf[PCAP_ERRBUF_SIZE] = {0};
    p_ = pcap_create(ifname.c_str(), errbuf);
    if (!p_) { Throw(env, "pcap_create", "EOPEN", errbuf); return; }
    pcap_set_snaplen(p_, 262144);
    pcap_set_promisc(p_, promisc ? 1 : 0);
    pcap_set_immediate_mode(p_, 1);
    pcap_set_buffer_size(p_, bufferSize);
    int rc = pcap_activate(p_);
    if (rc < 0) {
      const char* code = rc == PCAP_ERROR_PERM_DENIED ? "EPERM"
                       : rc == PCAP_ERROR_NO_SUCH_DEVICE ? "ENODEV"
                       : rc == PCAP_ERROR_IFACE_NOT_UP ? "ENETDOWN"
                       : "EOPEN";
      std::string msg = pcap_geterr(p_);
      pcap_close(p_);
      p_ = nullptr;
      Throw(env, "pcap_activate", code, msg.c_str());
      return;
    }
    if (pcap_datalink(p_) != DLT_EN10MB) {
      pcap_close(p_);
      p_ = nullptr;
      Throw(env, "pcap_datalink", "ENOTETHER", "not an Ethernet device");
      return;
    }
#ifdef PACKET_QDISC_BYPASS
    // Every frame is one pcap_inject (bench/pcap-inject-limit.c measures the ceiling this sets):
    // skipping the qdisc takes about a tenth off each, as the AF_PACKET link does. Best effort: a
    // libpcap whose socket is not AF_PACKET ignores it.
    {
      int one = 1;
      setsockopt(pcap_get_selectable_fd(p_), SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof one);
    }
#endif
    // Only what arrives: our own injected frames and the host's traffic on the device are not ours.
    pcap_setdirection(p_, PCAP_D_IN);
    if (pcap_setnonblock(p_, 1, errbuf) != 0) { Fail(env, "pcap_setnonblock", errbuf); return; }
    Napi::Value filter = o.Get("filter");
    if (filter.IsTypedArray()) {
      Napi::Uint8Array f = filter.As<Napi::Uint8Array>();
      struct bpf_program prog;
      prog.bf_len = static_cast<u_int>(f.ByteLength() / sizeof(struct bpf_insn));
      prog.bf_insns = reinterpret_cast<struct bpf_insn*>(f.Data());
      if (pcap_setfilter(p_, &prog) != 0) { Fail(env, "pcap_setfilter", pcap_geterr(p_)); return; }
    }
    fd_ = pcap_get_selectable_fd(p_);
    if (fd_ < 0) { Fail(env, "pcap_get_selectable_fd", "this device cannot be polled"); return; }
    Napi::ArrayBuffer statsBuffer = Napi::ArrayBuffer::New(env, ST_COUNT * sizeof(double));
    stats_ = static_cast<double*>(statsBuffer.Data());
    memset(stats_, 0, ST_COUNT * sizeof(double));
    info.This().As<Napi::Object>().Set("stats", Napi::Float64Array::New(env, ST_COUNT, statsBuffer, 0));
    info.This().As<Napi::Object>().Set("libpcap", Napi::String::New(env, pcap_lib_version()));
  }

  ~PcapHandle() override { CloseHandle(); }

 private:
  void Throw(Napi::Env env, const char* syscall, const char* code, const char* msg) {
    Napi::Error e = Napi::Error::New(env, std::string(syscall) + ": " + msg);
    e.Set("code", Napi::String::New(env, code));
    e.Set("syscall", Napi::String::New(env, syscall));
    e.ThrowAsJavaScriptException();
  }

  void Fail(Napi::Env env, const char* what, const char* msg) {
    std::string m = msg;
    CloseHandle();
    Throw(env, what, "EOPEN", m.c_str());
  }

  void CloseHandle() {
    closed_ = true;
    if (poll_) {
      uv_poll_stop(poll_);
      uv_close(reinterpret_cast<uv_handle_t*>(poll_), [](uv_handle_t* h) { delete reinterpret_cast<uv_poll_t*>(h); });
      poll_ = nullptr;
    }
    if (p_) { pcap_close(p_); p_ = nullptr; }
  }

  // attach({ arena: ArrayBuffer, slotSize, headroom, offsets, lengths, rxSlots, control, txSlots }, onBatch, onError):
  // frames are copied into rxSlots[0..control[0]) in order; onBatch(n) hands JavaScript the first
  // n; onError(message) reports a capture error (capture is paused until resume()).
  Napi::Value Attach(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (closed_) { Napi::Error::New(env, "attach: the handle is closed").ThrowAsJavaScriptException(); return env.Undefined(); }
    Napi::Object a = info[0].As<Napi::Object>();
    Napi::ArrayBuffer arena = a.Get("arena").As<Napi::ArrayBuffer>();
    base_ = static_cast<uint8_t*>(arena.Data());
    slotSize_ = a.Get("slotSize").As<Napi::Number>().Uint32Value();
    headroom_ = a.Get("headroom").As<Napi::Number>().Uint32Value();
    if (!TypedArrayData(env, a, "offsets", napi_uint32_array, &offsets_, nullptr)) return env.Undefined();
    if (!TypedArrayData(env, a, "lengths", napi_uint32_array, &lengths_, nullptr)) return env.Undefined();
    if (!TypedArrayData(env, a, "rxSlots", napi_int32_array, &rxSlots_, &rxSlotsLength_)) return env.Undefined();
    if (!TypedArrayData(env, a, "control", napi_int32_array, &control_, nullptr)) return env.Undefined();
    if (!TypedArrayData(env, a, "txSlots", napi_int32_array, &txSlots_, &txSlotsLength_)) return env.Undefined();
    keep_ = Napi::Persistent(a);
    onBatch_ = Napi::Persistent(info[1].As<Napi::Function>());
    onError_ = Napi::Persistent(info[2].As<Napi::Function>());
    asyncContext_ = std::make_unique<Napi::AsyncContext>(env, "wsk:pcap");
    poll_ = new uv_poll_t;
    uv_loop_t* loop = nullptr;
    napi_get_uv_event_loop(env, &loop);
    uv_poll_init(loop, poll_, fd_);
    poll_->data = this;
    uv_poll_start(poll_, UV_READABLE, OnPoll);
    Ref();
    return env.Undefined();
  }

  static void OnPoll(uv_poll_t* handle, int status, int) {
    auto* self = static_cast<PcapHandle*>(handle->data);
    if (self->closed_) return;
    Napi::Env env = self->Env();
    Napi::HandleScope scope(env);
    self->stats_[ST_WAKEUPS]++;
    // On POLLERR (the device went down) libuv has already stopped this watcher; Drain lets
    // libpcap read, and so clear, the socket's error and reports it.
    self->Drain();
    if (status < 0 && !self->paused_ && !self->closed_) self->PauseWithError(env, "the device reported an error");
  }

  void PauseWithError(Napi::Env env, const std::string& why) {
    uv_poll_stop(poll_);
    paused_ = true;
    onError_.MakeCallback(Value(), {Napi::String::New(env, why)}, *asyncContext_);
    if (env.IsExceptionPending()) napi_fatal_exception(env, env.GetAndClearPendingException().Value());
  }

  static void OnPacket(u_char* user, const struct pcap_pkthdr* h, const u_char* bytes) {
    auto* self = reinterpret_cast<PcapHandle*>(user);
    if (h->caplen < h->len || h->caplen + self->headroom_ > self->slotSize_ || h->caplen < 14) {
      self->stats_[ST_RX_TRUNCATED]++;
      return;
    }
    int32_t slot = self->rxSlots_[self->filled_];
    memcpy(self->base_ + static_cast<size_t>(slot) * self->slotSize_ + self->headroom_, bytes, h->caplen);
    self->offsets_[slot] = self->headroom_;
    self->lengths_[slot] = h->caplen;
    self->filled_++;
    self->stats_[ST_RX_FRAMES]++;
    self->stats_[ST_RX_BYTES] += h->caplen;
  }

  void Drain() {
    Napi::Env env = Env();
    for (;;) {
      int available = control_[0];
      if (available <= 0) {
        // No free slot to copy into: stop polling until JavaScript has slots again (resume()).
        uv_poll_stop(poll_);
        paused_ = true;
        return;
      }
      filled_ = 0;
      int rc = pcap_dispatch(p_, available, OnPacket, reinterpret_cast<u_char*>(this));
      if (rc < 0) {
        // The device went down or away: the descriptor would stay readable (an error) and spin
        // the loop, so capture pauses until JavaScript, having checked the device, resumes it.
        PauseWithError(env, pcap_geterr(p_));
        return;
      }
      if (filled_ > 0) {
        onBatch_.MakeCallback(Value(), {Napi::Number::New(env, filled_)}, *asyncContext_);
        if (env.IsExceptionPending()) napi_fatal_exception(env, env.GetAndClearPendingException().Value());
        if (closed_) return;
      }
      if (rc < available) return;
    }
  }

  Napi::Value Resume(const Napi::CallbackInfo& info) {
    if (paused_ && !closed_ && poll_) {
      paused_ = false;
      uv_poll_start(poll_, UV_READABLE, OnPoll);
    }
    return info.Env().Undefined();
  }

  // send(count): pcap_inject for txSlots[0..count); returns how many were consumed (sent or
  // dropped for an error); the rest met a full socket buffer.
  Napi::Value Send(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    uint32_t count = info[0].As<Napi::Number>().Uint32Value();
    if (closed_ || !txSlots_) {
      if (stats_) stats_[ST_TX_ERRORS] += count;
      return Napi::Number::New(env, count);
    }
    if (count > txSlotsLength_) count = static_cast<uint32_t>(txSlotsLength_);
    uint32_t i = 0;
    for (; i < count; i++) {
      int32_t slot = txSlots_[i];
      const uint8_t* f = base_ + static_cast<size_t>(slot) * slotSize_ + offsets_[slot];
      uint32_t len = lengths_[slot];
      errno = 0;
      if (pcap_inject(p_, f, len) >= 0) {
        stats_[ST_TX_FRAMES]++;
        stats_[ST_TX_BYTES] += len;
        continue;
      }
      int err = errno;
      if (err == EAGAIN || err == ENOBUFS) { stats_[ST_TX_AGAIN]++; break; }
      stats_[ST_TX_LAST_ERRNO] = err;
      stats_[ST_TX_ERRORS]++;
    }
    return Napi::Number::New(env, i);
  }

  Napi::Value ReadStats(const Napi::CallbackInfo& info) {
    struct pcap_stat ps;
    if (p_ && pcap_stats(p_, &ps) == 0) {
      stats_[ST_PCAP_RECV] = ps.ps_recv;
      stats_[ST_PCAP_DROP] = ps.ps_drop;
      stats_[ST_PCAP_IFDROP] = ps.ps_ifdrop;
    }
    return info.Env().Undefined();
  }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    bool attached = static_cast<bool>(asyncContext_);
    CloseHandle();
    if (attached) {
      onBatch_.Reset();
      onError_.Reset();
      keep_.Reset();
      txSlots_ = nullptr;
      asyncContext_.reset();
      Unref();
    }
    return info.Env().Undefined();
  }

  pcap_t* p_ = nullptr;
  int fd_ = -1;
  bool closed_ = false;
  bool paused_ = false;
  uv_poll_t* poll_ = nullptr;
  double* stats_ = nullptr;
  uint8_t* base_ = nullptr;
  uint32_t slotSize_ = 0;
  uint32_t headroom_ = 0;
  uint32_t* offsets_ = nullptr;
  uint32_t* lengths_ = nullptr;
  int32_t* rxSlots_ = nullptr;
  size_t rxSlotsLength_ = 0;
  int32_t* control_ = nullptr;
  int32_t* txSlots_ = nullptr;
  size_t txSlotsLength_ = 0;
  int filled_ = 0;
  Napi::ObjectReference keep_;
  Napi::FunctionReference onBatch_;
  Napi::FunctionReference onError_;
  std::unique_ptr<Napi::AsyncContext> asyncContext_;
};

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("PcapHandle", PcapHandle::Define(env));
  exports.Set("version", Napi::String::New(env, pcap_lib_version()));
  InitSupport(env, exports);
  return exports;
}

}  // namespace
}  // namespace wsk

static Napi::Object InitPcap(Napi::Env env, Napi::Object exports) { return wsk::Init(env, exports); }
NODE_API_MODULE(wsk_pcap, InitPcap)
