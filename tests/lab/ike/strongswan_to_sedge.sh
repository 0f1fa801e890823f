#!/bin/sh
# strongSwan at the site initiates IKEv2 (the seed's Secure Edge profile) to sedge's responder
# (sedge-connect --respond, from sedge's configuration) at pop1; the CHILD_SA goes into the
# kernel through sedge's netlink layer; a LAN host pings the server behind pop1 through ESP.
. "$SEDGE_SOURCE_DIR/tests/lab/lib/lab.sh"
. "$SEDGE_SOURCE_DIR/tests/lab/pops/seed_peers.sh"
lab_topology
pop1_sedge
site_strongswan
lab_swanctl site --initiate --child c --timeout 30 > "$LAB_DIR/site/initiate.log" 2>&1 ||
  { cat "$LAB_DIR/site/initiate.log" "$LAB_DIR/respond.log"; lab_fail "strongSwan could not establish with sedge"; }
wait_for_line "$LAB_DIR/respond.log" "tunnel site1 up:" || { cat "$LAB_DIR/respond.log"; lab_fail "sedge did not install the tunnel"; }
cat "$LAB_DIR/respond.log"
lab_swanctl site --list-sas | grep -E "ESTABLISHED|INSTALLED|AES_GCM"
ping_through_tunnel
expect_suite site pop1
echo PASS
