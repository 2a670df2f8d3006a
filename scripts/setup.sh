#!/usr/bin/env bash
# Sets up a fresh Debian machine for wsk-runtime: the apt packages the links and the real peers
# need (as root; otherwise it says what is missing), then npm ci, which builds the native links.
# The README's first command runs this, then `npx wsk demo`; .ci/run runs it before the tests.
set -uo pipefail
cd "$(dirname "$0")/.."

need_apt=()
[ -f /etc/services ] || need_apt+=(netbase)
command -v ip >/dev/null 2>&1 || need_apt+=(iproute2)
# Real peers the interop tests talk to.
command -v socat >/dev/null 2>&1 || need_apt+=(socat)
nc -h 2>&1 | grep -q -- ' -N ' || need_apt+=(netcat-openbsd)
# pcap readers the sniffer tests check their files with.
command -v tshark >/dev/null 2>&1 || need_apt+=(tshark)
command -v tcpdump >/dev/null 2>&1 || need_apt+=(tcpdump)
# Lab helpers (apps/lab): offload switches and the ping check.
command -v ethtool >/dev/null 2>&1 || need_apt+=(ethtool)
command -v ping >/dev/null 2>&1 || need_apt+=(iputils-ping)
# Native links (transports/native/build.mjs): a C++ compiler, libpcap; raw-socket's node-gyp build.
command -v g++ >/dev/null 2>&1 || need_apt+=(g++)
command -v make >/dev/null 2>&1 || need_apt+=(make)
command -v python3 >/dev/null 2>&1 || need_apt+=(python3)
[ -f /usr/include/pcap/pcap.h ] || need_apt+=(libpcap-dev)
# Interop and benchmark peers on real devices; nft keeps the host's own stack quiet for the raw IP link.
command -v iperf3 >/dev/null 2>&1 || need_apt+=(iperf3)
command -v nft >/dev/null 2>&1 || need_apt+=(nftables)
# The stock WireGuard peer of the WireGuard interop test (apps/wireguard). Installed without
# recommends: wireguard-tools recommends a kernel image, which a test machine does not need.
need_apt_lean=()
command -v wireguard-go >/dev/null 2>&1 || need_apt_lean+=(wireguard-go)
command -v wg >/dev/null 2>&1 || need_apt_lean+=(wireguard-tools)
if [ ${#need_apt[@]} -gt 0 ] || [ ${#need_apt_lean[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq
    [ ${#need_apt[@]} -eq 0 ] || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
    [ ${#need_apt_lean[@]} -eq 0 ] || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_apt_lean[@]}" >/dev/null
  else
    echo "warning: missing ${need_apt[*]} ${need_apt_lean[*]} and not root: as root, apt-get install -y ${need_apt[*]} ${need_apt_lean[*]} (without them the real-device links, their tests and the root demo cannot run)" >&2
  fi
fi

if ! command -v node >/dev/null 2>&1; then
  echo "Node.js 20+ is required (apt-get install nodejs npm)" >&2
  exit 1
fi

npm ci --no-audit --no-fund 2>&1 | grep -v 'Unknown user config' | tail -n 3
