#!/bin/sh
# The IKE pairs benchmark in the lab kernel (ESP): how fast a pair of sedge endpoints sets up IKE
# SAs with their first CHILD_SA, against a pair of strongSwan endpoints doing the same. For DH
# groups 14, 19 and 31, LAB_IKE_PAIRS_COUNT IKE_SA + CHILD_SA setups (LAB_IKE_PAIRS_WINDOW in
# flight) from gen to resp:
#   sedge      ike-load (sedge's IKE engine, one pair of sockets) -> ike-responder (the same engine)
#   strongSwan charon with the load-tester plugin (built by build_load_tester.sh from Debian's
#              source into the build tree; init_limit = the window) -> Debian's charon (swanctl)
# Same PSK, proposals (aes128gcm16-prfsha256-<group>, ESP aes128gcm16), identities and traffic
# selectors; both responders install every CHILD_SA into resp's kernel, neither initiator
# installs any (the load tester runs with its fake kernel interface). Figures: pairs per second
# of wall time from the first IKE_SA_INIT to the last CHILD_SA (ike-load's own clock; the load
# tester's log timestamps), and CPU seconds per pair of initiator + responder (utime + stime; the
# load tester's charon less what the same charon spends starting without initiating).
set -eu
. "$SEDGE_SOURCE_DIR/tests/lab/lib/lab.sh"
. "$SEDGE_SOURCE_DIR/tests/bench/ike/bench_lib.sh"
count=${LAB_IKE_PAIRS_COUNT:-1000}
window=${LAB_IKE_PAIRS_WINDOW:-32}
groups=${LAB_IKE_PAIRS_GROUPS:-14 19 31}
prefix=$SEDGE_BUILD_DIR/lab-strongswan-load-tester/prefix
[ -x "$prefix/libexec/ipsec/charon" ] ||
  lab_fail "no charon with the load-tester plugin in $prefix (ctest runs lab.strongswan_load_tester_build first)"
bench_topology

# pairs_sedge GROUP: sets rate and cpu (initiator + responder CPU seconds).
pairs_sedge() {
  start_sedge "$1"
  sleep 1
  r0=$(cpu_seconds "$sedge_pid")
  # The shell's `times` gives ike-load's own CPU time once it has exited.
  ip netns exec gen sh -c "'$bin/ike-load' 10.77.0.1 10.77.0.2 $1 $count $window && times" > "$LAB_DIR/pairs-sedge-$1.log" 2>&1 ||
    { cat "$LAB_DIR/pairs-sedge-$1.log"; lab_fail "sedge, group $1: not every IKE SA was established"; }
  r1=$(cpu_seconds "$sedge_pid")
  cat "$LAB_DIR/pairs-sedge-$1.log"
  expect_child_sas sedge "$1"
  stop "$sedge_pid"
  rate=$(sed -n 's/.*: \([0-9.]*\) setups\/s$/\1/p' "$LAB_DIR/pairs-sedge-$1.log")
  init_cpu=$(tail -1 "$LAB_DIR/pairs-sedge-$1.log" | awk '{ print to_s($1) + to_s($2) } function to_s(t) { split(t, p, /[ms]/); return p[1] * 60 + p[2] }')
  cpu=$(awk -v a="$r0" -v b="$r1" -v i="$init_cpu" 'BEGIN { printf "%.3f", b - a + i }')
}

sad_count() { ip -n resp xfrm state count | awk '{ print $NF }'; }  # resp's ESP SAs (XFRM_MSG_GETSADINFO)

expect_child_sas() {  # NAME GROUP
  states=$(sad_count)
  [ "$states" -ge $((2 * count)) ] || lab_fail "$1, group $2: $states ESP SAs in resp's kernel, expected $((2 * count))"
  echo "$1 group $2: $count CHILD_SAs installed by the responder ($states ESP SAs)"
}

# start_load_tester GROUP INITIATORS: the load tester's charon in gen, initiating at once (with 1
# initiator; 0: none); sets tester_pid.
start_load_tester() {
  d=$LAB_DIR/load-tester-$1-$2
  mkdir -p "$d"
  cat > "$d/strongswan.conf" <<EOC
charon {
  load_modular = no
  load = random nonce aes sha1 sha2 hmac kdf gcm curve25519 openssl load-tester kernel-netlink socket-default
  install_routes = no
  reuse_ikesa = no
  filelog { log { path = $d/charon.log
      time_format = %s
      time_add_ms = yes
      default = 0 } }
  plugins { load-tester {
      enable = yes
      fake_kernel = yes
      initiators = $2
      iterations = $count
      init_limit = $window
      delay = 1
      initiator = 10.77.0.1
      responder = 10.77.0.2
      proposal = aes128gcm16-prfsha256-$(group_name "$1")
      esp = aes128gcm16
      initiator_auth = psk
      responder_auth = psk
      initiator_id = load@example.com
      responder_id = pop.example.net
      preshared_key = "$psk"
      initiator_tsi = 10.99.99.0/24
      initiator_tsr = 10.201.0.0/24
      version = 2
      child_rekey = 0 } }
}
EOC
  chmod 600 "$d/strongswan.conf"
  ip netns exec gen unshare -m sh -c "mount -t tmpfs tmpfs /run; exec env STRONGSWAN_CONF=$d/strongswan.conf $prefix/libexec/ipsec/charon" \
    > "$d/charon-stdout.log" 2>&1 &
  tester_pid=$!
}

# startup_cpu GROUP: the CPU seconds a load tester's charon spends starting (plugins, OpenSSL,
# threads) without initiating, to leave out of the initiator's figure; sets startup.
startup_cpu() {
  start_load_tester "$1" 0
  sleep 3
  startup=$(cpu_seconds "$tester_pid")
  kill "$tester_pid"
  for _ in $(seq 100); do kill -0 "$tester_pid" 2> /dev/null || break; sleep 0.1; done
}

# pairs_strongswan GROUP: sets rate and cpu, as pairs_sedge.
pairs_strongswan() {
  startup_cpu "$1"
  start_charon "$1"
  sleep 1
  r0=$(cpu_seconds "$charon_pid")
  start_load_tester "$1" 1
  log=$LAB_DIR/load-tester-$1-1/charon.log
  # Done when the responder has installed every CHILD_SA (its log is flushed only at the end).
  deadline=$(($(date +%s) + 60 + count))
  while [ "$(sad_count)" -lt $((2 * count)) ]; do
    [ "$(date +%s)" -lt "$deadline" ] || lab_fail "load tester, group $1: $(sad_count) ESP SAs in resp after the time limit"
    kill -0 "$tester_pid" 2> /dev/null || { cat "$LAB_DIR/load-tester-$1-1/charon-stdout.log"; lab_fail "the load tester's charon exited"; }
    sleep 0.2
  done
  sleep 1  # the last IKE_AUTH responses reach the load tester
  r1=$(cpu_seconds "$charon_pid")
  t_cpu=$(awk -v t="$(cpu_seconds "$tester_pid")" -v s="$startup" 'BEGIN { printf "%.3f", t - s }')
  [ "$(ip -n gen xfrm state | grep -c '^src' || true)" -eq 0 ] || lab_fail "the load tester installed SAs into gen's kernel"
  expect_child_sas strongswan "$1"
  kill "$tester_pid"
  for _ in $(seq 100); do kill -0 "$tester_pid" 2> /dev/null || break; sleep 0.1; done
  stop "$charon_pid"
  established=$(grep -c 'CHILD_SA load-test{[0-9]*} established' "$log" || true)
  [ "$established" -ge "$count" ] || lab_fail "load tester, group $1: $established CHILD_SAs in its log, expected $count"
  rate=$(awk -v n="$count" '/initiating IKE_SA load-test/ && !t0 { t0 = $1 } /CHILD_SA load-test\{[0-9]+\} established/ { t1 = $1 }
    END { printf "%.1f", n / (t1 - t0) }' "$log")
  cpu=$(awk -v a="$r0" -v b="$r1" -v i="$t_cpu" 'BEGIN { printf "%.3f", b - a + i }')
  echo "strongswan group $1: $rate pairs/s, initiator CPU $t_cpu s (less $startup s of startup), responder CPU $(awk -v a="$r0" -v b="$r1" 'BEGIN { print b - a }') s"
}

results=$LAB_DIR/results.txt
: > "$results"
for g in $groups; do
  pairs_sedge "$g"
  s_rate=$rate s_cpu=$cpu
  pairs_strongswan "$g"
  c_rate=$rate c_cpu=$cpu
  awk -v n="$count" -v g="$g" -v sr="$s_rate" -v cr="$c_rate" -v sc="$s_cpu" -v cc="$c_cpu" 'BEGIN {
    printf "ike_pairs_dh%s: %.0f pairs/s ratio %.2f vs strongswan-load-tester\n", g, sr, (cr > 0 ? sr / cr : 0)
    printf "ike_pairs_cpu_dh%s: %.5f cpu-s/pair ratio %.2f vs strongswan-load-tester\n", g, sc / n, (cc > 0 ? sc / cc : 0)
  }' >> "$results"
done
echo "--- $count IKE_SA + CHILD_SA pairs per run, $window in flight; strongSwan $(cat "$prefix/.sedge-built")"
cat "$results"
cp "$results" "$LAB_LOG_DIR/results.txt"
