#!/bin/sh
# The IKE benchmark in the lab kernel (ESP): the responder's cost of IKE SA setups. For DH groups
# 14, 19 and 31, ike-load (one process, many IKE SAs in flight, PSK) runs LAB_IKE_BENCH_COUNT
# setups against sedge's IKE engine (ike-responder) and then against charon (Debian's
# strongSwan, swanctl: same PSK and proposals, any initiator identity), each installing every
# CHILD_SA into this kernel. Figures: setups per second of the responder's CPU time (utime +
# stime of all its threads, /proc/<pid>/stat), its RSS growth per SA (/proc/<pid>/status), and
# the setups per second of wall time that the load generator saw.
set -eu
. "$SEDGE_SOURCE_DIR/tests/lab/lib/lab.sh"
. "$SEDGE_SOURCE_DIR/tests/bench/ike/bench_lib.sh"
count=${LAB_IKE_BENCH_COUNT:-2000}
window=${LAB_IKE_BENCH_WINDOW:-32}
groups=${LAB_IKE_BENCH_GROUPS:-14 19 31}
bench_topology

# run_load NAME PID GROUP: the load against the responder PID; sets cpu_s, rss_per_sa, wall_rate.
run_load() {
  sleep 1
  t0=$(cpu_ticks "$2"); r0=$(rss_kb "$2")
  ip netns exec gen "$bin/ike-load" 10.77.0.1 10.77.0.2 "$3" "$count" "$window" > "$LAB_DIR/load-$1-$3.log" 2>&1 ||
    { cat "$LAB_DIR/load-$1-$3.log"; lab_fail "$1, group $3: not every IKE SA was established"; }
  t1=$(cpu_ticks "$2"); r1=$(rss_kb "$2")
  cat "$LAB_DIR/load-$1-$3.log"
  states=$(ip -n resp xfrm state | grep -c '^src' || true)
  [ "$states" -ge $((2 * count)) ] || lab_fail "$1, group $3: $states ESP SAs in the kernel, expected $((2 * count))"
  cpu_s=$(awk -v a="$t0" -v b="$t1" -v hz="$hz" 'BEGIN { printf "%.3f", (b - a) / hz }')
  rss_per_sa=$(awk -v a="$r0" -v b="$r1" -v n="$count" 'BEGIN { printf "%.2f", (b - a) / n }')
  wall_rate=$(sed -n 's/.*: \([0-9.]*\) setups\/s$/\1/p' "$LAB_DIR/load-$1-$3.log")
  echo "$1 group $3: $count CHILD_SAs in the kernel ($states ESP SAs), responder CPU $cpu_s s, RSS $r0 -> $r1 kB"
}

results=$LAB_DIR/results.txt
: > "$results"
for g in $groups; do
  start_sedge "$g"
  run_load sedge "$sedge_pid" "$g"
  s_cpu=$cpu_s s_rss=$rss_per_sa s_wall=$wall_rate
  stop "$sedge_pid"
  cat "$LAB_DIR/sedge-$g.log"

  start_charon "$g"
  run_load charon "$charon_pid" "$g"
  c_cpu=$cpu_s c_rss=$rss_per_sa c_wall=$wall_rate
  stop "$charon_pid"
  cp "$LAB_DIR/charon-$g/charon.log" "$LAB_LOG_DIR/charon-$g.log" 2>/dev/null || true

  awk -v n="$count" -v g="$g" -v sc="$s_cpu" -v cc="$c_cpu" -v sr="$s_rss" -v cr="$c_rss" -v sw="$s_wall" -v cw="$c_wall" 'BEGIN {
    if (sc <= 0) sc = 0.001; if (cc <= 0) cc = 0.001
    printf "ike_responder_dh%s: %.0f setups/cpu-s ratio %.2f vs charon\n", g, n / sc, (n / sc) / (n / cc)
    printf "ike_responder_rss_dh%s: %.2f kB/SA ratio %.2f vs charon\n", g, sr, (cr > 0 ? sr / cr : 0)
    printf "ike_load_dh%s: %.0f setups/s ratio %.2f vs charon\n", g, sw, (cw > 0 ? sw / cw : 0)
  }' >> "$results"
done
echo "--- $count IKE SAs per run, $window in flight"
cat "$results"
cp "$results" "$LAB_LOG_DIR/results.txt"
