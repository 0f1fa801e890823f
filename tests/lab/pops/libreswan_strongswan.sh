#!/bin/sh
# strongSwan at the site initiates to a libreswan POP (pluto from the Debian package) with the
# seed's profile; a LAN host pings the server behind the POP through kernel ESP.
. "$SEDGE_SOURCE_DIR/tests/lab/lib/lab.sh"
. "$SEDGE_SOURCE_DIR/tests/lab/pops/seed_peers.sh"
lab_topology
pop1_libreswan
site_strongswan
lab_swanctl site --initiate --child c --timeout 30 > "$LAB_DIR/site/initiate.log" 2>&1 || { cat "$LAB_DIR/site/initiate.log"; lab_fail "IKE with libreswan did not come up"; }
lab_whack pop1 --trafficstatus
# libreswan installs no route for the remote subnet: the POP returns traffic by its default route.
ping_through_tunnel
echo PASS
