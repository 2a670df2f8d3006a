// TransportDatagram over the kernel provider's own UDP or raw socket (udp-socket.ts:
// recvmmsg/sendmmsg with control messages). Each received datagram → sink.onDatagram(slot view, 0, length, from, 0, info) with the
// facts setReceiveInfo asked for; the view is a slot of the socket's arena, kept past the call
// only through hold(). Socket errors → sink.onError. sendTo completes done(status, bytes) exactly
// once, after its batch left, never inside the call. Option refusals throw ProviderError.
import {
  ProviderError, SEND_BUFFER, SEND_DONT_FRAGMENT, SEND_DONT_FRAGMENT6, SEND_HEADER_INCLUDED, SEND_HOP_LIMIT, SEND_TCLASS, SEND_MULTICAST_HOPS,
  SEND_MULTICAST_IF, SEND_MULTICAST_IF6, SEND_MULTICAST_LOOP, SEND_MULTICAST_LOOP6, SEND_MULTICAST_TTL, SEND_TOS, SEND_TTL, SEND_UNICAST_IF, RECV_HOPLIMIT, RECV_PKTINFO, RECV_PKTINFO6, RECV_TCLASS, RECV_TOS, RECV_TTL, newDatagramInfo,
  type DatagramOptions, type DatagramSendInfo, type DatagramSink, type TransportDatagram,
} from '../../runtime/provider.ts';
import { ntStatusFromErrno, STATUS_ACCESS_DENIED, STATUS_INVALID_PARAMETER, type NTSTATUS } from '../../runtime/ntstatus.ts';
import { AF_INET, AF_INET6, htonl, type Endpoint } from '../../runtime/sockaddr.ts';
import { isLocalAddress, providerError, type Family } from './kernel-address.ts';
import {
  ADDR_ROW, isV4Mapped, LINUX, RX_FLAGS, RX_FLOWINFO, RX_IFINDEX, RX_PORT, RX_SCOPE, RX_TOS, RX_TTL, RXF_HOPLIMIT, RXF_PKTINFO4,
  RXF_PKTINFO6, RXF_TCLASS, RXF_TOS, RXF_TTL, RX_WORDS, UdpSocket, interfaceExists,
} from './udp-socket.ts';

/**
 * Linux's struct ip_mreqn { in_addr imr_multiaddr; in_addr imr_address; int imr_ifindex; } for a
 * group (null: IP_MULTICAST_IF, which reads the same struct without it) on an interface choice
 * (provider.ts: a local address, 0, or below 2^24 an interface index, which must exist).
 */
function ipMreqn(group: Uint8Array | null, iface: number): Uint8Array {
  const b = new Uint8Array(12);
  if (group) b.set(group.subarray(0, 4), 0);
  if (iface !== 0 && iface < 0x1000000) {
    if (!interfaceExists(iface)) throw new ProviderError(STATUS_INVALID_PARAMETER, `no interface ${iface}`);
    new DataView(b.buffer).setInt32(8, iface, true);
  } else {
    new DataView(b.buffer).setUint32(4, iface, false);
  }
  return b;
}

function copyAddress(to: Uint8Array, from: Uint8Array, at: number, n: number): void {
  for (let i = 0; i < n; i++) to[i] = from[at + i]!;
}

/** Linux's struct ipv6_mreq { in6_addr ipv6mr_multiaddr; int ipv6mr_ifindex; } (the index must exist; 0: the route chooses). */
function ipv6Mreq(group: Uint8Array, iface: number): Uint8Array {
  checkInterface6(iface);
  const b = new Uint8Array(20);
  b.set(group.subarray(0, 16), 0);
  new DataView(b.buffer).setInt32(16, iface, true);
  return b;
}

function checkInterface6(iface: number): void {
  if (iface !== 0 && !interfaceExists(iface)) throw new ProviderError(STATUS_INVALID_PARAMETER, `no interface ${iface}`);
}

export class KernelDatagram implements TransportDatagram {
  private closed = false;
  private receiveMask = 0;
  private readonly info = newDatagramInfo();
  private readonly from4: Endpoint = { family: AF_INET, address: new Uint8Array(4), port: 0 };
  private readonly from6: Endpoint = { family: AF_INET6, address: new Uint8Array(16), port: 0, flowinfo: 0, scopeId: 0 };

  private constructor(
    private readonly socket: UdpSocket,
    private readonly family: Family,
    readonly localEndpoint: Endpoint,
    private readonly onRelease: (d: KernelDatagram) => void,
    /** A raw socket (SOCK_RAW): no ports; what an IPv4 one receives starts with the IPv4 header (raw(7)), an IPv6 one gets the payload only (raw(7), RFC 3542 §3). */
    private readonly raw: boolean,
  ) {}

  /** Creates and binds the socket, applies the options, then starts delivering to `sink`. */
  static bind(local: Endpoint, options: DatagramOptions, sink: DatagramSink, onRelease: (d: KernelDatagram) => void): Promise<KernelDatagram> {
    const family: Family = local.family === AF_INET ? AF_INET : AF_INET6;
    const raw = options.rawProtocol !== undefined;
    let socket: UdpSocket;
    try {
      socket = new UdpSocket({ family: family === AF_INET ? 4 : 6, ...(raw ? { type: LINUX.SOCK_RAW, protocol: options.rawProtocol } : {}) });
    } catch (err) {
      // Windows refuses raw sockets to callers without the right with WSAEACCES (the "TCP/IP raw sockets" page).
      if (raw && (err as { code?: string }).code === 'EPERM') {
        return Promise.reject(new ProviderError(STATUS_ACCESS_DENIED, 'raw socket: the process needs CAP_NET_RAW (run as root, or setcap cap_net_raw+ep on node).'));
      }
      return Promise.reject(providerError(err, raw ? 'raw socket' : 'datagram socket'));
    }
    const out = new Uint8Array(16);
    let port: number;
    let scopeId: number;
    try {
      // A raw IPv6 socket is IPv6-only already (Linux refuses the option on it).
      if (family === AF_INET6 && !raw) socket.setInt(LINUX.IPPROTO_IPV6, LINUX.IPV6_V6ONLY, options.v6Only ? 1 : 0);
      if (options.reuseAddress) socket.setInt(LINUX.SOL_SOCKET, LINUX.SO_REUSEADDR, 1);
      // Windows sends UDP with DF clear unless IP_DONTFRAGMENT asks (Linux's default sets it).
      if (family === AF_INET) socket.setInt(LINUX.IPPROTO_IP, LINUX.IP_MTU_DISCOVER, LINUX.IP_PMTUDISC_DONT);
      socket.bind(local.address, raw ? 0 : local.port, local.scopeId ?? 0);
      if (options.broadcast) socket.setInt(LINUX.SOL_SOCKET, LINUX.SO_BROADCAST, 1);
      if (options.receiveBufferSize > 0) socket.setInt(LINUX.SOL_SOCKET, LINUX.SO_RCVBUF, options.receiveBufferSize);
      [port, scopeId] = socket.localAddress(out);
    } catch (err) {
      socket.close();
      return Promise.reject(providerError(err, `bind datagram socket on port ${local.port}`));
    }
    // Linux names a raw socket's port after its protocol; Winsock's raw sockets have none.
    if (raw) port = 0;
    const localEndpoint: Endpoint = family === AF_INET
      ? { family, address: out.slice(0, 4), port }
      : { family, address: out, port, flowinfo: 0, scopeId };
    const datagram = new KernelDatagram(socket, family, localEndpoint, onRelease, raw);
    try {
      datagram.setReceiveInfo(options.receiveInfo);
    } catch (err) {
      socket.close();
      return Promise.reject(err);
    }
    socket.onDatagram = (row) => datagram.deliver(row, sink);
    socket.onError = (errno) => { if (!datagram.closed) sink.onError(ntStatusFromErrno(errno)); };
    socket.start();
    return Promise.resolve(datagram);
  }

  private deliver(row: number, sink: DatagramSink): void {
    const s = this.socket;
    const w = row * RX_WORDS;
    const words = s.rxInfo;
    const a = row * ADDR_ROW;
    const rowAddr = s.rxAddr;
    const info = this.info;
    const flags = words[w + RX_FLAGS]!;
    // The sender, in an endpoint of our own refilled per datagram (the sink copies what it keeps).
    let from: Endpoint;
    let v4: boolean;
    if (this.family === AF_INET) {
      from = this.from4;
      copyAddress(from.address, rowAddr, a, 4);
      from.port = words[w + RX_PORT]!;
      v4 = true;
    } else {
      from = this.from6;
      copyAddress(from.address, rowAddr, a, 16);
      from.port = words[w + RX_PORT]!;
      from.flowinfo = words[w + RX_FLOWINFO]!;
      from.scopeId = words[w + RX_SCOPE]!;
      v4 = isV4Mapped(from.address);
    }
    let present = 0;
    if (this.receiveMask !== 0) {
      // An IPv4 datagram carries IPv4 facts only, an IPv6 one IPv6 facts (a dual-stack socket
      // gets both kinds): as Windows reports them (IP_PKTINFO page, dual-stack sockets).
      if (v4) {
        if (flags & RXF_PKTINFO4) { present |= RECV_PKTINFO; info.local.set(rowAddr.subarray(a + 16, a + 20)); }
        if (flags & RXF_TOS) present |= RECV_TOS;
        if (flags & RXF_TTL) present |= RECV_TTL;
      } else {
        if (flags & RXF_PKTINFO6) { present |= RECV_PKTINFO6; info.local.set(rowAddr.subarray(a + 16, a + 32)); }
        if (flags & RXF_TCLASS) present |= RECV_TCLASS;
        if (flags & RXF_HOPLIMIT) present |= RECV_HOPLIMIT;
      }
      info.ifIndex = words[w + RX_IFINDEX]!;
      info.tos = words[w + RX_TOS]!;
      info.ttl = words[w + RX_TTL]!;
      present &= this.receiveMask;
    }
    info.present = present;
    sink.onDatagram(s.currentStorage(), 0, s.currentLength(), from, 0, info);
  }

  sendTo<T>(pieces: Uint8Array[], to: Endpoint, done: (status: NTSTATUS, bytes: number, token: T) => void, sendInfo?: DatagramSendInfo | null, token?: T): void {
    const t = token as T;
    let address = to.address;
    if (to.family !== this.family) {
      if (this.family === AF_INET6) {
        // An IPv4 destination from a dual-stack socket: ::ffff:a.b.c.d.
        address = new Uint8Array(16);
        address[10] = 0xff; address[11] = 0xff;
        address.set(to.address, 12);
      } else if (isV4Mapped(to.address)) {
        address = to.address.subarray(12, 16);
      } else {
        queueMicrotask(() => done(STATUS_INVALID_PARAMETER, 0, t));
        return;
      }
    }
    // IN_PKTINFO: a source that is ours and an interface that exists, or the send fails at once
    // with STATUS_INVALID_PARAMETER, as on the userspace stack.
    if ((!this.raw && (to.port <= 0 || to.port > 0xffff)) || (sendInfo && ((sendInfo.source && !isLocalAddress(sendInfo.source))
      || (sendInfo.ifIndex !== 0 && !interfaceExists(sendInfo.ifIndex))))) {
      queueMicrotask(() => done(STATUS_INVALID_PARAMETER, 0, t));
      return;
    }
    this.socket.send(pieces, address, this.raw ? 0 : to.port, to.scopeId ?? 0, to.flowinfo ?? 0, sendInfo?.source ?? null, sendInfo?.ifIndex ?? 0,
      sendInfo?.tos ?? -1, done, t);
  }

  setReceiveInfo(mask: number): void {
    const set = (bit: number, level: number, name: number): void => {
      if ((mask & bit) === (this.receiveMask & bit)) return;
      try { this.socket.setInt(level, name, mask & bit ? 1 : 0); } catch (err) { throw providerError(err, 'receive control info'); }
    };
    set(RECV_PKTINFO, LINUX.IPPROTO_IP, LINUX.IP_PKTINFO);
    set(RECV_TOS, LINUX.IPPROTO_IP, LINUX.IP_RECVTOS);
    set(RECV_TTL, LINUX.IPPROTO_IP, LINUX.IP_RECVTTL);
    if (this.family === AF_INET6) {
      set(RECV_PKTINFO6, LINUX.IPPROTO_IPV6, LINUX.IPV6_RECVPKTINFO);
      set(RECV_TCLASS, LINUX.IPPROTO_IPV6, LINUX.IPV6_RECVTCLASS);
      set(RECV_HOPLIMIT, LINUX.IPPROTO_IPV6, LINUX.IPV6_RECVHOPLIMIT);
    }
    this.receiveMask = mask;
  }

  hold(): number { return this.socket.hold(); }
  heldStorage(handle: number): Uint8Array { return this.socket.heldStorage(handle); }
  heldOffset(handle: number): number { return this.socket.heldOffset(handle); }
  pin(handle: number): void { this.socket.pin(handle); }
  release(handle: number): void { this.socket.release(handle); }

  setBroadcast(enable: boolean): void {
    try { this.socket.setInt(LINUX.SOL_SOCKET, LINUX.SO_BROADCAST, enable ? 1 : 0); } catch (err) { throw providerError(err, 'SO_BROADCAST'); }
  }

  setReceiveBufferSize(bytes: number): void {
    if (bytes <= 0) throw new ProviderError(STATUS_INVALID_PARAMETER, `SO_RCVBUF: ${bytes}`);
    try { this.socket.setInt(LINUX.SOL_SOCKET, LINUX.SO_RCVBUF, bytes); } catch (err) { throw providerError(err, 'SO_RCVBUF'); }
  }

  setSendOption(option: number, value: number): void {
    const s = this.socket;
    try {
      switch (option) {
        case SEND_TTL: s.setInt(LINUX.IPPROTO_IP, LINUX.IP_TTL, value); break;
        case SEND_TOS: s.setInt(LINUX.IPPROTO_IP, LINUX.IP_TOS, value); break;
        case SEND_DONT_FRAGMENT: s.setInt(LINUX.IPPROTO_IP, LINUX.IP_MTU_DISCOVER, value ? LINUX.IP_PMTUDISC_DO : LINUX.IP_PMTUDISC_DONT); break;
        case SEND_UNICAST_IF:
          if (value !== 0 && !interfaceExists(value)) throw new ProviderError(STATUS_INVALID_PARAMETER, `IP_UNICAST_IF: no interface ${value}`);
          // Linux takes the index in network byte order too (ip(7)).
          s.setInt(LINUX.IPPROTO_IP, LINUX.IP_UNICAST_IF, htonl(value) | 0);
          break;
        case SEND_BUFFER: s.setInt(LINUX.SOL_SOCKET, LINUX.SO_SNDBUF, value); break;
        case SEND_HOP_LIMIT: s.setInt(LINUX.IPPROTO_IPV6, LINUX.IPV6_UNICAST_HOPS, value); break;
        case SEND_TCLASS: s.setInt(LINUX.IPPROTO_IPV6, LINUX.IPV6_TCLASS, value); break;
        case SEND_DONT_FRAGMENT6: s.setInt(LINUX.IPPROTO_IPV6, LINUX.IPV6_DONTFRAG, value); break;
        case SEND_MULTICAST_TTL: s.setInt(LINUX.IPPROTO_IP, LINUX.IP_MULTICAST_TTL, value); break;
        case SEND_MULTICAST_LOOP: s.setInt(LINUX.IPPROTO_IP, LINUX.IP_MULTICAST_LOOP, value); break;
        case SEND_MULTICAST_IF: s.setBytes(LINUX.IPPROTO_IP, LINUX.IP_MULTICAST_IF, ipMreqn(null, value)); break;
        case SEND_HEADER_INCLUDED: s.setInt(LINUX.IPPROTO_IP, LINUX.IP_HDRINCL, value); break;
        case SEND_MULTICAST_HOPS: s.setInt(LINUX.IPPROTO_IPV6, LINUX.IPV6_MULTICAST_HOPS, value); break;
        case SEND_MULTICAST_LOOP6: s.setInt(LINUX.IPPROTO_IPV6, LINUX.IPV6_MULTICAST_LOOP, value); break;
        case SEND_MULTICAST_IF6: checkInterface6(value); s.setInt(LINUX.IPPROTO_IPV6, LINUX.IPV6_MULTICAST_IF, value); break;
        default: throw new ProviderError(STATUS_INVALID_PARAMETER, `send option ${option}`);
      }
    } catch (err) {
      throw err instanceof ProviderError ? err : providerError(err, `send option ${option}`);
    }
  }

  setMembership(group: Uint8Array, iface: number, join: boolean): void {
    const v6 = group.byteLength === 16;
    const what = `${v6 ? 'IPV6' : 'IP'}_${join ? 'ADD' : 'DROP'}_MEMBERSHIP`;
    try {
      if (v6) this.socket.setBytes(LINUX.IPPROTO_IPV6, join ? LINUX.IPV6_ADD_MEMBERSHIP : LINUX.IPV6_DROP_MEMBERSHIP, ipv6Mreq(group, iface));
      else this.socket.setBytes(LINUX.IPPROTO_IP, join ? LINUX.IP_ADD_MEMBERSHIP : LINUX.IP_DROP_MEMBERSHIP, ipMreqn(group, iface));
    } catch (err) {
      if (err instanceof ProviderError) throw err;
      const code = (err as { code?: string }).code;
      // ENODEV: no such interface, or no route to choose one; EADDRNOTAVAIL: a drop of a group not joined.
      throw code === 'EADDRINUSE' ? providerError(err, what) : new ProviderError(STATUS_INVALID_PARAMETER, `${what}: ${code ?? err}`);
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.onRelease(this);
    this.socket.close();
  }
}
