#!/bin/sh
# libreswan (pluto) at the site initiates IKEv2 with the seed's profile to sedge's responder at
# pop1; a LAN host pings the server behind pop1 through kernel ESP.
. "$SEDGE_SOURCE_DIR/tests/lab/lib/lab.sh"
. "$SEDGE_SOURCE_DIR/tests/lab/pops/seed_peers.sh"
lab_topology
pop1_sedge
site_libreswan
lab_whack site --initiate --name sec > "$LAB_DIR/site/initiate.log" 2>&1 || true
wait_for_line "$LAB_DIR/respond.log" "tunnel site1 up:" || { cat "$LAB_DIR/site/initiate.log" "$LAB_DIR/respond.log"; lab_fail "libreswan could not establish with sedge"; }
cat "$LAB_DIR/respond.log"
lab_whack site --trafficstatus
ping_through_tunnel
echo PASS
