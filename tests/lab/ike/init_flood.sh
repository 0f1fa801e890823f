#!/bin/sh
# An IKE_SA_INIT flood with spoofed source addresses against sedge's responder
# (sedge-connect --respond) at the site, while a tunnel through it carries traffic and a second,
# legitimate initiator comes in.
#
# sedge answers at the site's wan0 (198.51.100.2) for one tunnel, LocalTrafficSelector
# 10.99.99.0/24 and RemoteTrafficSelector 10.200.0.0/14 (10.200-10.203: the POPs' server
# networks 10.201.0.0/24 and 10.202.0.0/24), peer identity the seed's POP identity. strongSwan at
# pop1 comes in with 10.201.0.0/24 (sedge narrows the CHILD_SA to it, RFC 7296 2.9) and lanhost0
# pings srv1 through it every 50 ms, 24 s long, once before the flood (the baseline) and once
# around it. The flood: ike_init_flood.py in a namespace "flood" behind the Internet router
# sends IKE_SA_INIT requests that sedge would accept (the seed's proposal, a MODP-2048 KE, a
# nonce; random SPIi) from random addresses of 100.80.0.0/16 (routed towards the flood
# namespace, where sedge's answers die) to sedge's port 500, LAB_FLOOD_RATE (5000) per second
# for LAB_FLOOD_SECONDS (20). Two seconds in, strongSwan at pop2 (the same identity,
# 10.202.0.0/24, retransmitting every second) initiates. What must hold:
#  - the flood is a flood: at least 2000 requests per second were sent;
#  - pop2 gets in during the flood, by the COOKIE path (RFC 7296 2.6): sedge asks it for a
#    COOKIE (strongSwan's log), both CHILD_SAs are installed and srv2 answers through pop2's;
#  - the first tunnel loses no more pings around the flood than it lost in the baseline, the
#    same number of pings at the same rate without the flood. On the lab's links nothing drops
#    a packet, so the baseline loses none and this is "no ping lost"; a baseline that lost some
#    means the guest itself (the CPU) failed them, which the flood is not to make worse;
#  - sedge stays responsive: its engine totals (sedge-connect logs them every 5 s) keep coming
#    during the flood, never more than 7.5 s apart (its loop is not held in one socket), they
#    show COOKIEs sent, and the IKE SAs it held and the half-open ones it gave up (all of them,
#    30 s after the flood) are no more than half_open_max (10000);
#  - sedge's memory stays bounded: VmHWM (its peak) at the end less than 50 MB above VmRSS
#    before the flood.
. "$SEDGE_SOURCE_DIR/tests/lab/lib/lab.sh"
. "$SEDGE_SOURCE_DIR/tests/lab/pops/seed_peers.sh"
FLOOD_RATE=${LAB_FLOOD_RATE:-5000} FLOOD_SECONDS=${LAB_FLOOD_SECONDS:-20}
FLOOD_PREFIX=100.80.0.0/16
HALF_OPEN_MAX=10000                    # ike::ResponderLimits::half_open_max, sedge-connect's
PINGS=$(((FLOOD_SECONDS + 4) * 20))    # at 50 ms: from 1 s before the flood to 3 s after it
log=$LAB_DIR/respond.log
flood_log=$LAB_DIR/flood/flood.log

lab_topology
# The attacker: a host behind the Internet router. Answers to the spoofed prefix go back to it,
# and it drops them (it does not forward and holds none of those addresses).
lab_ns flood
lab_link inet flood 192.0.2.49/28 flood eth0 192.0.2.50/28
ip -n flood route add default via 192.0.2.49
ip -n inet route add "$FLOOD_PREFIX" via 192.0.2.50
mkdir -p "$LAB_DIR/flood"

# sedge's responder at the site.
mkdir -p "$LAB_DIR/site-etc"
( umask 077; printf '%s' "$SEED_PSK" > "$LAB_DIR/site-etc/site1.psk" )
cat > "$LAB_DIR/site-etc/sedge.conf" <<EOC
[Interface wan0]
Role=wan
[Connector pops]
LocalId=site1@example.com
PresharedKeyFile=$LAB_DIR/site-etc/site1.psk
[Tunnel pops]
Connector=pops
Wan=wan0
Remote=192.0.2.2
RemoteId=$POP1_ID
IkeProposal=$SEED_IKE
EspProposal=$SEED_ESP
Routing=policy-based
LocalTrafficSelector=10.99.99.0/24
RemoteTrafficSelector=10.200.0.0/14
RemoteNetwork=10.200.0.0/14
EOC
ip netns exec site "$SEDGE_BUILD_DIR/agent/connector/sedge-connect" --config-dir "$LAB_DIR/site-etc" --respond pops 600 > "$log" 2>&1 &
sedge=$!
trap 'kill "$sedge" 2>/dev/null; lab_collect' EXIT
wait_for_line "$log" "listening" || { cat "$log"; lab_fail "sedge's responder did not start"; }
[ "$(cat "/proc/$sedge/comm")" = sedge-connect ] || lab_fail "pid $sedge is not sedge-connect"
alive() { kill -0 "$sedge" 2>/dev/null || { cat "$log"; lab_fail "sedge-connect exited ($1)"; }; }

# The POPs: strongSwan initiators with the same identity, each with its own server network.
swanctl_conf pop1 "$POP1_ID" site1@example.com 10.201.0.0/24 10.99.99.0/24 "remote_addrs = 198.51.100.2"
swanctl_conf pop2 "$POP1_ID" site1@example.com 10.202.0.0/24 10.99.99.0/24 "remote_addrs = 198.51.100.2"
lab_strongswan pop1 pop1
lab_strongswan pop2 pop2
# pop2 retransmits every second (strongSwan's default: after 4 s, then 1.8 times longer each
# time) up to 30 times: sedge, its CPU shared with the flood's sender in the lab guest, takes
# in only part of the flood and the kernel drops the rest at its socket, pop2's requests
# among them; the check is that pop2 gets in while the flood runs, not that it wins a lottery.
sed -i 's/^charon {$/charon {\n  retransmit_timeout = 1\n  retransmit_base = 1\n  retransmit_tries = 30/' "$LAB_DIR/pop2/strongswan.conf"
lab_swanctl pop2 --reload-settings > /dev/null || lab_fail "strongSwan at pop2 did not reload its settings"
lab_swanctl pop1 --initiate --child c --timeout 30 > "$LAB_DIR/pop1/initiate.log" 2>&1 ||
  { cat "$LAB_DIR/pop1/initiate.log" "$log"; lab_fail "strongSwan at pop1 could not establish with sedge"; }
wait_for_line "$log" "tunnel pops up: .*10.201.0.0/24" || { cat "$log"; lab_fail "sedge did not install pop1's CHILD_SA"; }
grep "up:" "$log"
ip netns exec lanhost0 ping -c 5 -i 0.2 -W 2 10.201.0.10 > /dev/null || lab_fail "no ping from lanhost0 to srv1 through pop1's tunnel"

# ping_run NAME: lanhost0 pings srv1 $PINGS times, every 50 ms, into $LAB_DIR/ping-NAME.log;
# ping_lost NAME: sets lost to how many of them were not answered.
ping_run() { ip netns exec lanhost0 ping -n -i 0.05 -c "$PINGS" -W 2 10.201.0.10 > "$LAB_DIR/ping-$1.log" 2>&1; }
ping_lost() {
  sent=$(sed -n 's/^\([0-9]*\) packets transmitted.*/\1/p' "$LAB_DIR/ping-$1.log")
  got=$(sed -n 's/.* \([0-9]*\) received.*/\1/p' "$LAB_DIR/ping-$1.log")
  [ "$sent" = "$PINGS" ] && [ -n "$got" ] || lab_fail "the $1 ping did not send its $PINGS pings: $(tail -3 "$LAB_DIR/ping-$1.log")"
  tail -2 "$LAB_DIR/ping-$1.log"
  lost=$((sent - got))
}
# udp_drops: datagrams the kernel dropped at the site's UDP port 500 sockets (sedge's; a full
# receive buffer), from /proc/net/udp.
udp_drops() { ip netns exec site awk '$2 ~ /:01F4$/ { n += $NF } END { print n + 0 }' /proc/net/udp; }
vm() { awk -v k="$1:" '$1 == k { print $2 }' "/proc/$sedge/status"; }  # kB

echo "--- baseline: $PINGS pings every 50 ms, no flood"
ping_run baseline || true
ping_lost baseline; lost_baseline=$lost
alive "after the baseline ping"
rss_before=$(vm VmRSS)
stats_before=$(grep -c "IKE engine totals" "$log" || true)

echo "--- flood: $FLOOD_RATE IKE_SA_INIT per second for $FLOOD_SECONDS s from $FLOOD_PREFIX, $PINGS pings around it"
ping_run flood &
pinger=$!
sleep 1
ip netns exec flood /usr/bin/python3 "$SEDGE_SOURCE_DIR/tests/lab/ike/ike_init_flood.py" --dst 198.51.100.2 \
  --prefix "$FLOOD_PREFIX" --rate "$FLOOD_RATE" --seconds "$FLOOD_SECONDS" > "$flood_log" 2>&1 &
flooder=$!
for _ in $(seq 100); do grep -q "flood: sending" "$flood_log" && break; sleep 0.1; done
grep -q "flood: sending" "$flood_log" || { cat "$flood_log"; lab_fail "the flood generator did not start sending within 10 s"; }
# When sedge's engine totals (a line every 5 s while they change) come, during the flood.
( while kill -0 "$flooder" 2>/dev/null; do echo "$(date +%s.%N) $(grep -c "IKE engine totals" "$log")"; sleep 0.2; done ) > "$LAB_DIR/ticks.txt" &
sleep 2
# pop2 comes in during the flood; swanctl's own time limit bounds it.
started=$(date +%s)
lab_swanctl pop2 --initiate --child c --timeout 30 > "$LAB_DIR/pop2/initiate.log" 2>&1 && pop2_ok=1 || pop2_ok=0
pop2_took=$(($(date +%s) - started))
kill -0 "$flooder" 2>/dev/null && pop2_in_flood=1 || pop2_in_flood=0
wait "$flooder" || { cat "$flood_log"; lab_fail "the flood generator failed"; }
kill -0 "$pinger" 2>/dev/null || lab_fail "the ping ended before the flood: it did not cover it"
stats_flood=$(grep -c "IKE engine totals" "$log" || true)
wait "$pinger" || true
cat "$flood_log"
ping_lost flood; lost_flood=$lost
alive "after the flood"
drops=$(udp_drops)
hwm_after=$(vm VmHWM); rss_after=$(vm VmRSS)

# sedge kept its loop turning during the flood: its totals lines (every 5 s) kept coming, never
# more than 7.5 s apart (nor from the flood's start or to its end). A longer gap means the loop
# was held up: its timers and its other socket (UDP 4500, where IKE_AUTH comes) waited.
stall=$(awk 'NR == 1 { n = $2; last = $1 } $2 != n { if ($1 - last > max) max = $1 - last; last = $1; n = $2 }
  END { if ($1 - last > max) max = $1 - last; printf "%.1f", max }' "$LAB_DIR/ticks.txt")
echo "sedge's engine totals during the flood: $((stats_flood - stats_before)) lines, at most $stall s apart"
# The flood was one.
rate=$(sed -n 's/.*: \([0-9]*\) per second.*/\1/p' "$flood_log")
[ -n "$rate" ] && [ "$rate" -ge 2000 ] || lab_fail "the generator sent ${rate:-no} IKE_SA_INIT per second, not a flood (want >= 2000)"

# pop2 got in, by a COOKIE, while the flood ran.
[ "$pop2_ok" = 1 ] || { cat "$LAB_DIR/pop2/initiate.log"; tail -30 "$log"; lab_fail "strongSwan at pop2 could not establish with sedge during the flood"; }
[ "$pop2_in_flood" = 1 ] ||
  lab_fail "strongSwan at pop2 got in only after the flood had ended (it took $pop2_took s; sedge's loop stalled up to $stall s)"
echo "pop2 established in $pop2_took s during the flood"
grep -q "received COOKIE notify" "$LAB_DIR/pop2/charon.log" || lab_fail "sedge did not ask pop2 for a COOKIE during the flood"
grep -c "received COOKIE notify" "$LAB_DIR/pop2/charon.log" | sed 's/^/COOKIEs pop2 was asked for: /'
wait_for_line "$log" "tunnel pops up: .*10.202.0.0/24" || lab_fail "sedge did not install pop2's CHILD_SA"
grep "up:" "$log"
ip netns exec lanhost0 ping -c 5 -i 0.2 -W 2 10.202.0.10 > /dev/null || lab_fail "no ping from lanhost0 to srv2 through pop2's tunnel"
# Each tunnel's ESP seen at its POP, where no other SA shares the addresses.
lab_expect_esp pop2 192.0.2.18 198.51.100.2 5
lab_expect_esp pop1 192.0.2.2 198.51.100.2 "$((2 * PINGS))"

# No ping lost to the flood.
echo "pings lost: $lost_baseline of $PINGS before the flood, $lost_flood of $PINGS around it"
[ "$lost_flood" -le "$lost_baseline" ] ||
  lab_fail "the first tunnel lost $lost_flood of $PINGS pings during the flood, more than the $lost_baseline it lost without it"

grep -c "retransmit" "$LAB_DIR/pop2/charon.log" | sed 's/^/pop2 retransmissions: /'

awk -v s="$stall" 'BEGIN { exit !(s <= 7.5) }' ||
  lab_fail "sedge's event loop stalled during the flood: no engine totals line for $stall s (every 5 s expected)"

# The half-open IKE SAs the flood made are given up 30 s after they were made: wait for that.
for _ in $(seq 60); do
  grep "IKE engine totals" "$log" | tail -1 | grep -q " half_open=0 " && break
  sleep 1
done
kill -TERM "$sedge"
for _ in $(seq 50); do kill -0 "$sedge" 2>/dev/null || break; sleep 0.1; done
kill -0 "$sedge" 2>/dev/null && lab_fail "sedge-connect did not stop on SIGTERM"
trap lab_collect EXIT
grep "IKE engine totals" "$log"
totals=$(grep "IKE engine totals at exit" "$log") || lab_fail "sedge did not log its engine totals at exit"
field() { printf '%s\n' "$totals" | sed -n "s/.* $1=\([0-9]*\).*/\1/p"; }
echo "$totals" | grep -q " half_open=0 " || lab_fail "sedge still held half-open IKE SAs 30 s after the flood: $totals"
[ "$(field cookies_sent)" -gt 0 ] || lab_fail "sedge sent no COOKIE during the flood"
peak=$(grep "IKE engine totals" "$log" | sed -n 's/.* sas=\([0-9]*\).*/\1/p' | sort -n | tail -1)
made=$(grep -c "half-open IKE SA with 100\.80\." "$log" || true)  # from the flood's addresses
echo "IKE SAs: at most $peak at once (logged every 5 s); $(field half_open_expired) half-open ones given up, $made of them the flood's; limit $HALF_OPEN_MAX"
[ "$peak" -le "$HALF_OPEN_MAX" ] && [ "$(field half_open_expired)" -le "$HALF_OPEN_MAX" ] ||
  lab_fail "sedge held $peak IKE SAs at once and gave up $(field half_open_expired) half-open ones: more than half_open_max ($HALF_OPEN_MAX)"

# Memory.
echo "sedge-connect memory: VmRSS ${rss_before} kB before the flood, ${rss_after} kB after, VmHWM (peak) ${hwm_after} kB"
[ "$((hwm_after - rss_before))" -lt 51200 ] ||
  lab_fail "sedge-connect's memory grew by $((hwm_after - rss_before)) kB during the flood (want < 50 MB)"

echo "flood: $rate requests per second; sedge: $(field received) datagrams received ($drops more dropped by the kernel at its full socket), $(field cookies_sent) COOKIEs sent, $(field refused_half_open) refused for too many half-open SAs, $made half-open SAs of the flood given up"
echo PASS
