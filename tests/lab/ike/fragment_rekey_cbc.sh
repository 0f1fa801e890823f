#!/bin/sh
# IKE fragmentation (RFC 7383) after IKE_AUTH and with AES-CBC + HMAC: sedge's initiator to
# strongSwan with aes256-sha384-modp3072 and ESP aes256-sha512 with PFS group 15 (MODP-3072),
# FragmentSize=576 at sedge, inet dropping every IP fragment. sedge rekeys the CHILD_SA after
# about 14 s; its CREATE_CHILD_SA request (a 384-byte KE) does not fit 576 bytes and goes as
# Encrypted Fragment payloads under AES-CBC with HMAC-SHA2-384-192, which strongSwan must
# authenticate and reassemble (its log says so) to answer; the rekeyed CHILD_SA carries the ping.
export SEED_IKE=aes256-sha384-modp3072 SEED_ESP=aes256-sha512-modp3072
. "$SEDGE_SOURCE_DIR/tests/lab/lib/lab.sh"
. "$SEDGE_SOURCE_DIR/tests/lab/pops/seed_peers.sh"
. "$SEDGE_SOURCE_DIR/tests/lab/ike/fragment_lib.sh"
lab_topology
fragment_drop_ip_fragments
pop1_strongswan
SEDGE_CONNECT_OPTS="--child-lifetime 17 --ike-lifetime 600" SEDGE_CONNECT_SECONDS=90 site_sedge "FragmentSize=576"
for _ in $(seq 1200); do grep -q "up:\|error:" "$LAB_DIR/connect.log" && break; sleep 0.1; done
grep -q "tunnel site1-primary up:" "$LAB_DIR/connect.log" || { cat "$LAB_DIR/connect.log"; lab_fail "sedge did not bring the tunnel up"; }
for _ in $(seq 600); do grep -q "rekeyed the CHILD_SA" "$LAB_DIR/connect.log" && break; sleep 0.1; done
cat "$LAB_DIR/connect.log"
grep -q "rekeyed the CHILD_SA .*(PFS group 15)" "$LAB_DIR/connect.log" || lab_fail "sedge did not rekey the CHILD_SA with PFS group 15"
grep -q "sending the CREATE_CHILD_SA request .* in [0-9]* IKE fragments (RFC 7383) of at most 576 bytes" "$LAB_DIR/connect.log" ||
  lab_fail "sedge did not send its CREATE_CHILD_SA request in fragments"
echo "\$ grep -E 'fragment|CREATE_CHILD_SA' pop1/charon.log"
grep -E "fragment|CREATE_CHILD_SA" "$LAB_DIR/pop1/charon.log" | sed 's/^.*\] //' | head -12
grep -q "received fragment #.*reassembled fragmented IKE message" "$LAB_DIR/pop1/charon.log" ||
  lab_fail "strongSwan did not reassemble sedge's fragments"
grep -q "parsed CREATE_CHILD_SA request" "$LAB_DIR/pop1/charon.log" || lab_fail "strongSwan parsed no CREATE_CHILD_SA request"
grep -q "AES_CBC-256/HMAC_SHA2_384_192/PRF_HMAC_SHA2_384/MODP_3072" "$LAB_DIR/pop1/charon.log" ||
  lab_swanctl pop1 --list-sas | grep -q "AES_CBC-256/HMAC_SHA2_384_192/PRF_HMAC_SHA2_384/MODP_3072" ||
  lab_fail "strongSwan does not report the AES-CBC suite"
ping_through_tunnel
echo PASS
