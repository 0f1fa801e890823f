#!/bin/sh
# sedge's own IKEv2 initiator (sedge-connect) to a libreswan responder (pluto from Debian's
# package) at pop1, with the seed's Secure Edge profile; a LAN host pings the server behind pop1
# through kernel ESP.
. "$SEDGE_SOURCE_DIR/tests/lab/lib/lab.sh"
. "$SEDGE_SOURCE_DIR/tests/lab/pops/seed_peers.sh"
lab_topology
pop1_libreswan
site_sedge
wait_for_line "$LAB_DIR/connect.log" "up:" || { cat "$LAB_DIR/connect.log"; lab_fail "sedge did not bring the tunnel up"; }
cat "$LAB_DIR/connect.log"
lab_whack pop1 --trafficstatus | grep -q "site1@example.com" || lab_fail "libreswan shows no CHILD SA for site1@example.com"
lab_whack pop1 --trafficstatus
ping_through_tunnel
if [ -n "${LAB_EXPECT_SUITE:-}" ]; then
  grep -F "$LAB_EXPECT_SUITE" "$LAB_DIR/pop1/pluto.log" | tail -1 | grep . || lab_fail "libreswan does not report $LAB_EXPECT_SUITE"
fi
echo PASS
