#!/bin/sh
# The IKE benchmark in the lab kernel (ESP): the responder's cost of IKE SA setups. For DH groups
# 14, 19 and 31, ike-load (one process, many IKE SAs in flight, PSK) runs LAB_IKE_BENCH_COUNT
# setups against sedge's ike::Server (ike-responder) and then against charon (Debian's
# strongSwan, swanctl: same PSK and proposals, any initiator identity), each installing every
# CHILD_SA into this kernel. Figures: setups per second of the responder's CPU time (utime +
# stime of all its threads, /proc/<pid>/stat), its RSS growth per SA (/proc/<pid>/status), and
# the setups per second of wall time that the load generator saw.
set -eu
. "$SEDGE_SOURCE_DIR/tests/lab/lib/lab.sh"
bin=$SEDGE_BUILD_DIR/tests/bench/ike
count=${LAB_IKE_BENCH_COUNT:-2000}
window=${LAB_IKE_BENCH_WINDOW:-32}
groups=${LAB_IKE_BENCH_GROUPS:-14 19 31}
psk="sedge ike benchmark pre-shared key"
hz=$(getconf CLK_TCK)
lab_ns gen
lab_ns resp
lab_link gen eth0 10.77.0.1/24 resp eth0 10.77.0.2/24

cpu_ticks() { sed 's/^.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'; }  # utime + stime, after "(comm)"
rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
group_name() { case $1 in 14) echo modp2048 ;; 19) echo ecp256 ;; 31) echo curve25519 ;; esac; }

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

start_charon() {  # GROUP
  d=$LAB_DIR/charon-$1
  mkdir -p "$d"
  cat > "$d/strongswan.conf" <<EOC
charon {
  load_modular = no
  load = random nonce aes sha1 sha2 hmac kdf gcm curve25519 openssl kernel-netlink socket-default vici
  install_routes = no
  cookie_threshold = 100000
  cookie_threshold_ip = 100000
  block_threshold = 100000
  ikesa_table_size = 1024
  ikesa_table_segments = 16
  filelog { log { path = $d/charon.log
      default = 0 } }
  plugins { vici { socket = unix://$d/charon.vici } }
}
EOC
  ( umask 077; cat > "$d/swanctl.conf" <<EOC
connections {
  bench {
    local_addrs = 10.77.0.2
    version = 2
    proposals = aes128gcm16-prfsha256-$(group_name "$1")
    unique = never
    local { auth = psk
      id = pop.example.net }
    remote { auth = psk
      id = %any }
    children { c { local_ts = 10.201.0.0/24
        remote_ts = 10.99.99.0/24
        esp_proposals = aes128gcm16 } }
  }
}
secrets { ike-bench { secret = "$psk" } }
EOC
  )
  ip netns exec resp unshare -m sh -c "mount -t tmpfs tmpfs /run; exec env STRONGSWAN_CONF=$d/strongswan.conf /usr/lib/ipsec/charon" \
    > "$d/charon-stdout.log" 2>&1 &
  charon_pid=$!
  for _ in $(seq 100); do [ -S "$d/charon.vici" ] && break; sleep 0.1; done
  [ -S "$d/charon.vici" ] || lab_fail "charon did not start (see $d/charon-stdout.log)"
  [ "$(cat "/proc/$charon_pid/comm")" = charon ] || lab_fail "pid $charon_pid is not charon"
  ip netns exec resp swanctl --load-all --file "$d/swanctl.conf" --uri "unix://$d/charon.vici" > "$d/load.log" 2>&1 ||
    { cat "$d/load.log"; lab_fail "swanctl could not load the benchmark's connection"; }
}

stop() {  # PID
  kill "$1" 2>/dev/null || true
  for _ in $(seq 100); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
  ip -n resp xfrm state flush
  ip -n resp xfrm policy flush
}

results=$LAB_DIR/results.txt
: > "$results"
for g in $groups; do
  ip netns exec resp "$bin/ike-responder" 10.77.0.2 "$g" > "$LAB_DIR/sedge-$g.log" 2>&1 &
  sedge_pid=$!
  for _ in $(seq 50); do grep -q listening "$LAB_DIR/sedge-$g.log" && break; sleep 0.1; done
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
