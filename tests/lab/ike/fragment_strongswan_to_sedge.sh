#!/bin/sh
# IKE fragmentation (RFC 7383), strongSwan at the site to sedge's responder at pop1: RSA-4096
# certificates make each IKE_AUTH larger than strongSwan's default fragment size (1280 bytes) and
# sedge's, set small here (FragmentSize=576); inet drops every IP fragment. strongSwan's IKE_AUTH
# request comes in fragments that sedge authenticates and reassembles, sedge's response goes back
# in fragments of at most 576 bytes (both logs say so); ping through kernel ESP.
. "$SEDGE_SOURCE_DIR/tests/lab/lib/lab.sh"
. "$SEDGE_SOURCE_DIR/tests/lab/pops/seed_peers.sh"
. "$SEDGE_SOURCE_DIR/tests/lab/ike/cert_lib.sh"
. "$SEDGE_SOURCE_DIR/tests/lab/ike/fragment_lib.sh"
lab_topology
fragment_drop_ip_fragments
cert_pki rsa4096
CERT_AUTH=ike:rsa/pss-sha256
SEDGE_CONNECT_SECONDS=90 pop1_sedge "$(cert_sedge_lines pop)
FragmentSize=576"
cert_strongswan site site site site1@example.com "$POP1_ID" 10.99.99.0/24 10.201.0.0/24 "remote_addrs = 192.0.2.2"
lab_swanctl site --initiate --child c --timeout 60 > "$LAB_DIR/site/initiate.log" 2>&1 ||
  { cat "$LAB_DIR/site/initiate.log" "$LAB_DIR/respond.log"; lab_fail "strongSwan could not establish with sedge"; }
for _ in $(seq 300); do grep -q "tunnel site1 up:" "$LAB_DIR/respond.log" && break; sleep 0.1; done
cat "$LAB_DIR/respond.log"
grep -q "tunnel site1 up:" "$LAB_DIR/respond.log" || lab_fail "sedge did not install the tunnel"
fragment_expect site "$LAB_DIR/respond.log"
grep -q "sending the IKE_AUTH response .* IKE fragments (RFC 7383) of at most 576 bytes" "$LAB_DIR/respond.log" ||
  lab_fail "sedge did not use FragmentSize=576"
lab_swanctl site --list-sas | grep -E "ESTABLISHED|INSTALLED"
ping_through_tunnel
echo PASS
