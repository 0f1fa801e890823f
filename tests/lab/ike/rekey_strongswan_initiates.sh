#!/bin/sh
# strongSwan rekeys against sedge (RFC 7296 2.8): strongSwan's initiator at the site rekeys its
# CHILD_SA every 15 s (PFS group 14, as the seed's ESP proposal says) and the IKE SA every 25 s;
# sedge's responder at pop1 answers them with the configured lifetimes (hours), installs each
# new pair before the old one goes, and deletes nothing itself. A LAN host pings srv1 every
# 0.2 s throughout: no echo may be lost. Then both ends agree on the current SAs.
. "$SEDGE_SOURCE_DIR/tests/lab/lib/lab.sh"
. "$SEDGE_SOURCE_DIR/tests/lab/pops/seed_peers.sh"
. "$SEDGE_SOURCE_DIR/tests/lab/ike/rekey_lib.sh"
lab_topology
SEDGE_CONNECT_SECONDS=120 pop1_sedge
rekey_strongswan site site 25s 15s 0s site1@example.com "$POP1_ID" 10.99.99.0/24 10.201.0.0/24 "remote_addrs = 192.0.2.2"
lab_swanctl site --initiate --child c --timeout 30 > "$LAB_DIR/site/initiate.log" 2>&1 ||
  { cat "$LAB_DIR/site/initiate.log" "$LAB_DIR/respond.log"; lab_fail "strongSwan could not establish with sedge"; }
wait_for_line "$LAB_DIR/respond.log" "tunnel site1 up:" || { cat "$LAB_DIR/respond.log"; lab_fail "sedge did not install the tunnel"; }
grep "up:" "$LAB_DIR/respond.log"
rekey_first "$LAB_DIR/respond.log" pop1
rekey_ping_start 40
sleep 41
rekey_ping_check
sleep 1
grep -E "rekeyed|deleted|collision|refus" "$LAB_DIR/respond.log" | sed 's/^/sedge: /'
cp "$LAB_DIR/respond.log" "$LAB_LOG_DIR/respond.log"
[ "$(grep -c "the peer rekeyed the CHILD_SA" "$LAB_DIR/respond.log")" -ge 2 ] || lab_fail "strongSwan did not rekey the CHILD_SA twice with sedge"
[ "$(grep -c "the peer rekeyed the IKE SA" "$LAB_DIR/respond.log")" -ge 1 ] || lab_fail "strongSwan did not rekey the IKE SA with sedge"
grep -q "the peer rekeyed the CHILD_SA.*(PFS group 14)" "$LAB_DIR/respond.log" || lab_fail "the CHILD_SA rekeys did not use PFS"
! grep -q "refusing" "$LAB_DIR/respond.log" || lab_fail "sedge refused a rekey"
! grep -q "request sent: .*rekey" "$LAB_DIR/respond.log" || lab_fail "sedge started a rekey itself: this scenario tests strongSwan's"
rekey_expect_settled "$LAB_DIR/respond.log" "$first_in" "$first_out" site site
grep -c "generating CREATE_CHILD_SA request" "$LAB_DIR/site/charon.log" | sed 's/^/strongSwan CREATE_CHILD_SA requests: /'
echo PASS
