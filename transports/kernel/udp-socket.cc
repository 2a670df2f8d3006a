// The kernel provider's datagram socket, native half: one host socket (UDP, or an IPv4 raw
// socket of one protocol) read with recvmmsg(2) and written with sendmmsg(2), with the control messages WSK applications ask for. udp-socket.ts is the
// JavaScript half and states the contract; this file keeps to what JavaScript cannot do.
//
// Memory: one anonymous mapping (MAP_NORESERVE: pages cost memory only once written), exposed to
// JavaScript as one external ArrayBuffer: `slots` receive slots of `slotSize` bytes (a SlotArena
// over its start), then `txBytes` of transmit staging. Receive is zero-copy from here on: the
// kernel writes each datagram into a slot JavaScript set aside (rxSpares) and the slot is handed
// over in a batch (rxBatch/rxInfo/rxAddr, one row per datagram); JavaScript keeps it as long as
// the application does. Transmit takes datagrams JavaScript copied into the staging area and
// described in txInfo/txAddr, and sends them with one sendmmsg.
//
// Control messages are decoded here into fixed per-datagram words (destination address and
// interface from IP_PKTINFO/IPV6_PKTINFO, TOS or traffic class, TTL or hop limit), so that
// JavaScript allocates nothing to read them; on send, IP_PKTINFO/IPV6_PKTINFO (source address,
// interface) and IP_TOS/IPV6_TCLASS are built here from txInfo.
//
// What it shares with the AF_PACKET link (the mapping, statistics, polling, errors) is in
// ../native/support.cc.
// Readiness: a level-triggered uv_poll on the socket. A wakeup reads batches until the socket is
// empty or a few batches have gone by (the event loop gets control back; the poll fires again);
// with no spare slot left (everything held by the application) reading stops until JavaScript
// gives slots back (resume): the kernel's receive buffer then holds, and drops, as SO_RCVBUF says.
#include "../native/support.h"

#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <memory>
#include <string>

namespace wsk {
namespace {

// Rows of rxInfo (Int32Array, RX_WORDS per received datagram); udp-socket.ts mirrors them.
enum RxWord { RX_SLOT, RX_LENGTH, RX_FLAGS, RX_PORT, RX_SCOPE, RX_FLOWINFO, RX_IFINDEX, RX_TOS, RX_TTL, RX_WORDS };
// Rows of txInfo (Int32Array, TX_WORDS per datagram to send); RESULT is written here.
enum TxWord { TX_OFFSET, TX_LENGTH, TX_PORT, TX_SCOPE, TX_FLOWINFO, TX_FLAGS, TX_IFINDEX, TX_TOS, TX_RESULT, TX_WORDS };
// rxAddr/txAddr: 32 bytes per row — the peer address (16), then the local one (16). IPv4
// addresses take the first 4 bytes.
constexpr size_t ADDR_ROW = 32;

// RX_FLAGS bits.
constexpr int32_t RXF_PKTINFO4 = 1;   // IP_PKTINFO: local address (IPv4) and interface
constexpr int32_t RXF_PKTINFO6 = 2;   // IPV6_PKTINFO: local address (IPv6) and interface
constexpr int32_t RXF_TOS = 4;        // IP_TOS byte
constexpr int32_t RXF_TCLASS = 8;     // IPV6_TCLASS
constexpr int32_t RXF_TTL = 16;       // IP_TTL
constexpr int32_t RXF_HOPLIMIT = 32;  // IPV6_HOPLIMIT
constexpr int32_t RXF_TRUNC = 64;     // the datagram was larger than its slot
constexpr int32_t RXF_CTRUNC = 128;   // control messages did not fit (never expected)
// TX_FLAGS bits.
constexpr int32_t TXF_SOURCE4 = 1;    // IP_PKTINFO with ipi_spec_dst (and TX_IFINDEX)
constexpr int32_t TXF_SOURCE6 = 2;    // IPV6_PKTINFO
constexpr int32_t TXF_TOS = 4;        // IP_TOS
constexpr int32_t TXF_TCLASS = 8;     // IPV6_TCLASS

// Indices into the stats array (udp-socket.ts mirrors them).
enum Stat { ST_RX_DATAGRAMS, ST_RX_BYTES, ST_RX_BATCHES, ST_RX_STARVED, ST_RX_ERRORS, ST_RX_LAST_ERRNO, ST_TX_DATAGRAMS,
            ST_TX_BYTES, ST_TX_SYSCALLS, ST_TX_AGAIN, ST_TX_ERRORS, ST_WAKEUPS, ST_COUNT };

constexpr unsigned MAX_BATCH = 256;
/** Batches read per wakeup before the event loop gets control back. */
constexpr unsigned ROUNDS_PER_WAKEUP = 8;
/** Room for the control messages we enable (pktinfo, tos/tclass, ttl/hoplimit, and some spare). */
constexpr size_t RX_CONTROL = 256;
constexpr size_t TX_CONTROL = CMSG_SPACE(sizeof(struct in6_pktinfo)) + CMSG_SPACE(sizeof(int));


class DatagramSocket : public Napi::ObjectWrap<DatagramSocket> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "DatagramSocket", {
      InstanceMethod("bind", &DatagramSocket::Bind),
      InstanceMethod("localAddress", &DatagramSocket::LocalAddress),
      InstanceMethod("setInt", &DatagramSocket::SetInt),
      InstanceMethod("getInt", &DatagramSocket::GetInt),
      InstanceMethod("setBytes", &DatagramSocket::SetBytes),
      InstanceMethod("attach", &DatagramSocket::Attach),
      InstanceMethod("resume", &DatagramSocket::Resume),
      InstanceMethod("flush", &DatagramSocket::Flush),
      InstanceMethod("wantWritable", &DatagramSocket::WantWritable),
      InstanceMethod("close", &DatagramSocket::Close),
    });
  }

  // new DatagramSocket({ family: 4 | 6, type, protocol, slots, slotSize, batch, txRows, txBytes })
  DatagramSocket(const Napi::CallbackInfo& info) : Napi::ObjectWrap<DatagramSocket>(info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsObject()) {
      Napi::TypeError::New(env, "new DatagramSocket(options)").ThrowAsJavaScriptException();
      return;
    }
    Napi::Object o = info[0].As<Napi::Object>();
    family_ = GetU32(o, "family", 4) == 6 ? AF_INET6 : AF_INET;
    int type = static_cast<int>(GetU32(o, "type", SOCK_DGRAM));
    int protocol = static_cast<int>(GetU32(o, "protocol", 0));
    slots_ = GetU32(o, "slots", 256);
    slotSize_ = GetU32(o, "slotSize", 65536);
    batch_ = GetU32(o, "batch", 64);
    txRows_ = GetU32(o, "txRows", 256);
    txBytes_ = GetU32(o, "txBytes", 1 << 20);
    if (slots_ == 0 || slotSize_ == 0 || slotSize_ % 64 != 0 || batch_ == 0 || batch_ > MAX_BATCH || txRows_ == 0 ||
        txRows_ > MAX_BATCH || txBytes_ < 65536 || (type != SOCK_DGRAM && type != SOCK_RAW)) {
      Napi::RangeError::New(env, "DatagramSocket: slots > 0, slotSize a multiple of 64, batch and txRows 1..256, txBytes >= 65536, type SOCK_DGRAM or SOCK_RAW").ThrowAsJavaScriptException();
      return;
    }
    // Message headers, addresses and control buffers for one batch each way, sized to it.
    rxMsgs_.reset(new struct mmsghdr[batch_]);
    rxIov_.reset(new struct iovec[batch_]);
    rxNames_.reset(new struct sockaddr_storage[batch_]);
    rxControl_.reset(new ControlRx[batch_]);
    txMsgs_.reset(new struct mmsghdr[txRows_]);
    txIov_.reset(new struct iovec[txRows_]);
    txNames_.reset(new struct sockaddr_storage[txRows_]);
    txControl_.reset(new ControlTx[txRows_]);
    fd_ = socket(family_, type | SOCK_NONBLOCK | SOCK_CLOEXEC, protocol);
    if (fd_ < 0) { ThrowErrno(env, "socket", errno); return; }

    regionBytes_ = static_cast<size_t>(slots_) * slotSize_ + txBytes_;
    region_ = MapRegion(regionBytes_);
    if (!region_) {
      int err = errno;
      CloseFd();
      ThrowErrno(env, "mmap", err);
      return;
    }
    Napi::Object self = info.This().As<Napi::Object>();
    // Unmapped when the ArrayBuffer is collected, so views into slots stay valid after close().
    self.Set("buffer", RegionBuffer(env, region_, regionBytes_));
    stats_ = StatsArray(env, self, ST_COUNT);
  }

  ~DatagramSocket() override { CloseFd(); }

 private:
  uint8_t* TxBase() const { return region_ + static_cast<size_t>(slots_) * slotSize_; }

  /** Fills `sa` from a 16-byte address row and the port/scope/flowinfo words; returns its length. */
  socklen_t MakeAddress(struct sockaddr_storage* sa, const uint8_t* addr, int32_t port, int32_t scope, int32_t flowinfo) const {
    memset(sa, 0, sizeof *sa);
    if (family_ == AF_INET) {
      auto* in = reinterpret_cast<struct sockaddr_in*>(sa);
      in->sin_family = AF_INET;
      in->sin_port = htons(static_cast<uint16_t>(port));
      memcpy(&in->sin_addr, addr, 4);
      return sizeof *in;
    }
    auto* in6 = reinterpret_cast<struct sockaddr_in6*>(sa);
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons(static_cast<uint16_t>(port));
    in6->sin6_flowinfo = htonl(static_cast<uint32_t>(flowinfo));
    in6->sin6_scope_id = static_cast<uint32_t>(scope);
    memcpy(&in6->sin6_addr, addr, 16);
    return sizeof *in6;
  }

  // bind(address: Uint8Array (4 or 16 bytes), port, scopeId)
  Napi::Value Bind(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (fd_ < 0) { ThrowErrno(env, "bind", EBADF); return env.Undefined(); }
    if (info.Length() < 3 || !info[0].IsTypedArray() || !info[1].IsNumber() || !info[2].IsNumber()) {
      Napi::TypeError::New(env, "bind(address, port, scopeId)").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    Napi::Uint8Array a = info[0].As<Napi::Uint8Array>();
    uint8_t addr[16] = {0};
    memcpy(addr, a.Data(), a.ByteLength() < 16 ? a.ByteLength() : 16);
    struct sockaddr_storage sa;
    socklen_t len = MakeAddress(&sa, addr, info[1].As<Napi::Number>().Int32Value(), info[2].As<Napi::Number>().Int32Value(), 0);
    if (bind(fd_, reinterpret_cast<struct sockaddr*>(&sa), len) != 0) ThrowErrno(env, "bind", errno);
    return env.Undefined();
  }

  // localAddress(out: Uint8Array(16)): the bound address into out; returns [port, scopeId].
  Napi::Value LocalAddress(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    struct sockaddr_storage sa;
    socklen_t len = sizeof sa;
    if (fd_ < 0 || getsockname(fd_, reinterpret_cast<struct sockaddr*>(&sa), &len) != 0) {
      ThrowErrno(env, "getsockname", fd_ < 0 ? EBADF : errno);
      return env.Undefined();
    }
    Napi::Uint8Array out = info[0].As<Napi::Uint8Array>();
    Napi::Array r = Napi::Array::New(env, 2);
    if (sa.ss_family == AF_INET) {
      auto* in = reinterpret_cast<struct sockaddr_in*>(&sa);
      memcpy(out.Data(), &in->sin_addr, 4);
      r.Set(0u, Napi::Number::New(env, ntohs(in->sin_port)));
      r.Set(1u, Napi::Number::New(env, 0));
    } else {
      auto* in6 = reinterpret_cast<struct sockaddr_in6*>(&sa);
      memcpy(out.Data(), &in6->sin6_addr, 16);
      r.Set(0u, Napi::Number::New(env, ntohs(in6->sin6_port)));
      r.Set(1u, Napi::Number::New(env, in6->sin6_scope_id));
    }
    return r;
  }

  // setInt(level, name, value): setsockopt with an int (Linux numbering).
  Napi::Value SetInt(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    int level = info[0].As<Napi::Number>().Int32Value();
    int name = info[1].As<Napi::Number>().Int32Value();
    int value = info[2].As<Napi::Number>().Int32Value();
    if (fd_ < 0 || setsockopt(fd_, level, name, &value, sizeof value) != 0) ThrowErrno(env, "setsockopt", fd_ < 0 ? EBADF : errno);
    return env.Undefined();
  }

  // setBytes(level, name, bytes): setsockopt with a struct laid out by the caller (ip_mreqn,
  // ipv6_mreq, ...), for the options that take more than an int.
  Napi::Value SetBytes(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    int level = info[0].As<Napi::Number>().Int32Value();
    int name = info[1].As<Napi::Number>().Int32Value();
    if (!info[2].IsTypedArray()) { Napi::TypeError::New(env, "setBytes(level, name, bytes)").ThrowAsJavaScriptException(); return env.Undefined(); }
    Napi::Uint8Array b = info[2].As<Napi::Uint8Array>();
    if (fd_ < 0 || setsockopt(fd_, level, name, b.Data(), static_cast<socklen_t>(b.ByteLength())) != 0) ThrowErrno(env, "setsockopt", fd_ < 0 ? EBADF : errno);
    return env.Undefined();
  }

  Napi::Value GetInt(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    int level = info[0].As<Napi::Number>().Int32Value();
    int name = info[1].As<Napi::Number>().Int32Value();
    int value = 0;
    socklen_t len = sizeof value;
    if (fd_ < 0 || getsockopt(fd_, level, name, &value, &len) != 0) {
      ThrowErrno(env, "getsockopt", fd_ < 0 ? EBADF : errno);
      return env.Undefined();
    }
    return Napi::Number::New(env, value);
  }

  // attach({ rxSpares, rxInfo, rxAddr, txInfo, txAddr }, onBatch(count), onEvent(kind, errno))
  Napi::Value Attach(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (fd_ < 0 || polling_) { Napi::Error::New(env, "attach: the socket is closed or already attached").ThrowAsJavaScriptException(); return env.Undefined(); }
    if (info.Length() < 3 || !info[0].IsObject() || !info[1].IsFunction() || !info[2].IsFunction()) {
      Napi::TypeError::New(env, "attach(arrays, onBatch, onEvent)").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    Napi::Object a = info[0].As<Napi::Object>();
    if (!TypedArrayData(env, a, "rxSpares", napi_int32_array, &rxSpares_, nullptr, 1 + batch_)) return env.Undefined();
    if (!TypedArrayData(env, a, "rxInfo", napi_int32_array, &rxInfo_, nullptr, static_cast<size_t>(batch_) * RX_WORDS)) return env.Undefined();
    if (!TypedArrayData(env, a, "rxAddr", napi_uint8_array, &rxAddr_, nullptr, static_cast<size_t>(batch_) * ADDR_ROW)) return env.Undefined();
    if (!TypedArrayData(env, a, "txInfo", napi_int32_array, &txInfo_, nullptr, static_cast<size_t>(txRows_) * TX_WORDS)) return env.Undefined();
    if (!TypedArrayData(env, a, "txAddr", napi_uint8_array, &txAddr_, nullptr, static_cast<size_t>(txRows_) * ADDR_ROW)) return env.Undefined();
    keep_ = Napi::Persistent(a);
    onBatch_ = Napi::Persistent(info[1].As<Napi::Function>());
    onEvent_ = Napi::Persistent(info[2].As<Napi::Function>());
    asyncContext_ = new Napi::AsyncContext(env, "wsk:udp");
    events_ = UV_READABLE;
    poll_ = StartPoll(env, fd_, events_, OnPoll, this);
    if (!poll_) return env.Undefined();
    polling_ = true;
    Ref();  // alive while polling; Unref in close()
    return env.Undefined();
  }

  void SetEvents(int events) {
    if (!polling_ || events == events_) return;
    events_ = events;
    if (events == 0) uv_poll_stop(poll_);
    else uv_poll_start(poll_, events, OnPoll);
  }

  // resume(): spare slots are back after reading stopped for want of them.
  Napi::Value Resume(const Napi::CallbackInfo& info) {
    if (starved_ && !closed_) {
      starved_ = false;
      SetEvents(events_ | UV_READABLE);
    }
    return info.Env().Undefined();
  }

  Napi::Value WantWritable(const Napi::CallbackInfo& info) {
    if (!closed_) SetEvents(events_ | UV_WRITABLE);
    return info.Env().Undefined();
  }

  static void OnPoll(uv_poll_t* handle, int status, int events) {
    auto* self = static_cast<DatagramSocket*>(handle->data);
    if (self->closed_) return;
    Napi::Env env = self->Env();
    Napi::HandleScope scope(env);
    self->stats_[ST_WAKEUPS]++;
    if (status < 0) {
      self->Emit(EVENT_ERROR, -status);
      return;
    }
    if (events & UV_WRITABLE) {
      self->SetEvents(self->events_ & ~UV_WRITABLE);
      if (!self->Emit(EVENT_WRITABLE, 0)) return;
    }
    if (events & UV_READABLE) self->Drain();
  }

  static constexpr int EVENT_ERROR = 1;
  static constexpr int EVENT_WRITABLE = 2;

  /** Calls onEvent; false when the callback closed the socket. */
  bool Emit(int kind, int err) {
    Napi::Env env = Env();
    onEvent_.MakeCallback(Value(), {Napi::Number::New(env, kind), Napi::Number::New(env, err)}, *asyncContext_);
    ReportPendingException(env);
    return !closed_;
  }

  void Drain() {
    Napi::Env env = Env();
    for (unsigned round = 0; round < ROUNDS_PER_WAKEUP && !closed_; round++) {
      uint32_t spare = static_cast<uint32_t>(rxSpares_[0]);
      uint32_t n = spare < batch_ ? spare : batch_;
      if (n == 0) {
        // Everything is held: stop reading until JavaScript gives slots back (resume()).
        starved_ = true;
        stats_[ST_RX_STARVED]++;
        SetEvents(events_ & ~UV_READABLE);
        return;
      }
      for (uint32_t k = 0; k < n; k++) {
        int32_t slot = rxSpares_[spare - k];
        rxIov_[k].iov_base = region_ + static_cast<size_t>(slot) * slotSize_;
        rxIov_[k].iov_len = slotSize_;
        struct msghdr& h = rxMsgs_[k].msg_hdr;
        h.msg_name = &rxNames_[k];
        h.msg_namelen = sizeof rxNames_[k];
        h.msg_iov = &rxIov_[k];
        h.msg_iovlen = 1;
        h.msg_control = rxControl_[k].bytes;
        h.msg_controllen = RX_CONTROL;
        h.msg_flags = 0;
        rxMsgs_[k].msg_len = 0;
      }
      int r;
      do r = recvmmsg(fd_, rxMsgs_.get(), n, MSG_DONTWAIT, nullptr); while (r < 0 && errno == EINTR);
      if (r <= 0) {
        if (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
          // ICMP errors queued on the socket (ECONNREFUSED after a port unreachable) end a read
          // without data; anything else is the socket's failure.
          stats_[ST_RX_ERRORS]++;
          stats_[ST_RX_LAST_ERRNO] = errno;
          if (errno != ECONNREFUSED && errno != EHOSTUNREACH && errno != ENETUNREACH && errno != ENOBUFS && errno != ENOMEM) Emit(EVENT_ERROR, errno);
        }
        return;
      }
      for (int i = 0; i < r; i++) Decode(static_cast<uint32_t>(i), rxSpares_[spare - i]);
      rxSpares_[0] = static_cast<int32_t>(spare - r);
      stats_[ST_RX_BATCHES]++;
      onBatch_.MakeCallback(Value(), {Napi::Number::New(env, r)}, *asyncContext_);
      ReportPendingException(env);
      if (static_cast<uint32_t>(r) < n) return;  // the socket is empty
    }
  }

  /** Writes row i of rxInfo/rxAddr from rxMsgs_[i], received into `slot`. */
  void Decode(uint32_t i, int32_t slot) {
    int32_t* w = rxInfo_ + static_cast<size_t>(i) * RX_WORDS;
    uint8_t* addr = rxAddr_ + static_cast<size_t>(i) * ADDR_ROW;
    const struct mmsghdr& m = rxMsgs_[i];
    int32_t flags = 0;
    w[RX_SLOT] = slot;
    w[RX_LENGTH] = static_cast<int32_t>(m.msg_len);
    w[RX_IFINDEX] = 0;
    w[RX_TOS] = -1;
    w[RX_TTL] = -1;
    if (m.msg_hdr.msg_flags & MSG_TRUNC) flags |= RXF_TRUNC;
    if (m.msg_hdr.msg_flags & MSG_CTRUNC) flags |= RXF_CTRUNC;
    const auto* name = reinterpret_cast<const struct sockaddr_storage*>(m.msg_hdr.msg_name);
    if (name->ss_family == AF_INET6) {
      auto* in6 = reinterpret_cast<const struct sockaddr_in6*>(name);
      memcpy(addr, &in6->sin6_addr, 16);
      w[RX_PORT] = ntohs(in6->sin6_port);
      w[RX_SCOPE] = static_cast<int32_t>(in6->sin6_scope_id);
      w[RX_FLOWINFO] = static_cast<int32_t>(ntohl(in6->sin6_flowinfo));
    } else {
      auto* in = reinterpret_cast<const struct sockaddr_in*>(name);
      memcpy(addr, &in->sin_addr, 4);
      w[RX_PORT] = ntohs(in->sin_port);
      w[RX_SCOPE] = 0;
      w[RX_FLOWINFO] = 0;
    }
    for (struct cmsghdr* c = CMSG_FIRSTHDR(&m.msg_hdr); c; c = CMSG_NXTHDR(const_cast<struct msghdr*>(&m.msg_hdr), c)) {
      if (c->cmsg_level == IPPROTO_IP) {
        if (c->cmsg_type == IP_PKTINFO && c->cmsg_len >= CMSG_LEN(sizeof(struct in_pktinfo))) {
          struct in_pktinfo p;
          memcpy(&p, CMSG_DATA(c), sizeof p);
          memcpy(addr + 16, &p.ipi_addr, 4);  // the header's destination, not ipi_spec_dst
          w[RX_IFINDEX] = p.ipi_ifindex;
          flags |= RXF_PKTINFO4;
        } else if (c->cmsg_type == IP_TOS && c->cmsg_len >= CMSG_LEN(1)) {
          w[RX_TOS] = *CMSG_DATA(c);
          flags |= RXF_TOS;
        } else if (c->cmsg_type == IP_TTL && c->cmsg_len >= CMSG_LEN(sizeof(int))) {
          int v;
          memcpy(&v, CMSG_DATA(c), sizeof v);
          w[RX_TTL] = v;
          flags |= RXF_TTL;
        }
      } else if (c->cmsg_level == IPPROTO_IPV6) {
        if (c->cmsg_type == IPV6_PKTINFO && c->cmsg_len >= CMSG_LEN(sizeof(struct in6_pktinfo))) {
          struct in6_pktinfo p;
          memcpy(&p, CMSG_DATA(c), sizeof p);
          memcpy(addr + 16, &p.ipi6_addr, 16);
          w[RX_IFINDEX] = static_cast<int32_t>(p.ipi6_ifindex);
          flags |= RXF_PKTINFO6;
        } else if (c->cmsg_type == IPV6_TCLASS && c->cmsg_len >= CMSG_LEN(sizeof(int))) {
          int v;
          memcpy(&v, CMSG_DATA(c), sizeof v);
          w[RX_TOS] = v;
          flags |= RXF_TCLASS;
        } else if (c->cmsg_type == IPV6_HOPLIMIT && c->cmsg_len >= CMSG_LEN(sizeof(int))) {
          int v;
          memcpy(&v, CMSG_DATA(c), sizeof v);
          w[RX_TTL] = v;
          flags |= RXF_HOPLIMIT;
        }
      }
    }
    w[RX_FLAGS] = flags;
    stats_[ST_RX_DATAGRAMS]++;
    stats_[ST_RX_BYTES] += m.msg_len;
  }

  /** Builds row i's message header (and its control messages) for sendmmsg. */
  void Prepare(uint32_t i) {
    const int32_t* w = txInfo_ + static_cast<size_t>(i) * TX_WORDS;
    const uint8_t* addr = txAddr_ + static_cast<size_t>(i) * ADDR_ROW;
    struct msghdr& h = txMsgs_[i].msg_hdr;
    memset(&h, 0, sizeof h);
    h.msg_namelen = MakeAddress(&txNames_[i], addr, w[TX_PORT], w[TX_SCOPE], w[TX_FLOWINFO]);
    h.msg_name = &txNames_[i];
    txIov_[i].iov_base = TxBase() + w[TX_OFFSET];
    txIov_[i].iov_len = static_cast<size_t>(w[TX_LENGTH]);
    h.msg_iov = &txIov_[i];
    h.msg_iovlen = 1;
    int32_t flags = w[TX_FLAGS];
    if (flags == 0) return;
    uint8_t* control = txControl_[i].bytes;
    memset(control, 0, TX_CONTROL);
    h.msg_control = control;
    h.msg_controllen = TX_CONTROL;
    struct cmsghdr* c = CMSG_FIRSTHDR(&h);
    size_t used = 0;
    if (flags & TXF_SOURCE4) {
      c->cmsg_level = IPPROTO_IP;
      c->cmsg_type = IP_PKTINFO;
      c->cmsg_len = CMSG_LEN(sizeof(struct in_pktinfo));
      struct in_pktinfo p;
      memset(&p, 0, sizeof p);
      p.ipi_ifindex = w[TX_IFINDEX];
      memcpy(&p.ipi_spec_dst, addr + 16, 4);
      memcpy(CMSG_DATA(c), &p, sizeof p);
      used += CMSG_SPACE(sizeof p);
      c = CMSG_NXTHDR(&h, c);
    } else if (flags & TXF_SOURCE6) {
      c->cmsg_level = IPPROTO_IPV6;
      c->cmsg_type = IPV6_PKTINFO;
      c->cmsg_len = CMSG_LEN(sizeof(struct in6_pktinfo));
      struct in6_pktinfo p;
      memset(&p, 0, sizeof p);
      p.ipi6_ifindex = static_cast<unsigned>(w[TX_IFINDEX]);
      memcpy(&p.ipi6_addr, addr + 16, 16);
      memcpy(CMSG_DATA(c), &p, sizeof p);
      used += CMSG_SPACE(sizeof p);
      c = CMSG_NXTHDR(&h, c);
    }
    if (flags & (TXF_TOS | TXF_TCLASS)) {
      c->cmsg_level = (flags & TXF_TOS) ? IPPROTO_IP : IPPROTO_IPV6;
      c->cmsg_type = (flags & TXF_TOS) ? IP_TOS : IPV6_TCLASS;
      c->cmsg_len = CMSG_LEN(sizeof(int));
      int v = w[TX_TOS];
      memcpy(CMSG_DATA(c), &v, sizeof v);
      used += CMSG_SPACE(sizeof v);
    }
    h.msg_controllen = used;
  }

  // flush(count): sends rows [0, count) of txInfo. Each row's TX_RESULT gets the bytes sent or
  // -errno. Returns how many rows are done (sent or failed); the rest met a full socket buffer.
  Napi::Value Flush(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    uint32_t count = info[0].As<Napi::Number>().Uint32Value();
    if (count > txRows_) count = txRows_;
    if (closed_ || !txInfo_) {
      for (uint32_t i = 0; txInfo_ && i < count; i++) txInfo_[i * TX_WORDS + TX_RESULT] = -EBADF;
      return Napi::Number::New(env, count);
    }
    for (uint32_t i = 0; i < count; i++) Prepare(i);
    uint32_t i = 0;
    while (i < count) {
      stats_[ST_TX_SYSCALLS]++;
      int r = sendmmsg(fd_, txMsgs_.get() + i, count - i, MSG_DONTWAIT);
      if (r > 0) {
        for (int k = 0; k < r; k++) {
          int32_t* w = txInfo_ + static_cast<size_t>(i + k) * TX_WORDS;
          w[TX_RESULT] = static_cast<int32_t>(txMsgs_[i + k].msg_len);
          stats_[ST_TX_BYTES] += txMsgs_[i + k].msg_len;
        }
        stats_[ST_TX_DATAGRAMS] += r;
        i += static_cast<uint32_t>(r);
        continue;
      }
      int err = errno;
      if (err == EINTR) continue;
      if (err == EAGAIN || err == EWOULDBLOCK) { stats_[ST_TX_AGAIN]++; break; }
      // This datagram is refused (too large, no route, bad source): it fails alone.
      txInfo_[static_cast<size_t>(i) * TX_WORDS + TX_RESULT] = -err;
      stats_[ST_TX_ERRORS]++;
      i++;
    }
    return Napi::Number::New(env, i);
  }

  void CloseFd() {
    if (fd_ >= 0) { close(fd_); fd_ = -1; }
  }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    if (closed_) return info.Env().Undefined();
    closed_ = true;
    if (polling_) {
      StopPoll(poll_);
      polling_ = false;
      onBatch_.Reset();
      onEvent_.Reset();
      keep_.Reset();
      delete asyncContext_;
      asyncContext_ = nullptr;
      Unref();
    }
    CloseFd();
    return info.Env().Undefined();
  }

  int fd_ = -1;
  int family_ = AF_INET;
  uint32_t slots_ = 0;
  uint32_t slotSize_ = 0;
  uint32_t batch_ = 0;
  uint32_t txRows_ = 0;
  uint32_t txBytes_ = 0;
  uint8_t* region_ = nullptr;
  size_t regionBytes_ = 0;
  double* stats_ = nullptr;
  bool closed_ = false;
  bool polling_ = false;
  bool starved_ = false;
  int events_ = 0;
  uv_poll_t* poll_ = nullptr;
  Napi::AsyncContext* asyncContext_ = nullptr;
  Napi::ObjectReference keep_;
  Napi::FunctionReference onBatch_;
  Napi::FunctionReference onEvent_;
  int32_t* rxSpares_ = nullptr;
  int32_t* rxInfo_ = nullptr;
  uint8_t* rxAddr_ = nullptr;
  int32_t* txInfo_ = nullptr;
  uint8_t* txAddr_ = nullptr;
  struct ControlRx { alignas(struct cmsghdr) uint8_t bytes[RX_CONTROL]; };
  struct ControlTx { alignas(struct cmsghdr) uint8_t bytes[TX_CONTROL]; };
  std::unique_ptr<struct mmsghdr[]> rxMsgs_;
  std::unique_ptr<struct iovec[]> rxIov_;
  std::unique_ptr<struct sockaddr_storage[]> rxNames_;
  std::unique_ptr<ControlRx[]> rxControl_;
  std::unique_ptr<struct mmsghdr[]> txMsgs_;
  std::unique_ptr<struct iovec[]> txIov_;
  std::unique_ptr<struct sockaddr_storage[]> txNames_;
  std::unique_ptr<ControlTx[]> txControl_;
};

// errnoName(n): the errno's name ("EADDRINUSE"), for status mapping of flush results.
Napi::Value ErrnoName(const Napi::CallbackInfo& info) {
  const char* name = strerrorname_np(info[0].As<Napi::Number>().Int32Value());
  return Napi::String::New(info.Env(), name ? name : "EUNKNOWN");
}

// interfaceExists(index): whether an interface has this index (an IN_PKTINFO ipi_ifindex; Linux
// lets a send to a local address through whatever index it names).
Napi::Value InterfaceExists(const Napi::CallbackInfo& info) {
  char name[IF_NAMESIZE];
  uint32_t index = info[0].As<Napi::Number>().Uint32Value();
  return Napi::Boolean::New(info.Env(), index != 0 && if_indextoname(index, name) != nullptr);
}

// setFdInt(fd, level, name, value): setsockopt on a socket Node owns (a node:net TCP socket's or
// server's descriptor), for the IP-level options node:net has no call for (IP_TTL, IP_TOS, ...).
Napi::Value SetFdInt(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = info[0].As<Napi::Number>().Int32Value();
  int level = info[1].As<Napi::Number>().Int32Value();
  int name = info[2].As<Napi::Number>().Int32Value();
  int value = info[3].As<Napi::Number>().Int32Value();
  if (fd < 0 || setsockopt(fd, level, name, &value, sizeof value) != 0) ThrowErrno(env, "setsockopt", fd < 0 ? EBADF : errno);
  return env.Undefined();
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("DatagramSocket", DatagramSocket::Define(env));
  exports.Set("setFdInt", Napi::Function::New(env, SetFdInt));
  exports.Set("errnoName", Napi::Function::New(env, ErrnoName));
  exports.Set("interfaceExists", Napi::Function::New(env, InterfaceExists));
  return exports;
}

}  // namespace
}  // namespace wsk

static Napi::Object InitUdp(Napi::Env env, Napi::Object exports) { return wsk::Init(env, exports); }
NODE_API_MODULE(wsk_udp, InitUdp)
