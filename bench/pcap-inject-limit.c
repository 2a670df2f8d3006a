// How fast libpcap can send on Linux, the ceiling of the libpcap link's app->peer figure
// (transports/pcap/pcap.cc): libpcap has no batch or segmentation-offload send, so every frame is
// one pcap_inject (a send(2) on its packet socket, which on veth also runs the peer's receive
// path). This sends N wire-sized UDP frames (1514 bytes, to the peer's MAC, dropped by its UDP
// layer unless something listens) as fast as pcap_inject takes them, with and without
// PACKET_QDISC_BYPASS on libpcap's socket, and prints frames/s and Gbit/s of frame bytes.
// Run in a lab (`wsk lab up` prints the names):
//   gcc -O2 -o /tmp/pcap-limit bench/pcap-inject-limit.c -lpcap
//   ip netns exec wskB-<id> /tmp/pcap-limit vb-<id> <peer MAC> 300000
#include <errno.h>
#include <linux/if_packet.h>
#include <pcap/pcap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

static double now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec / 1e9;
}

static void run(const char* dev, const unsigned char* mac, long n, int bypass) {
  char err[PCAP_ERRBUF_SIZE];
  pcap_t* p = pcap_create(dev, err);
  if (!p || pcap_set_immediate_mode(p, 1) != 0 || pcap_activate(p) < 0) { fprintf(stderr, "pcap: %s\n", p ? pcap_geterr(p) : err); exit(1); }
  if (bypass) {
    int one = 1;
    if (setsockopt(pcap_get_selectable_fd(p), SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof one) != 0) perror("PACKET_QDISC_BYPASS");
  }
  unsigned char f[1514];
  memset(f, 0, sizeof f);
  memcpy(f, mac, 6);
  f[6] = 0x02; f[11] = 0x01;
  f[12] = 0x08; f[13] = 0x00;
  unsigned char* ip = f + 14;
  ip[0] = 0x45; ip[2] = 1500 >> 8; ip[3] = 1500 & 0xff; ip[8] = 64; ip[9] = 17;
  ip[12] = 198; ip[13] = 18; ip[14] = 0; ip[15] = 2;
  ip[16] = 198; ip[17] = 18; ip[18] = 0; ip[19] = 1;
  unsigned sum = 0;
  for (int i = 0; i < 20; i += 2) sum += (ip[i] << 8) | ip[i + 1];
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >> 16);
  ip[10] = (~sum >> 8) & 0xff; ip[11] = ~sum & 0xff;
  unsigned char* udp = ip + 20;
  udp[0] = 0x9c; udp[1] = 0x40; udp[2] = 0; udp[3] = 9; udp[4] = 1480 >> 8; udp[5] = 1480 & 0xff;
  long sent = 0, again = 0;
  double t0 = now_s();
  while (sent < n) {
    if (pcap_inject(p, f, sizeof f) >= 0) sent++;
    else again++;
    if (now_s() - t0 > 20) break;
  }
  double dt = now_s() - t0;
  printf("%s: %ld frames in %.3f s: %.0f frames/s, %.2f Gbit/s, %.2f us/frame, %ld refused\n", bypass ? "qdisc bypass" : "through the qdisc",
    sent, dt, sent / dt, sent * sizeof f * 8 / dt / 1e9, dt / sent * 1e6, again);
  pcap_close(p);
}

int main(int argc, char** argv) {
  if (argc < 4) { fprintf(stderr, "usage: %s <device> <peer MAC> <frames>\n", argv[0]); return 2; }
  unsigned char mac[6];
  if (sscanf(argv[2], "%hhx:%hhx:%hhx:%hhx:%hhx:%hhx", &mac[0], &mac[1], &mac[2], &mac[3], &mac[4], &mac[5]) != 6) { fprintf(stderr, "bad MAC\n"); return 2; }
  long n = atol(argv[3]);
  for (int round = 0; round < 2; round++) { run(argv[1], mac, n, 0); run(argv[1], mac, n, 1); }
  return 0;
}
