// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The steering benchmark's reference programs, built for the benchmark only (the classifier's
 * object carries nothing but the classifier). */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* The floor: the same hook and attachment doing nothing. */
SEC("tc")
int bench_noop(struct __sk_buff *skb) { return TC_ACT_OK; }
