#!/bin/sh
# Proves the harness: strongSwan at the site initiates IKEv2 to a strongSwan POP with the seed's
# Secure Edge profile; a LAN host pings the server behind the POP through kernel ESP.
. "$SEDGE_SOURCE_DIR/tests/lab/lib/lab.sh"
. "$SEDGE_SOURCE_DIR/tests/lab/pops/seed_peers.sh"
lab_topology
pop1_strongswan
site_strongswan
lab_swanctl site --initiate --child c --timeout 30 > "$LAB_DIR/site/initiate.log" 2>&1 || { cat "$LAB_DIR/site/initiate.log"; lab_fail "IKE did not come up"; }
lab_swanctl site --list-sas | grep -E "ESTABLISHED|INSTALLED|AES_GCM"
ping_through_tunnel
echo PASS
