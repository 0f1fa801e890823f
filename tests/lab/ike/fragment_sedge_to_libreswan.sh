#!/bin/sh
# IKE fragmentation (RFC 7383), sedge's initiator to a libreswan responder (fragmentation=yes) at
# pop1: RSA-4096 certificates (RSASSA-PSS, authby=rsa-sha2) make each IKE_AUTH larger than 1280
# bytes and inet drops every IP fragment. sedge sends its IKE_AUTH request in fragments, which
# pluto must reassemble to answer, and reassembles pluto's fragmented response (sedge's log says
# both); pluto's log names the certificate it authenticated; ping through kernel ESP.
. "$SEDGE_SOURCE_DIR/tests/lab/lib/lab.sh"
. "$SEDGE_SOURCE_DIR/tests/lab/pops/seed_peers.sh"
. "$SEDGE_SOURCE_DIR/tests/lab/ike/cert_lib.sh"
. "$SEDGE_SOURCE_DIR/tests/lab/ike/fragment_lib.sh"
lab_topology
fragment_drop_ip_fragments
cert_pki rsa4096
ip netns exec site sysctl -qw net.core.xfrm_acq_expires=1  # pluto may answer late (see sedge_to_libreswan.sh)
cert_libreswan_nss pop1 pop
pop1_libreswan "$(cert_libreswan_lines rsa pop)$(printf '\n\tfragmentation=yes')"
SEDGE_CONNECT_SECONDS=90 site_sedge "$(cert_sedge_lines site)"
for _ in $(seq 1200); do grep -q "up:\|error:" "$LAB_DIR/connect.log" && break; sleep 0.1; done
cat "$LAB_DIR/connect.log"
grep -q "tunnel site1-primary up:" "$LAB_DIR/connect.log" || { tail -20 "$LAB_DIR/pop1/pluto.log"; lab_fail "sedge did not bring the tunnel up"; }
grep -q "sending the IKE_AUTH request .* in [0-9]* IKE fragments" "$LAB_DIR/connect.log" || lab_fail "sedge did not send its IKE_AUTH in fragments"
grep -q "received the IKE_AUTH response .* in [0-9]* IKE fragments (RFC 7383), reassembled" "$LAB_DIR/connect.log" ||
  lab_fail "sedge did not reassemble libreswan's IKE_AUTH response from fragments"
cert_libreswan_expect pop1 rsa
lab_whack pop1 --trafficstatus | grep -q "site1@example.com" || lab_fail "libreswan shows no CHILD SA for site1@example.com"
ping_through_tunnel
echo PASS
