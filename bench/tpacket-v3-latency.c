// Why the AF_PACKET link keeps TPACKET_V2 (transports/afpacket/afpacket.cc): how long a lone frame
// waits before userspace may read it, on a TPACKET_V3 block ring (blocks are handed over when
// full or when their retire timer, here 1 ms, fires) and on a TPACKET_V2 frame ring (each frame
// as soon as it is written). Both rings are busy-polled, so the figure is the kernel's hand-over
// alone: now minus the frame's kernel timestamp. Run in a lab (`wsk lab up` prints the names):
//   gcc -O2 -o /tmp/v3lat bench/tpacket-v3-latency.c
//   ip netns exec wskB-<id> /tmp/v3lat vb-<id> v3 200 &
//   ip -n wskA-<id> neigh replace 198.18.0.2 lladdr <vb-<id>'s MAC> dev va-<id> nud permanent
//   ip netns exec wskA-<id> python3 -c "import socket,time
//   s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)
//   for i in range(220): s.sendto(b'x'*32,('198.18.0.2',9)); time.sleep(0.005)"
// (the same with v2). Two runs on the 2-core VM: v2 p50 7-11 us, p90 8-24 us; v3 p50 0.77-0.86 ms,
// p90 4.2-4.3 ms.
#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>

static double now_us(void) {
  struct timespec t;
  clock_gettime(CLOCK_REALTIME, &t);
  return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}

static int by_value(const void* a, const void* b) {
  double x = *(const double*)a, y = *(const double*)b;
  return x < y ? -1 : x > y;
}

int main(int argc, char** argv) {
  if (argc != 4) { fprintf(stderr, "usage: %s <ifname> <v2|v3> <frames>\n", argv[0]); return 2; }
  int v3 = strcmp(argv[2], "v3") == 0, count = atoi(argv[3]);
  int fd = socket(AF_PACKET, SOCK_RAW, htons(ETH_P_IP));
  if (fd < 0) { perror("socket"); return 1; }
  int version = v3 ? TPACKET_V3 : TPACKET_V2;
  setsockopt(fd, SOL_PACKET, PACKET_VERSION, &version, sizeof version);
  unsigned block = 1 << 20, blocks = 16, frame = 2048;
  int rc;
  if (v3) {
    struct tpacket_req3 r = { block, blocks, frame, block / frame * blocks, 1 /* retire timer, ms */, 0, 0 };
    rc = setsockopt(fd, SOL_PACKET, PACKET_RX_RING, &r, sizeof r);
  } else {
    struct tpacket_req r = { block, blocks, frame, block / frame * blocks };
    rc = setsockopt(fd, SOL_PACKET, PACKET_RX_RING, &r, sizeof r);
  }
  if (rc != 0) { perror("PACKET_RX_RING"); return 1; }
  unsigned char* ring = mmap(0, (size_t)block * blocks, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (ring == MAP_FAILED) { perror("mmap"); return 1; }
  struct sockaddr_ll sll = { .sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_IP), .sll_ifindex = (int)if_nametoindex(argv[1]) };
  if (bind(fd, (struct sockaddr*)&sll, sizeof sll) != 0) { perror("bind"); return 1; }
  double* waited = calloc(count, sizeof(double));
  int got = 0;
  unsigned b = 0, f = 0;
  while (got < count) {
    if (v3) {
      struct tpacket_block_desc* d = (void*)(ring + (size_t)b * block);
      if (!(__atomic_load_n(&d->hdr.bh1.block_status, __ATOMIC_ACQUIRE) & TP_STATUS_USER)) continue;
      double t = now_us();
      struct tpacket3_hdr* h = (void*)((unsigned char*)d + d->hdr.bh1.offset_to_first_pkt);
      for (unsigned i = 0; i < d->hdr.bh1.num_pkts && got < count; i++) {
        waited[got++] = t - (h->tp_sec * 1e6 + h->tp_nsec / 1e3);
        h = (void*)((unsigned char*)h + h->tp_next_offset);
      }
      __atomic_store_n(&d->hdr.bh1.block_status, TP_STATUS_KERNEL, __ATOMIC_RELEASE);
      b = (b + 1) % blocks;
    } else {
      struct tpacket2_hdr* h = (void*)(ring + (size_t)f * frame);
      if (!(__atomic_load_n(&h->tp_status, __ATOMIC_ACQUIRE) & TP_STATUS_USER)) continue;
      waited[got++] = now_us() - (h->tp_sec * 1e6 + h->tp_nsec / 1e3);
      __atomic_store_n(&h->tp_status, TP_STATUS_KERNEL, __ATOMIC_RELEASE);
      f = (f + 1) % (block / frame * blocks);
    }
  }
  qsort(waited, count, sizeof(double), by_value);
  printf("%s: %d frames, readable after: p50 %.1f us, p90 %.1f us, max %.1f us\n", argv[2], count, waited[count / 2], waited[count * 9 / 10], waited[count - 1]);
  return 0;
}
