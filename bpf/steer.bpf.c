// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* sedge's application steering classifier, on clsact ingress of each LAN interface.
 * It picks a rule (maps.h explains how), then marks the packet with the active path of the
 * rule's steering profile; `ip rule fwmark` routes it into that path's table. Two map sets
 * (generations) exist; the agent fills the idle one and flips state.generation, so a rule set
 * is replaced atomically and never edited under traffic. Failover is one write of
 * active_path[profile] (ordered) or path_down[path] (weighted; paths are usable by default).
 * Decisions are cached per flow, stamped with the generation they were made under: a flip
 * makes every one stale at once, and since the cache holds the profile, not the path, a
 * failover needs no cache change. */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "maps.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define PINNED __uint(pinning, LIBBPF_PIN_BY_NAME)

#define NETS_MAP(n)                                                \
  struct {                                                         \
    __uint(type, BPF_MAP_TYPE_HASH);                               \
    __uint(max_entries, SEDGE_STEER_MAX_NETWORKS);                 \
    __type(key, __u32);                                            \
    __type(value, struct sedge_net);                               \
    PINNED;                                                        \
  } n SEC(".maps")
#define PREFIX_MAP(n, k, size)                                     \
  struct {                                                         \
    __uint(type, BPF_MAP_TYPE_HASH);                               \
    __uint(max_entries, size);                                     \
    __uint(map_flags, BPF_F_NO_PREALLOC);                          \
    __type(key, k);                                                \
    __type(value, struct sedge_chain);                             \
    PINNED;                                                        \
  } n SEC(".maps")
#define ARRAY_MAP(n, v, size)                                      \
  struct {                                                         \
    __uint(type, BPF_MAP_TYPE_ARRAY);                              \
    __uint(max_entries, size);                                     \
    __type(key, __u32);                                            \
    __type(value, v);                                              \
    PINNED;                                                        \
  } n SEC(".maps")
#define PERCPU_MAP(n, size)                                        \
  struct {                                                         \
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);                       \
    __uint(max_entries, size);                                     \
    __type(key, __u32);                                            \
    __type(value, struct sedge_counter);                           \
    PINNED;                                                        \
  } n SEC(".maps")

NETS_MAP(steer_nets_0);
NETS_MAP(steer_nets_1);
PREFIX_MAP(steer_prefix4_0, struct sedge_prefix4_key, SEDGE_STEER_MAX_PREFIXES4);
PREFIX_MAP(steer_prefix4_1, struct sedge_prefix4_key, SEDGE_STEER_MAX_PREFIXES4);
PREFIX_MAP(steer_prefix6_0, struct sedge_prefix6_key, SEDGE_STEER_MAX_PREFIXES6);
PREFIX_MAP(steer_prefix6_1, struct sedge_prefix6_key, SEDGE_STEER_MAX_PREFIXES6);
ARRAY_MAP(steer_entries_0, struct sedge_entry_block, SEDGE_STEER_BLOCKS);
ARRAY_MAP(steer_entries_1, struct sedge_entry_block, SEDGE_STEER_BLOCKS);
ARRAY_MAP(steer_profiles_0, struct sedge_profile, SEDGE_STEER_MAX_PROFILES);
ARRAY_MAP(steer_profiles_1, struct sedge_profile, SEDGE_STEER_MAX_PROFILES);
ARRAY_MAP(steer_state, struct sedge_state, 1);
ARRAY_MAP(steer_active_path, __u32, SEDGE_STEER_MAX_PROFILES);
ARRAY_MAP(steer_path_down, __u32, SEDGE_STEER_MAX_PATHS); /* non-zero: unusable */
PERCPU_MAP(steer_rule_hits, SEDGE_STEER_MAX_RULES);
PERCPU_MAP(steer_path_hits, SEDGE_STEER_MAX_PATHS);

/* Per CPU: a flow's packets mostly stay on one CPU (RSS), so each CPU keeps and refreshes its
 * own decision without sharing a cache line; a slot other CPUs never wrote reads as
 * generation 0, a miss. The loader sets the size (SteeringFlowCacheSize=). */
struct {
  __uint(type, BPF_MAP_TYPE_LRU_PERCPU_HASH);
  __uint(max_entries, SEDGE_STEER_FLOW_CACHE_DEFAULT);
  __type(key, struct sedge_flow_key);
  __type(value, struct sedge_flow_decision);
  PINNED;
} steer_flow_cache SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct sedge_flow_stats);
  PINNED;
} steer_flow_stats SEC(".maps");



#define VLAN_HLEN 4
#define MAX_VLAN_TAGS 2
#define MAX_IPV6_EXT 4

static __always_inline int parse(struct __sk_buff *skb, struct sedge_flow_key *f) {
  void *data = (void *)(long)skb->data, *end = (void *)(long)skb->data_end;
  struct ethhdr *eth = data;
  if ((void *)(eth + 1) > end) return -1;
  __u16 proto = eth->h_proto;
  __u32 off = sizeof(*eth);
  for (int i = 0; i < MAX_VLAN_TAGS; i++) {
    if (proto != bpf_htons(ETH_P_8021Q) && proto != bpf_htons(ETH_P_8021AD)) break;
    __u16 *tci = data + off;
    if ((void *)(tci + 2) > end) return -1;
    proto = tci[1];
    off += VLAN_HLEN;
  }
  __u8 l4 = 0;
  __u32 l4off = 0;
  if (proto == bpf_htons(ETH_P_IP)) {
    struct iphdr *ip = data + off;
    if ((void *)(ip + 1) > end || ip->ihl < 5) return -1;
    f->family = 4;
    __builtin_memcpy(f->src, &ip->saddr, 4);
    __builtin_memcpy(f->dst, &ip->daddr, 4);
    l4 = ip->protocol;
    l4off = off + ip->ihl * 4;
    f->has_ports = (ip->frag_off & bpf_htons(0x1fff)) == 0; /* only the first fragment has them */
  } else if (proto == bpf_htons(ETH_P_IPV6)) {
    struct ipv6hdr *ip6 = data + off;
    if ((void *)(ip6 + 1) > end) return -1;
    f->family = 6;
    __builtin_memcpy(f->src, &ip6->saddr, 16);
    __builtin_memcpy(f->dst, &ip6->daddr, 16);
    l4 = ip6->nexthdr;
    l4off = off + sizeof(*ip6);
    f->has_ports = 1;
    for (int i = 0; i < MAX_IPV6_EXT; i++) {
      if (l4 != IPPROTO_HOPOPTS && l4 != IPPROTO_ROUTING && l4 != IPPROTO_DSTOPTS && l4 != IPPROTO_FRAGMENT) break;
      __u8 *ext = data + l4off;
      if ((void *)(ext + 8) > end) return -1;
      if (l4 == IPPROTO_FRAGMENT) {
        if ((*(__u16 *)(ext + 2) & bpf_htons(0xfff8)) != 0) f->has_ports = 0;
        l4off += 8;
      } else {
        l4off += (ext[1] + 1) * 8;
      }
      l4 = ext[0];
    }
  } else {
    return -1; /* not IP: not ours to steer */
  }
  f->proto = l4;
  if (l4 != IPPROTO_TCP && l4 != IPPROTO_UDP && l4 != IPPROTO_SCTP) f->has_ports = 0;
  if (f->has_ports) {
    __u16 *ports = data + l4off;
    if (l4off > 0xffff || (void *)(ports + 2) > end) {
      f->has_ports = 0; /* truncated: classify by addresses only */
    } else {
      f->dport = bpf_ntohs(ports[1]);
    }
  }
  return 0;
}

static __always_inline int src_matches(const struct sedge_entry *e, const struct sedge_flow_key *f) {
  __u32 len = e->src_len;
  for (int i = 0; i < 16; i++) {
    if (len == 0) return 1;
    __u8 mask = len >= 8 ? 0xff : (__u8)(0xff << (8 - len));
    if ((e->src[i] ^ f->src[i]) & mask) return 0;
    len = len >= 8 ? len - 8 : 0;
  }
  return 1;
}

static __always_inline void count(void *map, __u32 index, __u32 bytes) {
  struct sedge_counter *c = bpf_map_lookup_elem(map, &index);
  if (c) {
    c->packets++;
    c->bytes += bytes;
  }
}

/* A mask of the first `len` bits of a 32-bit word, in network order. */
static __always_inline __u32 mask32(__s32 len) {
  if (len <= 0) return 0;
  if (len >= 32) return 0xffffffff;
  return bpf_htonl(~((1u << (32 - len)) - 1));
}

/* The chain of the longest prefix of the network holding the destination: one hash lookup per
 * prefix length the network's rules use, longest first (the first found is the longest). */
static __always_inline const struct sedge_chain *lookup_chain(__u32 gen, const struct sedge_net *net,
                                                             const struct sedge_flow_key *f) {
  if (f->family == 4) {
    void *map = gen ? (void *)&steer_prefix4_1 : (void *)&steer_prefix4_0;
    struct sedge_prefix4_key k = {.net_id = net->net_id};
    __u32 dst;
    __builtin_memcpy(&dst, f->dst, 4);
    for (int i = 0; i < SEDGE_STEER_MAX_LENGTHS4; i++) {
      if (i >= net->nlen4) break;
      k.len = net->len4[i];
      __u32 a = dst & mask32(k.len);
      __builtin_memcpy(k.addr, &a, 4);
      const struct sedge_chain *c = bpf_map_lookup_elem(map, &k);
      if (c) return c;
    }
    return 0;
  }
  void *map = gen ? (void *)&steer_prefix6_1 : (void *)&steer_prefix6_0;
  struct sedge_prefix6_key k = {.net_id = net->net_id};
  __u32 dst[4];
  __builtin_memcpy(dst, f->dst, 16);
  for (int i = 0; i < SEDGE_STEER_MAX_LENGTHS6; i++) {
    if (i >= net->nlen6) break;
    k.len = net->len6[i];
    __u32 a[4];
    for (int w = 0; w < 4; w++) a[w] = dst[w] & mask32((__s32)k.len - 32 * w);
    __builtin_memcpy(k.addr, a, 16);
    const struct sedge_chain *c = bpf_map_lookup_elem(map, &k);
    if (c) return c;
  }
  return 0;
}

/* The path a profile sends this flow down, or -1 (no usable path: pass unmarked). */
static __always_inline long pick_path(__u32 gen, __u32 profile_id, struct __sk_buff *skb) {
  const struct sedge_profile *p =
      bpf_map_lookup_elem(gen ? (void *)&steer_profiles_1 : (void *)&steer_profiles_0, &profile_id);
  if (!p || p->npaths == 0 || p->npaths > SEDGE_STEER_PROFILE_PATHS) return -1;
  if (p->strategy == SEDGE_STEER_ORDERED) {
    __u32 *active = bpf_map_lookup_elem(&steer_active_path, &profile_id);
    __u32 idx = active ? *active : 0;
    if (idx >= SEDGE_STEER_PROFILE_PATHS || idx >= p->npaths) return -1;
    return p->path_ids[idx];
  }
  /* Weighted: the flow hash picks among healthy paths in proportion to their weights, so one
   * flow stays on one path while it is healthy. */
  __u32 total = 0;
  for (int i = 0; i < SEDGE_STEER_PROFILE_PATHS; i++) {
    if (i >= p->npaths) break;
    __u32 path = p->path_ids[i];
    __u32 *down = bpf_map_lookup_elem(&steer_path_down, &path);
    if (down && !*down) total += p->weights[i];
  }
  if (total == 0) return -1;
  __u32 point = bpf_get_hash_recalc(skb) % total;
  for (int i = 0; i < SEDGE_STEER_PROFILE_PATHS; i++) {
    if (i >= p->npaths) break;
    __u32 path = p->path_ids[i];
    __u32 *down = bpf_map_lookup_elem(&steer_path_down, &path);
    if (!down || *down) continue;
    if (point < p->weights[i]) return path;
    point -= p->weights[i];
  }
  return -1;
}

/* The rules' decision for a flow (the miss path): 0, or -1 when the interface is no LAN of
 * this rule set. A global function, so the verifier walks its loops once, not once per state
 * of the cache path around it. */
__attribute__((noinline)) int classify(__u32 gen, const struct sedge_flow_key *f, struct sedge_flow_decision *d) {
  if (!f || !d) return -1;
  __u32 ifindex = f->ifindex;
  const struct sedge_net *net = bpf_map_lookup_elem(gen ? (void *)&steer_nets_1 : (void *)&steer_nets_0, &ifindex);
  if (!net) return -1;
  d->action = net->default_action;
  d->profile = net->default_profile;
  d->rule_id = net->default_rule;
  const struct sedge_chain *chain = lookup_chain(gen, net, f);
  if (!chain) return 0;
  /* The whole chain is in one block: one lookup, then the entries in place. */
  __u32 block = chain->first / SEDGE_STEER_BLOCK_ENTRIES, off = chain->first % SEDGE_STEER_BLOCK_ENTRIES;
  __u32 count = chain->count;
  const struct sedge_entry_block *b =
      bpf_map_lookup_elem(gen ? (void *)&steer_entries_1 : (void *)&steer_entries_0, &block);
  if (!b) return 0;
  if (off > SEDGE_STEER_BLOCK_ENTRIES - SEDGE_STEER_CHAIN_LEN) return 0; /* the compiler never places one there */
  for (int i = 0; i < SEDGE_STEER_CHAIN_LEN; i++) {
    if (i >= count) break;
    const struct sedge_entry *e = &b->e[off + i];
    if (e->proto && e->proto != f->proto) continue;
    if (e->port_hi && (!f->has_ports || f->dport < e->port_lo || f->dport > e->port_hi)) continue;
    if (!src_matches(e, f)) continue;
    d->action = e->action;
    d->profile = e->profile;
    d->rule_id = e->rule_id;
    return 0;
  }
  return 0;
}

enum cache_outcome { CACHE_OFF, CACHE_HIT, CACHE_INSERT, CACHE_NOT_INSERTED, CACHE_STALE };

static __always_inline void note(enum cache_outcome o) {
  __u32 zero = 0;
  struct sedge_flow_stats *s = bpf_map_lookup_elem(&steer_flow_stats, &zero);
  if (!s || o == CACHE_OFF) return;
  if (o == CACHE_HIT) {
    s->hits++;
    return;
  }
  s->misses++;
  if (o == CACHE_STALE) s->stale++;
  if (o == CACHE_INSERT) s->inserts++;
}

SEC("tc")
int sedge_steer(struct __sk_buff *skb) {
  __u32 zero = 0;
  const struct sedge_state *st = bpf_map_lookup_elem(&steer_state, &zero);
  if (!st) return TC_ACT_OK;
  const __u32 generation = st->generation, gen = generation & 1, cache = !st->flow_cache_off;
  struct sedge_flow_key f = {.ifindex = skb->ingress_ifindex};
  if (parse(skb, &f) < 0) return TC_ACT_OK;

  struct sedge_flow_decision d = {};
  enum cache_outcome outcome = CACHE_OFF;
  const struct sedge_flow_decision *cached = cache ? bpf_map_lookup_elem(&steer_flow_cache, &f) : 0;
  if (cached && cached->generation == generation) {
    d = *cached;
    outcome = CACHE_HIT;
  } else {
    if (classify(gen, &f, &d) < 0) return TC_ACT_OK;
    d.generation = generation;
    if (cached) {
      /* Rewritten under the map's lock (BPF_EXIST), never through the pointer: the LRU may
       * have given that element to another flow meanwhile. */
      bpf_map_update_elem(&steer_flow_cache, &f, &d, BPF_EXIST);
      outcome = CACHE_STALE;
    } else if (cache) {
      /* Another CPU may have inserted the flow since the lookup: then this one's slot is
       * filled by its next packet (as stale). */
      outcome = bpf_map_update_elem(&steer_flow_cache, &f, &d, BPF_NOEXIST) == 0 ? CACHE_INSERT : CACHE_NOT_INSERTED;
    }
  }
  note(outcome);
  const __u32 action = d.action, profile = d.profile;
  count(&steer_rule_hits, d.rule_id, skb->len);
  if (action == SEDGE_STEER_DENY) return TC_ACT_SHOT;
  if (action != SEDGE_STEER_PROFILE) return TC_ACT_OK;
  long path = pick_path(gen, profile, skb);
  if (path < 0) return TC_ACT_OK;
  count(&steer_path_hits, (__u32)path, skb->len);
  skb->mark = SEDGE_STEER_PATH_MARK(path);
  return TC_ACT_OK;
}
