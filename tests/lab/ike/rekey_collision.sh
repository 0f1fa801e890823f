#!/bin/sh
# Simultaneous CHILD_SA rekeys (RFC 7296 2.8.1): sedge's initiator at the site and strongSwan at
# pop1 both rekey the CHILD_SA about 18 s after it was set up, without jitter; pop1's packets take
# a second longer to the site, so that a CREATE_CHILD_SA request of strongSwan's is still on its
# way when sedge sends its own. Both exchanges complete; the pair
# created with the lowest of the four nonces is deleted by the side that created it, and the old
# pair by the other. A LAN host pings srv1 every 0.2 s throughout: no echo may be lost, and in
# the end both ends have exactly one pair, the same one.
. "$SEDGE_SOURCE_DIR/tests/lab/lib/lab.sh"
. "$SEDGE_SOURCE_DIR/tests/lab/pops/seed_peers.sh"
. "$SEDGE_SOURCE_DIR/tests/lab/ike/rekey_lib.sh"
lab_topology
ip netns exec pop1 tc qdisc add dev wan root netem delay 1000ms
rekey_strongswan pop1 pop1 4h 18s 0s "$POP1_ID" site1@example.com 10.201.0.0/24 10.99.99.0/24
# Either sedge's timer (18.5 s: 61.67% of a 30 s lifetime) or strongSwan's (18 s) is the first;
# then both restart when the first rekey completes, strongSwan's a little later (its response
# processing), and the second rekeys leave within half a second of each other, each before the
# other's request arrives. strongSwan's SAs live 30 s, not 19.8 s, so that no SA expires while
# a delayed rekey is still under way.
SEDGE_CONNECT_OPTS="--child-lifetime 30 --rekey-at 0.6167 --rekey-jitter 0" SEDGE_CONNECT_SECONDS=120 site_sedge
for _ in $(seq 30); do grep -q "up:" "$LAB_DIR/connect.log" && break; sleep 1; done
grep "up:" "$LAB_DIR/connect.log" || { cat "$LAB_DIR/connect.log"; lab_fail "sedge did not bring the tunnel up"; }
rekey_first "$LAB_DIR/connect.log" site
rekey_ping_start 40
sleep 41
rekey_ping_check
sleep 2
grep -E "rekey|deleted|collision|refus" "$LAB_DIR/connect.log" | sed 's/^/sedge: /'
cp "$LAB_DIR/connect.log" "$LAB_LOG_DIR/connect.log"
grep -E "CREATE_CHILD_SA|collision|INFORMATIONAL" "$LAB_DIR/pop1/charon.log" | sed 's/^/strongSwan: /'
grep -q "CHILD_SA rekey collision: the peer rekeys" "$LAB_DIR/connect.log" || lab_fail "the rekeys did not collide at sedge"
grep -q "CHILD_SA rekey collision \(won\|lost\)" "$LAB_DIR/connect.log" || lab_fail "sedge did not settle the collision"
grep -q "generating CREATE_CHILD_SA request" "$LAB_DIR/pop1/charon.log" || lab_fail "strongSwan did not rekey"
kill -0 "$connector" 2>/dev/null || lab_fail "sedge-connect exited"
rekey_expect_settled "$LAB_DIR/connect.log" "$first_in" "$first_out" pop1 pop1
echo PASS
