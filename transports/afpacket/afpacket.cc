// AF_PACKET link, native half (docs/architecture.md §5): a packet socket bound to one device, with a
// PACKET_MMAP TPACKET_V2 receive ring that JavaScript reads in place and batched sendmmsg(2)
// transmit. afpacket-link.ts is the JavaScript half and states the contract; this file keeps to
// what JavaScript cannot do (syscalls, the ring's status words, waking the event loop).
//
// Memory: one region of the ring's blocks (blockSize each) + poolSlots * slotSize bytes, exposed
// to JavaScript as one external ArrayBuffer that backs the link's SlotArena (device slots of
// frameSize packed from the start of each block, then pool slots of slotSize). The kernel's
// receive ring is mapped over the blocks (frame i is frame i % perBlock of block i / perBlock, as
// the kernel's packet_lookup_frame finds it); the rest is anonymous memory the stack allocates
// transmit frames from. A received frame is never
// copied in userspace: its slot is the ring frame, handed out with refcount 1 and given back to
// the kernel (tp_status = TP_STATUS_KERNEL) by JavaScript when the last holder releases it. The
// region is unmapped only when the ArrayBuffer is collected, so views into frames stay valid
// after close().
//
// Ring frames are sized for the device's MTU, not for a 64 KiB GSO segment: a burst is many
// small frames (thousands of peers' RSTs, SYNs, requests), and the same kernel memory holds 43
// times as many 1600-byte frames as 68 KiB ones. A frame larger than a ring frame (a peer's GSO
// segment) takes the kernel's copy path (PACKET_COPY_THRESH in linux/if_packet.h; tpacket_rcv()
// in the kernel): it is queued whole on the socket's receive queue, within the receive
// buffer (gsoQueueBytes), and its place in the ring holds a truncated copy flagged
// TP_STATUS_COPY. Fill() meets that flag in ring order and reads the queued frame with
// recvmmsg(2) straight into a pool slot JavaScript set aside (rxSpares): the kernel writes it
// once, into memory the stack parses in place, as it does a ring frame. With no spare slot left
// the frame is read into a scratch buffer and counted (rxNoSlot), so the ring and the queue never
// fall out of step.
//
// Why TPACKET_V2: per-frame readiness. V3 hands a block over only when it is full or when its
// retire timer (tp_retire_blk_tov, whole milliseconds) fires, so a lone frame waits for the
// timer, and every request-response with it: with 1 ms, a frame became readable 0.86 ms after it
// arrived at the median and 4.3 ms at p90, against 11 us for a V2 frame (veth lab, 200 datagrams
// 5 ms apart, both rings busy-polled: bench/tpacket-v3-latency.c). PACKET_VNET_HDR on receive gives each frame's checksum
// state and lets the kernel hand us the peer's GSO segments whole.
//
// Wakeups: the socket sits in a private epoll set in edge-triggered mode and libuv polls that
// epoll descriptor. A level-triggered poll of a packet socket reports "readable" for as long as
// the newest frame is not back with the kernel — which is the normal state while the stack holds
// received data — and would spin the event loop; an edge per new frame does not.
#include <napi.h>
#include <uv.h>

#include <arpa/inet.h>
#include <errno.h>
#include <linux/filter.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <memory>
#include <string>

#include "../native/support.h"

#ifndef PACKET_IGNORE_OUTGOING
#define PACKET_IGNORE_OUTGOING 23
#endif
#ifndef PACKET_QDISC_BYPASS
#define PACKET_QDISC_BYPASS 20
#endif
#ifndef TP_STATUS_CSUM_VALID
#define TP_STATUS_CSUM_VALID (1 << 7)
#endif
#ifndef PACKET_COPY_THRESH
#define PACKET_COPY_THRESH 7
#endif

namespace wsk {
namespace {

// Per-slot frame flags shared with runtime/net/device.ts (FrameFlags).
constexpr uint8_t FRAME_CHECKSUM_OK = 1;
constexpr uint8_t FRAME_CHECKSUM_PARTIAL = 2;

// Event kinds passed to onEvent (afpacket-link.ts mirrors them).
constexpr int EVENT_ERROR = 1;
constexpr int EVENT_WRITABLE = 2;

// Indices into the stats array (afpacket-link.ts mirrors them).
enum Stat {
  ST_RX_FRAMES, ST_RX_BYTES, ST_RX_TRUNCATED, ST_RX_VLAN, ST_RX_GSO_UNSUPPORTED,
  ST_TX_FRAMES, ST_TX_BYTES, ST_TX_ERRORS, ST_TX_AGAIN, ST_TX_LAST_ERRNO, ST_TX_SYSCALLS,
  ST_WAKEUPS, ST_KERNEL_PACKETS, ST_KERNEL_DROPS, ST_BUSY_POLLED, ST_RX_QUEUED, ST_RX_NO_SLOT,
  ST_RING_CONSUMED, ST_COUNT
};

constexpr unsigned MAX_TX_BATCH = 256;
/** Queued (larger than a ring frame) frames read per recvmmsg; also the most spares JavaScript keeps. */
constexpr unsigned MAX_RX_COPIES = 64;
constexpr uint64_t BUSY_POLL_SLICE_NS = 1000000;

// struct virtio_net_hdr (linux/virtio_net.h, which does not compile as C++), in host byte order
// as packet sockets use it on little-endian machines.
struct VnetHeader {
  uint8_t flags;
  uint8_t gso_type;
  uint16_t hdr_len;
  uint16_t gso_size;
  uint16_t csum_start;
  uint16_t csum_offset;
};
constexpr size_t VNET_LEN = sizeof(VnetHeader);
static_assert(VNET_LEN == 10, "virtio_net_hdr is 10 bytes");
constexpr uint8_t VNET_F_NEEDS_CSUM = 1;
constexpr uint8_t VNET_F_DATA_VALID = 2;
constexpr uint8_t VNET_GSO_NONE = 0;
constexpr uint8_t VNET_GSO_TCPV4 = 1;
constexpr uint8_t VNET_GSO_TCPV6 = 4;
constexpr uint8_t VNET_GSO_ECN = 0x80;

struct Arrays {
  int32_t* refcounts = nullptr;
  uint32_t* offsets = nullptr;
  uint32_t* lengths = nullptr;
  uint8_t* flags = nullptr;
  uint16_t* segmentSizes = nullptr;
  int32_t* rxBatch = nullptr;
  size_t rxBatchLength = 0;
  /** [0] = how many spare pool slots follow; [1..count] = the slots (refcount 1, ours to fill). */
  int32_t* rxSpares = nullptr;
  size_t rxSparesLength = 0;
  int32_t* txSlots = nullptr;
  size_t txSlotsLength = 0;
};

bool GetBool(Napi::Object o, const char* key, bool dflt) {
  Napi::Value v = o.Get(key);
  return v.IsBoolean() ? v.As<Napi::Boolean>().Value() : dflt;
}

class PacketSocket : public Napi::ObjectWrap<PacketSocket> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "PacketSocket", {
      InstanceMethod("attach", &PacketSocket::Attach),
      InstanceMethod("send", &PacketSocket::Send),
      InstanceMethod("wantWritable", &PacketSocket::WantWritable),
      InstanceMethod("poll", &PacketSocket::Poll),
      InstanceMethod("readKernelStats", &PacketSocket::ReadKernelStats),
      InstanceMethod("close", &PacketSocket::Close),
    });
  }

  PacketSocket(const Napi::CallbackInfo& info) : Napi::ObjectWrap<PacketSocket>(info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsObject()) {
      Napi::TypeError::New(env, "new PacketSocket(options)").ThrowAsJavaScriptException();
      return;
    }
    Napi::Object o = info[0].As<Napi::Object>();
    std::string ifname = o.Get("ifname").ToString().Utf8Value();
    ringFrames_ = GetU32(o, "ringFrames", 15360);
    frameSize_ = GetU32(o, "frameSize", 1600);
    blockSize_ = GetU32(o, "blockSize", 65536);
    poolSlots_ = GetU32(o, "poolSlots", 1024);
    slotSize_ = GetU32(o, "slotSize", 69632);
    headroom_ = GetU32(o, "headroom", 256);
    uint32_t gsoQueue = GetU32(o, "gsoQueueBytes", 256u << 20);  // afpacket-link.ts says why
    vnet_ = GetBool(o, "vnetHeader", true);
    bool promisc = GetBool(o, "promiscuous", false);
    bool bypass = GetBool(o, "qdiscBypass", false);
    uint32_t sndbuf = GetU32(o, "sendBuffer", 4 << 20);
    busyPollNs_ = static_cast<uint64_t>(GetU32(o, "busyPollUs", 0)) * 1000u;
    if (ifname.empty() || ifname.size() >= IFNAMSIZ) {
      Napi::TypeError::New(env, "PacketSocket: ifname must be a device name of 1 to 15 characters").ThrowAsJavaScriptException();
      return;
    }
    // Blocks are whole pages (struct tpacket_req, linux/if_packet.h); frames are 16-byte aligned
    // (TPACKET_ALIGNMENT) and fill blocks from their start.
    framesPerBlock_ = frameSize_ >= 256 && frameSize_ % 16 == 0 ? blockSize_ / frameSize_ : 0;
    if (ringFrames_ == 0 || slotSize_ % 4096 != 0 || slotSize_ < 4096 || headroom_ >= slotSize_ || blockSize_ % 4096 != 0 ||
        framesPerBlock_ == 0 || ringFrames_ % framesPerBlock_ != 0) {
      Napi::RangeError::New(env, "PacketSocket: frameSize must be a multiple of 16 from 256, blockSize a multiple of 4096 holding one frame at least, ringFrames whole blocks of frames, and slotSize a multiple of 4096").ThrowAsJavaScriptException();
      return;
    }

    // Protocol 0: no frames reach the socket until bind(), after the filter and ring exist.
    fd_ = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd_ < 0) { ThrowErrno(env, "socket(AF_PACKET)", errno); return; }

    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    memcpy(ifr.ifr_name, ifname.data(), ifname.size());
    if (ioctl(fd_, SIOCGIFINDEX, &ifr) != 0) { Fail(env, "SIOCGIFINDEX", ifname.c_str()); return; }
    ifindex_ = ifr.ifr_ifindex;

    int one = 1;
    int v2 = TPACKET_V2;
    if (setsockopt(fd_, SOL_PACKET, PACKET_VERSION, &v2, sizeof v2) != 0) { Fail(env, "setsockopt(PACKET_VERSION)"); return; }
    if (vnet_ && setsockopt(fd_, SOL_PACKET, PACKET_VNET_HDR, &one, sizeof one) != 0) { Fail(env, "setsockopt(PACKET_VNET_HDR)"); return; }
    // Frames the host itself sends on the device (the kernel's own traffic) are none of ours.
    setsockopt(fd_, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof one);
    if (bypass && setsockopt(fd_, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof one) != 0) { Fail(env, "setsockopt(PACKET_QDISC_BYPASS)"); return; }
    int sb = static_cast<int>(sndbuf);
    if (setsockopt(fd_, SOL_SOCKET, SO_SNDBUFFORCE, &sb, sizeof sb) != 0) setsockopt(fd_, SOL_SOCKET, SO_SNDBUF, &sb, sizeof sb);
    // Frames larger than a ring frame wait on the receive queue, up to the receive buffer (the
    // kernel doubles what it is given, socket(7)); without CAP_NET_ADMIN rmem_max caps it.
    int rb = static_cast<int>(gsoQueue / 2);
    if (setsockopt(fd_, SOL_SOCKET, SO_RCVBUFFORCE, &rb, sizeof rb) != 0) setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &rb, sizeof rb);
    if (setsockopt(fd_, SOL_PACKET, PACKET_COPY_THRESH, &one, sizeof one) != 0) { Fail(env, "setsockopt(PACKET_COPY_THRESH)"); return; }

    Napi::Value filter = o.Get("filter");
    if (filter.IsTypedArray()) {
      Napi::Uint8Array f = filter.As<Napi::Uint8Array>();
      if (f.ByteLength() % sizeof(struct sock_filter) != 0 || f.ByteLength() == 0) {
        Close();
        Napi::RangeError::New(env, "PacketSocket: filter must hold whole 8-byte BPF instructions").ThrowAsJavaScriptException();
        return;
      }
      struct sock_fprog prog;
      prog.len = static_cast<unsigned short>(f.ByteLength() / sizeof(struct sock_filter));
      prog.filter = reinterpret_cast<struct sock_filter*>(f.Data());
      if (setsockopt(fd_, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof prog) != 0) { Fail(env, "setsockopt(SO_ATTACH_FILTER)"); return; }
    }

    struct tpacket_req req;
    req.tp_block_size = blockSize_;
    req.tp_block_nr = ringFrames_ / framesPerBlock_;
    req.tp_frame_size = frameSize_;
    req.tp_frame_nr = ringFrames_;
    if (setsockopt(fd_, SOL_PACKET, PACKET_RX_RING, &req, sizeof req) != 0) { Fail(env, "setsockopt(PACKET_RX_RING)"); return; }

    ringBytes_ = static_cast<size_t>(req.tp_block_nr) * blockSize_;
    regionBytes_ = ringBytes_ + static_cast<size_t>(poolSlots_) * slotSize_;
    region_ = MapRegion(regionBytes_);
    if (!region_) { Fail(env, "mmap"); return; }
    void* ring = mmap(region_, ringBytes_, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd_, 0);
    if (ring == MAP_FAILED) { Fail(env, "mmap(PACKET_RX_RING)"); return; }

    if (promisc) {
      struct packet_mreq mr;
      memset(&mr, 0, sizeof mr);
      mr.mr_ifindex = ifindex_;
      mr.mr_type = PACKET_MR_PROMISC;
      if (setsockopt(fd_, SOL_PACKET, PACKET_ADD_MEMBERSHIP, &mr, sizeof mr) != 0) { Fail(env, "setsockopt(PACKET_ADD_MEMBERSHIP)"); return; }
    }

    struct sockaddr_ll sll;
    memset(&sll, 0, sizeof sll);
    sll.sll_family = AF_PACKET;
    sll.sll_protocol = htons(ETH_P_ALL);
    sll.sll_ifindex = ifindex_;
    if (bind(fd_, reinterpret_cast<struct sockaddr*>(&sll), sizeof sll) != 0) { Fail(env, "bind(AF_PACKET)", ifname.c_str()); return; }

    epfd_ = epoll_create1(EPOLL_CLOEXEC);
    if (epfd_ < 0) { Fail(env, "epoll_create1"); return; }

    // The region belongs to the ArrayBuffer from here on: it is unmapped when that is collected.
    Napi::ArrayBuffer buffer = RegionBuffer(env, region_, regionBytes_);
    ownsRegion_ = false;
    Napi::Object self = info.This().As<Napi::Object>();
    stats_ = StatsArray(env, self, ST_COUNT);
    self.Set("buffer", buffer);
    self.Set("ifindex", Napi::Number::New(env, ifindex_));
  }

  ~PacketSocket() override { Close(); }

 private:
  void Fail(Napi::Env env, const char* syscall, const char* detail = nullptr) {
    int err = errno;
    Close();
    ThrowErrno(env, syscall, err, detail);
  }

  void Close() {
    closed_ = true;
    if (polling_) {
      StopPoll(poll_);
      polling_ = false;
    }
    if (epfd_ >= 0) { close(epfd_); epfd_ = -1; }
    if (fd_ >= 0) { close(fd_); fd_ = -1; }
    if (region_ && ownsRegion_) munmap(region_, regionBytes_);
    if (ownsRegion_) region_ = nullptr;
  }

  // attach(arrays, onBatch, onEvent): starts delivering frames.
  Napi::Value Attach(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (closed_) { Napi::Error::New(env, "attach: the socket is closed").ThrowAsJavaScriptException(); return env.Undefined(); }
    if (info.Length() < 3 || !info[0].IsObject() || !info[1].IsFunction() || !info[2].IsFunction()) {
      Napi::TypeError::New(env, "attach(arrays, onBatch, onEvent)").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    Napi::Object a = info[0].As<Napi::Object>();
    size_t slots = ringFrames_ + poolSlots_;
    if (!TypedArrayData(env, a, "refcounts", napi_int32_array, &arrays_.refcounts, nullptr, slots)) return env.Undefined();
    if (!TypedArrayData(env, a, "offsets", napi_uint32_array, &arrays_.offsets, nullptr, slots)) return env.Undefined();
    if (!TypedArrayData(env, a, "lengths", napi_uint32_array, &arrays_.lengths, nullptr, slots)) return env.Undefined();
    if (!TypedArrayData(env, a, "flags", napi_uint8_array, &arrays_.flags, nullptr, slots)) return env.Undefined();
    if (!TypedArrayData(env, a, "segmentSizes", napi_uint16_array, &arrays_.segmentSizes, nullptr, slots)) return env.Undefined();
    if (!TypedArrayData(env, a, "rxBatch", napi_int32_array, &arrays_.rxBatch, &arrays_.rxBatchLength, 1)) return env.Undefined();
    if (!TypedArrayData(env, a, "txSlots", napi_int32_array, &arrays_.txSlots, &arrays_.txSlotsLength, 1)) return env.Undefined();
    if (!TypedArrayData(env, a, "rxSpares", napi_int32_array, &arrays_.rxSpares, &arrays_.rxSparesLength, MAX_RX_COPIES + 1)) return env.Undefined();
    keep_ = Napi::Persistent(a);
    onBatch_ = Napi::Persistent(info[1].As<Napi::Function>());
    onEvent_ = Napi::Persistent(info[2].As<Napi::Function>());
    asyncContext_ = std::make_unique<Napi::AsyncContext>(env, "wsk:afpacket");

    struct epoll_event ev;
    memset(&ev, 0, sizeof ev);
    ev.events = EPOLLIN | EPOLLET;
    if (epoll_ctl(epfd_, EPOLL_CTL_ADD, fd_, &ev) != 0) { ThrowErrno(env, "epoll_ctl", errno); return env.Undefined(); }
    poll_ = StartPoll(env, epfd_, UV_READABLE, OnPoll, this);
    if (!poll_) return env.Undefined();
    polling_ = true;
    Ref();  // alive while polling; Unref in close()
    return env.Undefined();
  }

  static void OnPoll(uv_poll_t* handle, int status, int) {
    auto* self = static_cast<PacketSocket*>(handle->data);
    if (self->closed_) return;
    Napi::Env env = self->Env();
    Napi::HandleScope scope(env);
    struct epoll_event evs[4];
    int n = epoll_wait(self->epfd_, evs, 4, 0);
    uint32_t mask = 0;
    for (int i = 0; i < n; i++) mask |= evs[i].events;
    self->stats_[ST_WAKEUPS]++;
    if (status < 0) mask |= EPOLLERR;
    if (mask & (EPOLLERR | EPOLLHUP)) {
      int err = 0;
      socklen_t len = sizeof err;
      getsockopt(self->fd_, SOL_SOCKET, SO_ERROR, &err, &len);
      if (err != 0 && !self->Emit(EVENT_ERROR, err)) return;
    }
    if (mask & EPOLLOUT) {
      self->SetWritableInterest(false);
      if (!self->Emit(EVENT_WRITABLE, 0)) return;
    }
    self->Drain();
    if (self->busyPollNs_ > 0) self->BusyPoll();
  }

  static uint64_t NowNs() {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<uint64_t>(ts.tv_sec) * 1000000000u + static_cast<uint64_t>(ts.tv_nsec);
  }

  /** Where a slot's memory starts: ring frames in their blocks first, then the pool (SlotArena.base). */
  uint8_t* SlotBase(uint32_t slot) const {
    if (slot >= ringFrames_) return region_ + ringBytes_ + static_cast<size_t>(slot - ringFrames_) * slotSize_;
    uint32_t block = slot / framesPerBlock_;
    return region_ + static_cast<size_t>(block) * blockSize_ + static_cast<size_t>(slot - block * framesPerBlock_) * frameSize_;
  }

  /** True when the kernel has written the frame at head_ and nobody holds it. */
  bool FrameReady() const {
    auto* hdr = reinterpret_cast<const struct tpacket2_hdr*>(SlotBase(head_));
    return (__atomic_load_n(&hdr->tp_status, __ATOMIC_ACQUIRE) & TP_STATUS_USER) && arrays_.refcounts[head_] == 0;
  }

  // Busy polling (Linux's SO_BUSY_POLL idea): after a batch, watch the ring for busyPollNs_ more
  // before sleeping, so a steady flow is read without a wakeup per batch (a cross-CPU wakeup
  // costs the sender's CPU an interrupt and adds its latency to every round trip). The event loop
  // gets control back at least every BUSY_POLL_SLICE_NS, so timers and other I/O keep running.
  void BusyPoll() {
    uint64_t start = NowNs();
    uint64_t idleUntil = start + busyPollNs_;
    for (;;) {
      uint64_t now = NowNs();
      if (now >= idleUntil || now - start >= BUSY_POLL_SLICE_NS || closed_) return;
      if (!FrameReady()) { __builtin_ia32_pause(); continue; }
      stats_[ST_BUSY_POLLED]++;
      Drain();
      idleUntil = NowNs() + busyPollNs_;
    }
  }

  /** Calls onEvent; false when the callback closed the socket. */
  bool Emit(int kind, int err) {
    Napi::Env env = Env();
    onEvent_.MakeCallback(Value(), {Napi::Number::New(env, kind), Napi::Number::New(env, err)}, *asyncContext_);
    ReportPendingException(env);
    return !closed_;
  }

  void Drain() {
    Napi::Env env = Env();
    for (;;) {
      uint32_t n = Fill();
      if (n == 0) {
        if (more_) continue;  // a batch's worth of queued frames read into the scratch buffer
        return;
      }
      onBatch_.MakeCallback(Value(), {Napi::Number::New(env, n)}, *asyncContext_);
      ReportPendingException(env);
      // onBatch refilled rxSpares: go on where Fill() stopped for want of them.
      if (closed_ || (n < arrays_.rxBatchLength && !more_)) return;
    }
  }

  /** Checksum state of a frame from its virtio-net header (or ring status); false: not a frame we take. */
  bool ChecksumFlags(const VnetHeader* v, uint32_t st, uint8_t* flags) {
    *flags = 0;
    if (vnet_) {
      // NEEDS_CSUM: a local sender left the checksum to offload (the data is as sent);
      // DATA_VALID: the device verified it.
      if (v->flags & (VNET_F_NEEDS_CSUM | VNET_F_DATA_VALID)) *flags |= FRAME_CHECKSUM_OK;
      uint8_t gso = v->gso_type & static_cast<uint8_t>(~VNET_GSO_ECN);
      if (gso != VNET_GSO_NONE && gso != VNET_GSO_TCPV4 && gso != VNET_GSO_TCPV6) {
        stats_[ST_RX_GSO_UNSUPPORTED]++;
        return false;
      }
    } else if (st & (TP_STATUS_CSUMNOTREADY | TP_STATUS_CSUM_VALID)) {
      *flags |= FRAME_CHECKSUM_OK;
    }
    return true;
  }

  /**
   * Moves ready frames into rxBatch in ring order: a ring frame as itself (slot = frame index), a
   * frame the kernel queued instead (TP_STATUS_COPY) as the spare pool slot it is read into.
   * Returns how many; more_ says Fill stopped with frames still ready (spares or copies ran out).
   */
  uint32_t Fill() {
    const uint32_t max = static_cast<uint32_t>(arrays_.rxBatchLength);
    int32_t* spares = arrays_.rxSpares;
    uint32_t n = 0;
    uint32_t copies = 0;
    more_ = false;
    while (n < max) {
      uint8_t* frame = SlotBase(head_);
      auto* hdr = reinterpret_cast<struct tpacket2_hdr*>(frame);
      uint32_t st = __atomic_load_n(&hdr->tp_status, __ATOMIC_ACQUIRE);
      // Still held by the stack from the previous lap: the kernel is stopped here too.
      if (!(st & TP_STATUS_USER) || arrays_.refcounts[head_] != 0) break;
      if (st & TP_STATUS_COPY) {
        // Without a spare, end the batch so JavaScript can set more aside; a batch that starts
        // without one has none to get (the pool is short): the frame is read and dropped.
        if (copies == MAX_RX_COPIES || (spares[0] == 0 && n > 0)) { more_ = true; break; }
        head_ = head_ + 1 == ringFrames_ ? 0 : head_ + 1;
        stats_[ST_RING_CONSUMED]++;
        int32_t slot = spares[0] > 0 ? spares[spares[0]--] : -1;
        copySlot_[copies] = slot;
        copyStatus_[copies] = st;
        copies++;
        if (slot >= 0) arrays_.rxBatch[n++] = slot;
        // The ring holds only a truncated copy; the frame itself is on the queue.
        __atomic_store_n(&hdr->tp_status, TP_STATUS_KERNEL, __ATOMIC_RELEASE);
        continue;
      }
      uint32_t slot = head_;
      head_ = head_ + 1 == ringFrames_ ? 0 : head_ + 1;
      stats_[ST_RING_CONSUMED]++;
      uint32_t mac = hdr->tp_mac;
      uint32_t snap = hdr->tp_snaplen;
      bool keep = true;
      uint8_t flags = 0;
      if (snap < hdr->tp_len || mac + snap > frameSize_ || snap < 14) {
        // Cut short: larger than a ring frame and not queued (the receive buffer, gsoQueueBytes,
        // was full), or malformed.
        stats_[ST_RX_TRUNCATED]++;
        keep = false;
      } else if (st & TP_STATUS_VLAN_VALID) {
        // The device stripped a VLAN tag: the frame is for a VLAN the stack is not on.
        stats_[ST_RX_VLAN]++;
        keep = false;
      } else {
        keep = ChecksumFlags(reinterpret_cast<VnetHeader*>(frame + mac - VNET_LEN), st, &flags);
      }
      if (!keep) {
        __atomic_store_n(&hdr->tp_status, TP_STATUS_KERNEL, __ATOMIC_RELEASE);
        continue;
      }
      arrays_.offsets[slot] = mac;
      arrays_.lengths[slot] = snap;
      arrays_.flags[slot] = flags;
      arrays_.refcounts[slot] = 1;
      arrays_.rxBatch[n++] = static_cast<int32_t>(slot);
      stats_[ST_RX_FRAMES]++;
      stats_[ST_RX_BYTES] += snap;
    }
    return copies > 0 ? ReceiveQueued(copies, n) : n;
  }

  /**
   * Reads the `copies` queued frames Fill() met (one recvmmsg) into their spare slots, or into
   * the scratch buffer for those without one; a frame that cannot be taken leaves the batch
   * (rxBatch compacted, its slot back among the spares). Returns the batch's new length.
   */
  uint32_t ReceiveQueued(uint32_t copies, uint32_t n) {
    int32_t* spares = arrays_.rxSpares;
    for (uint32_t k = 0; k < copies; k++) {
      struct iovec* iov = &rxIovs_[2 * k];
      int m = 0;
      if (vnet_) {
        iov[m].iov_base = &rxVnets_[k];
        iov[m++].iov_len = VNET_LEN;
      }
      int32_t slot = copySlot_[k];
      if (slot >= 0) {
        iov[m].iov_base = SlotBase(static_cast<uint32_t>(slot)) + headroom_;
        iov[m++].iov_len = slotSize_ - headroom_;
      } else {
        iov[m].iov_base = scratch_;
        iov[m++].iov_len = sizeof scratch_;
      }
      memset(&rxMsgs_[k], 0, sizeof(struct mmsghdr));
      rxMsgs_[k].msg_hdr.msg_iov = iov;
      rxMsgs_[k].msg_hdr.msg_iovlen = m;
    }
    int r;
    do r = recvmmsg(fd_, rxMsgs_, copies, MSG_DONTWAIT, nullptr); while (r < 0 && errno == EINTR);
    if (r < 0) r = 0;
    uint32_t got = static_cast<uint32_t>(r);
    uint32_t w = 0;
    uint32_t k = 0;
    for (uint32_t i = 0; i < n; i++) {
      int32_t s = arrays_.rxBatch[i];
      if (s < static_cast<int32_t>(ringFrames_)) { arrays_.rxBatch[w++] = s; continue; }
      while (copySlot_[k] != s) k++;  // the copies without a slot are not in the batch
      if (k < got && TakeQueued(k, static_cast<uint32_t>(s))) arrays_.rxBatch[w++] = s;
      else spares[++spares[0]] = s;
      k++;
    }
    for (k = 0; k < copies; k++) {
      if (copySlot_[k] < 0) stats_[ST_RX_NO_SLOT]++;
      else if (k >= got) stats_[ST_RX_TRUNCATED]++;  // announced by the ring, not on the queue
    }
    return w;
  }

  /** Sets a queued frame's slot metadata from what recvmmsg read; false: not a frame we take. */
  bool TakeQueued(uint32_t k, uint32_t slot) {
    const struct mmsghdr& msg = rxMsgs_[k];
    uint32_t vlen = vnet_ ? VNET_LEN : 0;
    if ((msg.msg_hdr.msg_flags & MSG_TRUNC) || msg.msg_len < vlen + 14) {
      stats_[ST_RX_TRUNCATED]++;
      return false;
    }
    if (copyStatus_[k] & TP_STATUS_VLAN_VALID) {
      stats_[ST_RX_VLAN]++;
      return false;
    }
    uint8_t flags;
    if (!ChecksumFlags(&rxVnets_[k], copyStatus_[k], &flags)) return false;
    uint32_t len = msg.msg_len - vlen;
    arrays_.offsets[slot] = headroom_;
    arrays_.lengths[slot] = len;
    arrays_.flags[slot] = flags;
    stats_[ST_RX_QUEUED]++;
    stats_[ST_RX_FRAMES]++;
    stats_[ST_RX_BYTES] += len;
    return true;
  }

  void SetWritableInterest(bool on) {
    if (writableInterest_ == on || epfd_ < 0) return;
    struct epoll_event ev;
    memset(&ev, 0, sizeof ev);
    ev.events = EPOLLIN | EPOLLET | (on ? static_cast<uint32_t>(EPOLLOUT) : 0u);
    epoll_ctl(epfd_, EPOLL_CTL_MOD, fd_, &ev);
    writableInterest_ = on;
  }

  Napi::Value WantWritable(const Napi::CallbackInfo& info) {
    if (!closed_ && polling_) SetWritableInterest(true);
    return info.Env().Undefined();
  }

  /**
   * Fills the virtio-net header for one outgoing frame from its bytes and slot metadata. IPv4, or
   * IPv6 whose transport header follows the fixed header (the stack adds no extension headers to
   * what it leaves for offload): next header at byte 6 of the IPv6 header (RFC 8200 §3).
   */
  void TxHeader(VnetHeader* v, const uint8_t* f, uint32_t len, uint32_t slot) {
    memset(v, 0, VNET_LEN);
    if (!(arrays_.flags[slot] & FRAME_CHECKSUM_PARTIAL) || len < 34) return;
    uint32_t ihl;
    uint8_t proto;
    uint8_t gsoType;
    if (f[12] == 0x08 && f[13] == 0x00) {
      ihl = (f[14] & 0x0f) * 4u;
      proto = f[23];
      gsoType = VNET_GSO_TCPV4;
    } else if (f[12] == 0x86 && f[13] == 0xdd && len >= 54) {
      ihl = 40;
      proto = f[20];
      gsoType = VNET_GSO_TCPV6;
    } else {
      return;
    }
    if (proto != IPPROTO_TCP && proto != IPPROTO_UDP) return;
    v->flags = VNET_F_NEEDS_CSUM;
    v->csum_start = static_cast<uint16_t>(14 + ihl);
    v->csum_offset = proto == IPPROTO_TCP ? 16 : 6;
    uint16_t seg = arrays_.segmentSizes[slot];
    if (proto != IPPROTO_TCP || seg == 0 || len < 14 + ihl + 20) return;
    uint32_t hdrLen = 14 + ihl + ((f[14 + ihl + 12] >> 4) * 4u);
    if (len - hdrLen <= seg) return;
    v->gso_type = gsoType;
    v->gso_size = seg;
    v->hdr_len = static_cast<uint16_t>(hdrLen);
  }

  // send(count): sends txSlots[0..count) in sendmmsg batches. Returns how many were consumed
  // (sent, or dropped for an error, counted in stats); the rest met a full socket buffer (EAGAIN).
  Napi::Value Send(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    uint32_t count = info[0].As<Napi::Number>().Uint32Value();
    if (closed_ || !arrays_.txSlots) {
      if (stats_) stats_[ST_TX_ERRORS] += count;
      return Napi::Number::New(env, count);
    }
    if (count > arrays_.txSlotsLength) count = static_cast<uint32_t>(arrays_.txSlotsLength);
    uint32_t i = 0;
    while (i < count) {
      uint32_t m = count - i < MAX_TX_BATCH ? count - i : MAX_TX_BATCH;
      for (uint32_t k = 0; k < m; k++) {
        uint32_t slot = static_cast<uint32_t>(arrays_.txSlots[i + k]);
        uint8_t* f = SlotBase(slot) + arrays_.offsets[slot];
        uint32_t len = arrays_.lengths[slot];
        struct iovec* iov = &iovs_[2 * k];
        int n = 0;
        if (vnet_) {
          TxHeader(&vnets_[k], f, len, slot);
          iov[n].iov_base = &vnets_[k];
          iov[n++].iov_len = VNET_LEN;
        }
        iov[n].iov_base = f;
        iov[n++].iov_len = len;
        memset(&msgs_[k], 0, sizeof(struct mmsghdr));
        msgs_[k].msg_hdr.msg_iov = iov;
        msgs_[k].msg_hdr.msg_iovlen = n;
        pendingBytes_[k] = len;
      }
      stats_[ST_TX_SYSCALLS]++;
      int r = sendmmsg(fd_, msgs_, m, MSG_DONTWAIT);
      if (r > 0) {
        for (int k = 0; k < r; k++) stats_[ST_TX_BYTES] += pendingBytes_[k];
        stats_[ST_TX_FRAMES] += r;
        i += static_cast<uint32_t>(r);
        continue;
      }
      int err = errno;
      if (err == EINTR) continue;
      if (err == EAGAIN || err == ENOBUFS) { stats_[ST_TX_AGAIN]++; break; }
      stats_[ST_TX_LAST_ERRNO] = err;
      if (err == ENETDOWN || err == ENXIO || err == ENODEV) {
        // The device is down or gone: everything left is dropped; JavaScript learns the state.
        stats_[ST_TX_ERRORS] += count - i;
        i = count;
        break;
      }
      // This one frame is refused (too large, malformed): drop it and go on.
      stats_[ST_TX_ERRORS]++;
      i++;
    }
    return Napi::Number::New(env, i);
  }

  Napi::Value ReadKernelStats(const Napi::CallbackInfo& info) {
    if (fd_ >= 0) {
      struct tpacket_stats st;
      socklen_t len = sizeof st;
      // PACKET_STATISTICS resets the kernel's counters on every read: accumulate.
      if (getsockopt(fd_, SOL_PACKET, PACKET_STATISTICS, &st, &len) == 0) {
        stats_[ST_KERNEL_PACKETS] += st.tp_packets;
        stats_[ST_KERNEL_DROPS] += st.tp_drops;
      }
    }
    return info.Env().Undefined();
  }

  // poll(): what the ring holds now, without waiting for the wakeup (LinkDevice.pollInput).
  Napi::Value Poll(const Napi::CallbackInfo& info) {
    if (!closed_ && polling_) Drain();
    return info.Env().Undefined();
  }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    bool wasPolling = polling_;
    Close();
    if (wasPolling) {
      onBatch_.Reset();
      onEvent_.Reset();
      keep_.Reset();
      arrays_ = Arrays();
      Unref();
    }
    return info.Env().Undefined();
  }

  int fd_ = -1;
  int epfd_ = -1;
  int ifindex_ = 0;
  uint32_t ringFrames_ = 0;
  uint32_t frameSize_ = 0;
  uint32_t blockSize_ = 0;
  uint32_t framesPerBlock_ = 0;
  uint32_t poolSlots_ = 0;
  uint32_t slotSize_ = 0;
  uint32_t headroom_ = 0;
  size_t ringBytes_ = 0;
  bool vnet_ = true;
  uint64_t busyPollNs_ = 0;
  uint8_t* region_ = nullptr;
  size_t regionBytes_ = 0;
  bool ownsRegion_ = true;
  double* stats_ = nullptr;
  uint32_t head_ = 0;
  bool more_ = false;
  bool closed_ = false;
  bool polling_ = false;
  bool writableInterest_ = false;
  uv_poll_t* poll_ = nullptr;
  Arrays arrays_;
  Napi::ObjectReference keep_;
  Napi::FunctionReference onBatch_;
  Napi::FunctionReference onEvent_;
  std::unique_ptr<Napi::AsyncContext> asyncContext_;
  struct mmsghdr msgs_[MAX_TX_BATCH];
  struct iovec iovs_[2 * MAX_TX_BATCH];
  VnetHeader vnets_[MAX_TX_BATCH];
  uint32_t pendingBytes_[MAX_TX_BATCH];
  int32_t copySlot_[MAX_RX_COPIES];
  uint32_t copyStatus_[MAX_RX_COPIES];
  struct mmsghdr rxMsgs_[MAX_RX_COPIES];
  struct iovec rxIovs_[2 * MAX_RX_COPIES];
  VnetHeader rxVnets_[MAX_RX_COPIES];
  uint8_t scratch_[64];
};

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("PacketSocket", PacketSocket::Define(env));
  InitSupport(env, exports);
  InitTun(env, exports);
  return exports;
}

}  // namespace
}  // namespace wsk

static Napi::Object InitAfPacket(Napi::Env env, Napi::Object exports) { return wsk::Init(env, exports); }
NODE_API_MODULE(wsk_afpacket, InitAfPacket)
