// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The steering benchmark's reference and driver programs, built for the benchmark only (the
 * classifier's object carries nothing but the classifier). */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* The floor: the same hook and attachment doing nothing. */
SEC("tc")
int bench_noop(struct __sk_buff *skb) { return TC_ACT_OK; }

/* BPF_PROG_TEST_RUN repeats one packet, which after the first run is a flow cache hit. To
 * time misses, these give every run a new IPv4 source address (a new flow) and tail-call the
 * classifier (slot 0) or, for the same overhead without it, the no-op (slot 1). */
struct {
  __uint(type, BPF_MAP_TYPE_PROG_ARRAY);
  __uint(max_entries, 2);
  __type(key, __u32);
  __type(value, __u32);
} bench_targets SEC(".maps");

__u32 bench_sequence = 0;

static __always_inline int new_flow_then(struct __sk_buff *skb, __u32 target) {
  void *data = (void *)(long)skb->data, *end = (void *)(long)skb->data_end;
  struct iphdr *ip = data + sizeof(struct ethhdr);
  if ((void *)(ip + 1) > end) return TC_ACT_OK;
  ip->saddr = bpf_htonl(0x0a800000 | (bench_sequence++ & 0x7fffff)); /* 10.128.0.0/9 */
  bpf_tail_call(skb, &bench_targets, target);
  return TC_ACT_OK;
}

SEC("tc")
int bench_new_flow_steer(struct __sk_buff *skb) { return new_flow_then(skb, 0); }

SEC("tc")
int bench_new_flow_noop(struct __sk_buff *skb) { return new_flow_then(skb, 1); }
