#!/bin/sh
# strongSwan at the site initiates to sedge's responder at pop1 (as strongswan_to_sedge.sh) with
# two IKE proposals, the first one with a DH group sedge is not configured for: strongSwan sends
# its KE for the first proposal's group (ECP-256, 19). sedge, configured for
# aes128gcm16-prfsha256-modp2048 only, picks the second proposal and must answer
# INVALID_KE_PAYLOAD asking for group 14 (RFC 7296 1.2); strongSwan sends IKE_SA_INIT again with
# a MODP-2048 KE, the IKE SA is established with MODP_2048 and a LAN host pings through ESP.
. "$SEDGE_SOURCE_DIR/tests/lab/lib/lab.sh"
. "$SEDGE_SOURCE_DIR/tests/lab/pops/seed_peers.sh"
lab_topology
# sedge's tunnel: the seed's suite, one DH group (14).
SEED_IKE=aes128gcm16-prfsha256-modp2048
pop1_sedge
grep -qx "IkeProposal=aes128gcm16-prfsha256-modp2048" "$LAB_DIR/pop1-etc/sedge.conf" || lab_fail "sedge's tunnel is not configured for MODP-2048 only"
wait_for_line "$LAB_DIR/respond.log" "listening" || { cat "$LAB_DIR/respond.log"; lab_fail "sedge's responder did not start listening"; }
# strongSwan: ECP-256 first, MODP-2048 second.
SEED_IKE=aes128gcm16-prfsha256-ecp256,aes128gcm16-prfsha256-modp2048
site_strongswan
grep -q "proposals = aes128gcm16-prfsha256-ecp256,aes128gcm16-prfsha256-modp2048" "$LAB_DIR/site/swanctl.conf" ||
  lab_fail "strongSwan's proposals do not start with ECP-256"
lab_swanctl site --initiate --child c --timeout 30 > "$LAB_DIR/site/initiate.log" 2>&1 ||
  { cat "$LAB_DIR/site/initiate.log" "$LAB_DIR/respond.log"; lab_fail "strongSwan could not establish with sedge after INVALID_KE_PAYLOAD"; }
wait_for_line "$LAB_DIR/respond.log" "tunnel site1 up:" || { cat "$LAB_DIR/respond.log"; lab_fail "sedge did not install the tunnel"; }
cat "$LAB_DIR/respond.log"

# sedge refused the first IKE_SA_INIT (KE for group 19) with INVALID_KE_PAYLOAD asking for 14.
refusal="refusing IKE_SA_INIT from 198.51.100.2[500]: INVALID_KE_PAYLOAD (KE for group 19, asking for group 14)"
for _ in $(seq 100); do grep -qF "$refusal" "$LAB_DIR/respond.log" && break; sleep 0.1; done  # up to 10 s
grep -qF "$refusal" "$LAB_DIR/respond.log" ||
  lab_fail "sedge's log does not show '$refusal'"
[ "$(grep -c "refusing IKE_SA_INIT" "$LAB_DIR/respond.log")" -eq 1 ] ||
  lab_fail "sedge refused more than one IKE_SA_INIT (the retry with MODP-2048 must be accepted)"

# charon received the notify and sent IKE_SA_INIT again with the group sedge asked for.
# (charon names the notify INVAL_KE in its message summaries)
wait_for_line "$LAB_DIR/site/charon.log" "parsed IKE_SA_INIT response 0 \\[ N(INVAL_KE) \\]" ||
  { cat "$LAB_DIR/site/charon.log"; lab_fail "strongSwan's log does not show an IKE_SA_INIT response with INVALID_KE_PAYLOAD"; }
wait_for_line "$LAB_DIR/site/charon.log" "peer didn't accept DH group ECP_256, it requested MODP_2048" ||
  { cat "$LAB_DIR/site/charon.log"; lab_fail "strongSwan's log does not show sedge requesting MODP_2048 instead of ECP_256"; }
wait_for_line "$LAB_DIR/site/charon.log" "IKE_SA sec\[1\] established" ||
  { cat "$LAB_DIR/site/charon.log"; lab_fail "strongSwan's log does not show the IKE SA established"; }
grep -E "IKE_SA_INIT|INVALID_KE|DH group|established" "$LAB_DIR/site/charon.log"
inits=$(grep -c "generating IKE_SA_INIT request 0" "$LAB_DIR/site/charon.log" || true)
[ "$inits" -ge 2 ] || lab_fail "strongSwan sent IKE_SA_INIT $inits time(s), not again after INVALID_KE_PAYLOAD"
# The retry came after the refusal, and the IKE SA after the retry.
awk '/peer didn.t accept DH group ECP_256/ { asked = NR }
     /generating IKE_SA_INIT request 0/ && asked && !retry { retry = NR }
     /IKE_SA sec\[1\] established/ && retry { ok = 1 }
     END { exit !ok }' "$LAB_DIR/site/charon.log" ||
  lab_fail "strongSwan's log does not show INVALID_KE_PAYLOAD, then a new IKE_SA_INIT, then the IKE SA established"

# strongSwan reports the IKE SA established with MODP_2048, not ECP_256.
lab_swanctl site --list-sas > "$LAB_DIR/site/list-sas.log" 2>&1 || { cat "$LAB_DIR/site/list-sas.log"; lab_fail "swanctl --list-sas failed"; }
cat "$LAB_DIR/site/list-sas.log"
grep -q "ESTABLISHED" "$LAB_DIR/site/list-sas.log" || lab_fail "strongSwan does not list the IKE SA as ESTABLISHED"
grep -q "AES_GCM_16-128/PRF_HMAC_SHA2_256/MODP_2048" "$LAB_DIR/site/list-sas.log" ||
  lab_fail "strongSwan does not report the IKE SA with MODP_2048"
! grep -q "ECP_256" "$LAB_DIR/site/list-sas.log" || lab_fail "strongSwan reports ECP_256 for an SA"
grep -q "INSTALLED" "$LAB_DIR/site/list-sas.log" || lab_fail "strongSwan does not list the CHILD_SA as INSTALLED"

ping_through_tunnel
echo PASS
