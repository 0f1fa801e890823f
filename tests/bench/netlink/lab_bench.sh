#!/bin/sh
# The XFRM benchmark in the lab kernel, which has ESP: 10 000 SA pairs + 20 000 policies.
set -eu
bench=${SEDGE_BUILD_DIR:?}/tests/bench/netlink/nl-bench
for m in gcm ctr ghash-generic seqiv echainiv esp4 xfrm_user drbg jitterentropy_rng; do
  modprobe -q "$m" 2>/dev/null || true
done
for variant in "" hashed; do
  ip netns add snl-bench
  ip netns exec snl-bench "$bench" full "${LAB_NL_BENCH_PAIRS:-10000}" $variant
  ip netns del snl-bench
done
