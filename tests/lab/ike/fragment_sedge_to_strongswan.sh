#!/bin/sh
# IKE fragmentation (RFC 7383), sedge's initiator to a strongSwan responder at pop1: RSA-4096
# certificates make each IKE_AUTH larger than 1280 bytes, the default fragment size on both sides
# (sedge's FragmentSize=, strongSwan's charon.fragment_size), and inet drops every IP fragment.
# Both announce IKEV2_FRAGMENTATION_SUPPORTED, each sends its IKE_AUTH in Encrypted Fragment
# payloads and reassembles the other's (both logs say so); ping through kernel ESP.
. "$SEDGE_SOURCE_DIR/tests/lab/lib/lab.sh"
. "$SEDGE_SOURCE_DIR/tests/lab/pops/seed_peers.sh"
. "$SEDGE_SOURCE_DIR/tests/lab/ike/cert_lib.sh"
. "$SEDGE_SOURCE_DIR/tests/lab/ike/fragment_lib.sh"
lab_topology
fragment_drop_ip_fragments
cert_pki rsa4096
CERT_AUTH=ike:rsa/pss-sha256
cert_strongswan pop1 pop1 pop "$POP1_ID" site1@example.com 10.201.0.0/24 10.99.99.0/24
SEDGE_CONNECT_SECONDS=60 site_sedge "$(cert_sedge_lines site)"
for _ in $(seq 1200); do grep -q "up:\|error:" "$LAB_DIR/connect.log" && break; sleep 0.1; done
cat "$LAB_DIR/connect.log"
grep -q "tunnel site1-primary up:" "$LAB_DIR/connect.log" || { grep -iE "fragment|auth" "$LAB_DIR/pop1/charon.log" | tail -20; lab_fail "sedge did not bring the tunnel up"; }
fragment_expect pop1 "$LAB_DIR/connect.log"
lab_swanctl pop1 --list-sas | grep -E "ESTABLISHED|INSTALLED" || lab_fail "strongSwan shows no SA"
ping_through_tunnel
echo PASS
