/* The one header shared by steer.bpf.c and the C++ side: map keys and values, limits, marks.
 * Classification: the flow cache first (flow -> decision of the live rule set); on a miss,
 * ingress ifindex -> network; the longest destination prefix of that network that holds the
 * destination (one hash lookup per prefix length the network uses, longest first) -> a chain
 * of candidate rules in policy order (every rule whose destination prefix contains the
 * packet's destination, precomputed by the compiler), held in one block of entries; the first
 * chain entry that matches the protocol, destination port and source prefix decides. No
 * match: the network's default. The decision (rule, action, profile; never the path) goes
 * into the cache. */
#ifndef SEDGE_BPF_MAPS_H
#define SEDGE_BPF_MAPS_H

#include <linux/types.h>

#define SEDGE_STEER_MAX_NETWORKS 64
#define SEDGE_STEER_MAX_PREFIXES4 1048576 /* per generation */
#define SEDGE_STEER_MAX_PREFIXES6 262144
#define SEDGE_STEER_MAX_LENGTHS4 33       /* distinct prefix lengths per network: all of IPv4's */
#define SEDGE_STEER_MAX_LENGTHS6 45       /* of IPv6's 129 (sedge_net stays 96 bytes) */
#define SEDGE_STEER_BLOCK_ENTRIES 32768   /* chain entries per block (1 MiB values) */
#define SEDGE_STEER_BLOCKS 34             /* blocks per generation */
#define SEDGE_STEER_MAX_ENTRIES (SEDGE_STEER_BLOCK_ENTRIES * SEDGE_STEER_BLOCKS)
#define SEDGE_STEER_CHAIN_LEN 16          /* candidates checked per destination */
#define SEDGE_STEER_MAX_RULES 1114112     /* rule ids: 1 million rules and more */
#define SEDGE_STEER_MAX_PROFILES 256
#define SEDGE_STEER_PROFILE_PATHS 8
#define SEDGE_STEER_MAX_PATHS 1024
#define SEDGE_STEER_FLOW_CACHE_DEFAULT 65536 /* flows per cache (steer_flow_cache) */

/* skb->mark carries the chosen path for `ip rule fwmark MARK/MASK table T`. VTI keys (small
 * integers, used as XFRM marks) and other marks stay clear of this range. */
#define SEDGE_STEER_MARK_BASE 0x5e000000u
#define SEDGE_STEER_MARK_MASK 0xffffff00u
#define SEDGE_STEER_PATH_MARK(path_id) (SEDGE_STEER_MARK_BASE | ((__u32)(path_id) << 8))

enum sedge_steer_action {
  SEDGE_STEER_NONE = 0,     /* no decision: pass unmarked */
  SEDGE_STEER_PROFILE = 1,  /* steer by a profile's active path */
  SEDGE_STEER_BREAKOUT = 2, /* local breakout: pass unmarked, main table */
  SEDGE_STEER_DENY = 3,     /* drop */
};

enum sedge_steer_strategy { SEDGE_STEER_ORDERED = 0, SEDGE_STEER_WEIGHTED = 1 };

struct sedge_net {            /* nets_N[ingress ifindex] */
  __u32 net_id;
  __u32 default_action;       /* enum sedge_steer_action */
  __u32 default_profile;
  __u32 default_rule;         /* counter index for the default */
  __u8 nlen4, nlen6;          /* how many prefix lengths the network's rules use, per family */
  __u8 len4[SEDGE_STEER_MAX_LENGTHS4]; /* those lengths, longest first */
  __u8 len6[SEDGE_STEER_MAX_LENGTHS6];
};

struct sedge_prefix4_key {    /* prefix4_N: one hash for every length (len in the key) */
  __u32 net_id;
  __u32 len;
  __u8 addr[4];               /* masked to len */
};

struct sedge_prefix6_key {
  __u32 net_id;
  __u32 len;
  __u8 addr[16];
};

struct sedge_chain {          /* prefix*_N value: entries_N[first .. first+count), one block */
  __u32 first;
  __u32 count;
};

struct sedge_entry {          /* one candidate: a rule's protocol/port/source combination */
  __u32 rule_id;              /* counter index */
  __u32 profile;
  __u16 port_lo;              /* destination ports, host order; 0/0 = any */
  __u16 port_hi;
  __u8 proto;                 /* 0 = any */
  __u8 action;                /* enum sedge_steer_action */
  __u8 src_len;               /* source prefix length; 0 = any */
  __u8 pad;
  __u8 src[16];               /* source prefix (IPv4 in the first 4 bytes) */
};

struct sedge_entry_block {    /* entries_N[first / SEDGE_STEER_BLOCK_ENTRIES]: a chain starts at
                                 most SEDGE_STEER_CHAIN_LEN entries before a block's end, so one
                                 lookup reads all its entries */
  struct sedge_entry e[SEDGE_STEER_BLOCK_ENTRIES];
};

struct sedge_profile {
  __u32 strategy;             /* enum sedge_steer_strategy */
  __u32 npaths;
  __u32 path_ids[SEDGE_STEER_PROFILE_PATHS];
  __u32 weights[SEDGE_STEER_PROFILE_PATHS];
};

struct sedge_state {          /* state[0] */
  __u32 generation;           /* counts rule sets: its low bit says which of the two map sets is
                                 live; a cached decision of another generation is stale. Never 0
                                 once a rule set is in (0 is what an empty cache slot holds). */
  __u32 flow_cache_off;       /* non-zero: decisions are not cached (by default they are) */
};

/* The flow cache's key: every input of the decision, so one entry serves every packet the
 * decision is the same for (the source port is not one: connections of a host to a service
 * share an entry). Addresses of IPv4 in the first 4 bytes, the rest zero. */
struct sedge_flow_key {
  __u32 ifindex;              /* ingress interface: the network, as nets_N keys it */
  __u8 family;                /* 4 or 6 */
  __u8 proto;
  __u8 has_ports;             /* 0 for later fragments, port-less protocols and cut headers */
  __u8 pad;
  __u16 dport;                /* host order; 0 without ports */
  __u16 pad2;
  __u8 src[16];
  __u8 dst[16];
};

struct sedge_flow_decision {  /* steer_flow_cache value (per CPU) */
  __u32 generation;           /* state.generation it was decided under */
  __u32 rule_id;
  __u32 profile;
  __u32 action;               /* enum sedge_steer_action */
};

struct sedge_flow_stats {     /* steer_flow_stats[0] (per CPU) */
  __u64 hits;                 /* decided by the cache */
  __u64 misses;               /* classified by the rules (stale ones included) */
  __u64 stale;                /* of which the flow had a decision of an older rule set */
  __u64 inserts;              /* new cache entries; once the cache is full each evicts the least
                                 recently used, so evictions are about inserts - size */
};

struct sedge_counter {        /* per-CPU */
  __u64 packets;
  __u64 bytes;
};

#ifdef __cplusplus
static_assert(sizeof(struct sedge_net) == 96, "layout shared with BPF");
static_assert(sizeof(struct sedge_prefix4_key) == 12, "layout shared with BPF");
static_assert(sizeof(struct sedge_prefix6_key) == 24, "layout shared with BPF");
static_assert(sizeof(struct sedge_chain) == 8, "layout shared with BPF");
static_assert(sizeof(struct sedge_entry) == 32, "layout shared with BPF");
static_assert(sizeof(struct sedge_profile) == 72, "layout shared with BPF");
static_assert(sizeof(struct sedge_counter) == 16, "layout shared with BPF");
static_assert(sizeof(struct sedge_state) == 8, "layout shared with BPF");
static_assert(sizeof(struct sedge_flow_key) == 44, "layout shared with BPF");
static_assert(sizeof(struct sedge_flow_decision) == 16, "layout shared with BPF");
static_assert(sizeof(struct sedge_flow_stats) == 32, "layout shared with BPF");
#endif

#endif /* SEDGE_BPF_MAPS_H */
