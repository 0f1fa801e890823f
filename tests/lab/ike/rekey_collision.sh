#!/bin/sh
# Simultaneous CHILD_SA rekeys (RFC 7296 2.8.1), crossed by construction: sedge's initiator at
# the site and strongSwan at pop1 each send a CREATE_CHILD_SA rekeying the same CHILD_SA while
# inet, the router between them, drops IKE (UDP 500; never ESP), and inet then lets the
# retransmissions through in an order that leaves neither outcome to timing:
#   1. Everything dropped. sedge's rekey timer fires (50 s into a 100 s CHILD_SA lifetime, no
#      jitter), then strongSwan is told to rekey (swanctl --rekey): both requests are lost.
#   2a. From the site only CREATE_CHILD_SA requests pass: sedge's retransmission reaches
#      strongSwan while strongSwan's own request is outstanding (its collision). strongSwan's
#      answer is dropped with everything else from pop1.
#   2b. From pop1 only CREATE_CHILD_SA requests pass; from the site everything: strongSwan's
#      retransmission reaches sedge while sedge's request is outstanding (its collision), and
#      sedge's answer reaches strongSwan at once, which completes its exchange. Its Delete and
#      its answer to sedge are dropped, so sedge cannot hear of strongSwan's outcome early.
#   3. From pop1 only Deletes (INFORMATIONAL requests) are dropped: sedge's next retransmission
#      gets strongSwan's answer and sedge completes its exchange too.
#   4. Nothing dropped: the Deletes go through. The pair created with the lowest of the four
#      nonces is deleted by the side that created it, the old pair by the other.
# Each step waits (bounded) for the logs to show what it is for. Neither side answers a request
# before it has seen the other's (2a, 2b), and no Delete reaches a side before it has settled
# its own exchange (2b, 3); strongSwan gets sedge's answer within moments of sedge answering it,
# as sedge switches its outbound traffic to strongSwan's new pair within seconds (2b).
# A LAN host pings srv1 every 0.2 s throughout: no echo may be lost, and in the end both ends
# have exactly one pair, the same one.
. "$SEDGE_SOURCE_DIR/tests/lab/lib/lab.sh"
. "$SEDGE_SOURCE_DIR/tests/lab/pops/seed_peers.sh"
. "$SEDGE_SOURCE_DIR/tests/lab/ike/rekey_lib.sh"
sedge_log=$LAB_DIR/connect.log swan_log=$LAB_DIR/pop1/charon.log
site_ip=198.51.100.2 pop1_ip=192.0.2.2

# ---- inet's IKE filter: chain IKE_BLOCK in its FORWARD path, replaced whole for each step ----

# collision_rule FROM WHAT: the iptables-restore line dropping WHAT of the IKE messages FROM
# (site or pop1) sends the other. u32 reads the IKE header's exchange type and flags (the last
# two bytes of its fifth word: 8 bytes of UDP header and 16 of IKE header past the IP header).
collision_rule() {
  case $1 in
    site) match="-s $site_ip -d $pop1_ip -p udp --dport 500" ;;
    pop1) match="-s $pop1_ip -d $site_ip -p udp --sport 500" ;;
  esac
  ike='0>>22&0x3C@24'
  case $2 in
    all) echo "-A IKE_BLOCK $match -j DROP" ;;
    all-but-rekeys) echo "-A IKE_BLOCK $match -m u32 ! --u32 \"$ike&0xFF20=0x2400\" -j DROP" ;;  # all but CREATE_CHILD_SA requests
    deletes) echo "-A IKE_BLOCK $match -m u32 --u32 \"$ike&0xFF20=0x2500\" -j DROP" ;;  # INFORMATIONAL requests
    nothing) ;;
    *) lab_fail "collision_rule: unknown $2" ;;
  esac
}

# collision_drop FROM_SITE FROM_POP1: what inet drops from now on (one table commit, no gap).
collision_drop() {
  { echo "*filter"; echo ":IKE_BLOCK - [0:0]"; collision_rule site "$1"; collision_rule pop1 "$2"; echo COMMIT; } |
    ip netns exec inet iptables-legacy-restore --noflush || lab_fail "iptables could not set inet's IKE rules"
  echo "$(date +%T) inet drops IKE from the site: $1; from pop1: $2"
}

collision_dropped() {  # ADDRESS: IKE packets from it that inet dropped since the last collision_drop
  ip netns exec inet iptables-legacy -L IKE_BLOCK -v -n -x | awk -v src="$1" 'NR > 2 && $8 == src { n += $1 } END { print n + 0 }'
}

# ---- Waits and what they wait for ----

collision_show() {
  echo "--- sedge"; grep -E "request sent|rekey|deleted|collision|refus|dead" "$sedge_log" || true
  echo "--- strongSwan"; grep -E "CREATE_CHILD_SA|INFORMATIONAL|collision|retransmit|CHILD_SA .* established" "$swan_log" || true
  echo "--- inet"; ip netns exec inet iptables-legacy -L IKE_BLOCK -v -n -x || true
}

# collision_wait SECONDS WHAT COMMAND...: COMMAND every 0.2 s until it holds; after SECONDS the
# scenario fails, saying WHAT did not happen.
collision_wait() {
  limit=$1 what=$2 why=""
  shift 2
  deadline=$(( $(date +%s) + limit ))
  until "$@"; do
    if [ "$(date +%s)" -ge "$deadline" ]; then
      collision_show >&2
      lab_fail "not within $limit s: $what${why:+ ($why)}"
    fi
    sleep 0.2
  done
  echo "$(date +%T) $what"
}

in_sedge_log() { grep -q "$1" "$sedge_log"; }
in_swan_log() { grep -q "$1" "$swan_log"; }
swan_sent_rekey() { awk '/generating CREATE_CHILD_SA request/ { g = 1 } g && /sending packet/ { s = 1 } END { exit !s }' "$swan_log"; }
dropped_from() { [ "$(collision_dropped "$1")" -ge 1 ]; }
both() { "$1" "$2" && "$3" "$4"; }  # both F1 ARG1 F2 ARG2

# ---- The ping: batches of 25 echoes (5 s) until told to stop, each batch waiting for its last reply ----

collision_ping_start() {
  rm -f "$LAB_DIR/ping.stop"
  ( while [ ! -e "$LAB_DIR/ping.stop" ]; do
      ip netns exec lanhost0 ping -n -D -i 0.2 -W 2 -c 25 10.201.0.10 || true
    done ) > "$LAB_DIR/ping.log" 2>&1 &
  pinger=$!
}

collision_ping_check() {
  touch "$LAB_DIR/ping.stop"
  wait "$pinger" || true  # ends with the batch under way (at most 5 s and its last reply's 2 s)
  cp "$LAB_DIR/ping.log" "$LAB_LOG_DIR/ping.log"
  sent=$(awk '/packets transmitted/ { n += $1 } END { print n + 0 }' "$LAB_DIR/ping.log")
  got=$(awk '/packets transmitted/ { n += $4 } END { print n + 0 }' "$LAB_DIR/ping.log")
  [ "$sent" -gt 0 ] || lab_fail "the ping did not run"
  [ "$sent" = "$got" ] || { grep -E "transmitted|Unreachable|unreachable" "$LAB_DIR/ping.log"; lab_fail "$(( sent - got )) of $sent pings were lost across the rekeys"; }
  echo "all $sent pings answered across the rekeys"
}

# ---- The scenario ----

lab_topology
ip netns exec inet iptables-legacy -N IKE_BLOCK
ip netns exec inet iptables-legacy -A FORWARD -p udp -j IKE_BLOCK
# strongSwan rekeys only when told to (its own timer: 1 h); its SAs live 2 h.
REKEY_CHILD_LIFE=2h \
  rekey_strongswan pop1 pop1 4h 1h 0s "$POP1_ID" site1@example.com 10.201.0.0/24 10.99.99.0/24
# sedge rekeys the CHILD_SA exactly 50 s after it is set up (half its 100 s lifetime, no jitter):
# time to block IKE first, and 50 s more before the old pair's lifetime runs out. No liveness
# checks (they would hold the rekey back while IKE is blocked), and a request is given 120 s.
SEDGE_CONNECT_OPTS="--child-lifetime 100 --rekey-at 0.5 --rekey-jitter 0" SEDGE_CONNECT_SECONDS=240 site_sedge "DpdIntervalSec=0
DpdTimeoutSec=120"
collision_wait 30 "sedge brought the tunnel up" in_sedge_log "tunnel .* up:"
grep "up:" "$sedge_log"
rekey_first "$sedge_log" site
# The filter matches IKE on UDP 500 only: no NAT between the peers, so IKE never moves to 4500.
! in_sedge_log "behind NAT" || lab_fail "sedge found a NAT: IKE is on UDP 4500, which inet's rules do not match"

# 1. Both requests lost.
collision_drop all all
! in_sedge_log "request sent: CHILD_SA rekey" || lab_fail "sedge's rekey timer fired before IKE was blocked"
collision_ping_start
collision_wait 60 "sedge sent its CHILD_SA rekey request (its timer)" in_sedge_log "request sent: CHILD_SA rekey"
lab_swanctl pop1 --rekey --child c > "$LAB_DIR/pop1/rekey.log" 2>&1 || { cat "$LAB_DIR/pop1/rekey.log"; lab_fail "swanctl --rekey failed"; }
collision_wait 15 "strongSwan sent its CREATE_CHILD_SA rekey request" swan_sent_rekey
collision_wait 10 "inet dropped IKE from both sides" both dropped_from "$site_ip" dropped_from "$pop1_ip"

# 2a. sedge's request reaches strongSwan; strongSwan's answer is dropped.
collision_drop all-but-rekeys all
collision_wait 30 "strongSwan received sedge's rekey while its own was outstanding (detected CHILD_REKEY collision)" \
  in_swan_log "detected CHILD_REKEY collision with CHILD_REKEY"
! in_sedge_log "CHILD_SA rekey collision" || lab_fail "sedge heard from strongSwan while inet dropped everything from pop1"

# 2b. strongSwan's request reaches sedge; sedge's answer completes strongSwan's exchange.
collision_drop nothing all-but-rekeys
collision_wait 30 "sedge received strongSwan's rekey while its own was outstanding" \
  in_sedge_log "CHILD_SA rekey collision: the peer rekeys"
collision_wait 15 "strongSwan settled the collision" in_swan_log "CHILD_SA rekey collision \(won\|lost\)"
! in_sedge_log "CHILD_SA rekey collision \(won\|lost\)" || lab_fail "sedge got strongSwan's answer while inet dropped it"

# 3. strongSwan's answer reaches sedge; strongSwan's Delete does not yet.
collision_drop nothing deletes
collision_wait 30 "sedge settled the collision" in_sedge_log "CHILD_SA rekey collision \(won\|lost\)"

# 4. The Deletes: one pair left at both ends.
collision_drop nothing nothing
collision_wait 40 "both ends were left with one pair, the same" rekey_check_once "$sedge_log" "$first_in" "$first_out" pop1 pop1
collision_ping_check
echo "--- sedge"; grep -E "request sent|rekey|deleted|collision|refus" "$sedge_log" | sed 's/^/sedge: /'
cp "$sedge_log" "$LAB_LOG_DIR/connect.log"
grep -E "CREATE_CHILD_SA|collision|INFORMATIONAL" "$swan_log" | sed 's/^/strongSwan: /'
grep -q "CHILD_SA rekey collision: the peer rekeys" "$sedge_log" || lab_fail "the rekeys did not collide at sedge"
grep -q "CHILD_SA rekey collision \(won\|lost\)" "$sedge_log" || lab_fail "sedge did not settle the collision"
grep -q "generating CREATE_CHILD_SA request" "$swan_log" || lab_fail "strongSwan did not rekey"
# The same four nonces decide at both ends: one side won, the other lost.
if grep -q "CHILD_SA rekey collision won" "$sedge_log"; then theirs=lost; else theirs=won; fi
grep -q "CHILD_SA rekey collision $theirs" "$swan_log" || lab_fail "sedge and strongSwan did not agree on who won (strongSwan should have $theirs)"
kill -0 "$connector" 2>/dev/null || lab_fail "sedge-connect exited"
rekey_expect_settled "$sedge_log" "$first_in" "$first_out" pop1 pop1
echo PASS
