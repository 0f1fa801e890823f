#!/bin/sh
# sedge rekeys against strongSwan (RFC 7296 2.8): sedge's initiator at the site with short
# lifetimes (CHILD_SA 17 s, rekeyed after 13.6 to 15.3 s; IKE SA 28 s, rekeyed after 22.4 to 25.2 s) and the
# seed's profile, whose ESP proposal asks for PFS with group 14; strongSwan at pop1 responds and
# would not rekey for hours. A LAN host pings srv1 every 0.2 s throughout: no echo may be lost
# (make-before-break). Then both ends must agree on the current SAs and the old ones are gone.
. "$SEDGE_SOURCE_DIR/tests/lab/lib/lab.sh"
. "$SEDGE_SOURCE_DIR/tests/lab/pops/seed_peers.sh"
. "$SEDGE_SOURCE_DIR/tests/lab/ike/rekey_lib.sh"
lab_topology
pop1_strongswan
SEDGE_CONNECT_OPTS="--child-lifetime 17 --ike-lifetime 28" SEDGE_CONNECT_SECONDS=120 site_sedge
wait_for_line "$LAB_DIR/connect.log" "up:" || { cat "$LAB_DIR/connect.log"; lab_fail "sedge did not bring the tunnel up"; }
grep "up:" "$LAB_DIR/connect.log"
rekey_first "$LAB_DIR/connect.log" site
rekey_ping_start 34
sleep 35
rekey_ping_check
sleep 0.5
grep -E "rekeyed|deleted|collision|refus" "$LAB_DIR/connect.log" | sed 's/^/sedge: /'
cp "$LAB_DIR/connect.log" "$LAB_LOG_DIR/connect.log"
[ "$(grep -c "rekeyed the CHILD_SA" "$LAB_DIR/connect.log")" -ge 2 ] || lab_fail "sedge did not rekey the CHILD_SA twice"
[ "$(grep -c "rekeyed the IKE SA" "$LAB_DIR/connect.log")" -ge 1 ] || lab_fail "sedge did not rekey the IKE SA"
grep -q "PFS group 14" "$LAB_DIR/connect.log" || lab_fail "the CHILD_SA rekeys did not use PFS"
kill -0 "$connector" 2>/dev/null || lab_fail "sedge-connect exited"
rekey_expect_settled "$LAB_DIR/connect.log" "$first_in" "$first_out" pop1 pop1
grep "CREATE_CHILD_SA" "$LAB_DIR/pop1/charon.log" | tail -4
grep -q "parsed CREATE_CHILD_SA request" "$LAB_DIR/pop1/charon.log" || lab_fail "strongSwan saw no CREATE_CHILD_SA request"
! grep -q "generating CREATE_CHILD_SA request" "$LAB_DIR/pop1/charon.log" || lab_fail "strongSwan started a rekey itself: this scenario tests sedge's"
echo PASS
