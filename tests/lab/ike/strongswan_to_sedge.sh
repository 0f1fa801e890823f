#!/bin/sh
# strongSwan at the site initiates IKEv2 (the seed's Secure Edge profile) to sedge's responder
# (sedge-connect --respond, from sedge's configuration) at pop1; the CHILD_SA goes into the
# kernel through sedge's netlink layer; a LAN host pings the server behind pop1 through ESP.
. "$SEDGE_SOURCE_DIR/tests/lab/lib/lab.sh"
. "$SEDGE_SOURCE_DIR/tests/lab/pops/site_swanctl.sh"
lab_topology
. "$SEDGE_SOURCE_DIR/tests/lab/ike/sedge_pop.sh"
sedge_pop_responder
site_swanctl
lab_strongswan site site
lab_swanctl site --initiate --child c --timeout 30 > "$LAB_DIR/site/initiate.log" 2>&1 ||
  { cat "$LAB_DIR/site/initiate.log" "$LAB_DIR/respond.log"; lab_fail "strongSwan could not establish with sedge"; }
for _ in $(seq 50); do grep -q "up:" "$LAB_DIR/respond.log" && break; sleep 0.1; done
cat "$LAB_DIR/respond.log"
grep -q "tunnel site1 up:" "$LAB_DIR/respond.log" || lab_fail "sedge did not install the tunnel"
lab_swanctl site --list-sas | grep -E "ESTABLISHED|INSTALLED|AES_GCM"
ping_through_tunnel
lab_expect_esp pop1 192.0.2.2 198.51.100.2 5
echo PASS
