#!/bin/sh
# sedge's initiator (sedge-connect) to a strongSwan responder at pop1, both authenticating with
# certificates of a lab CA made here with openssl: the site's (SAN email site1@example.com, its
# IDi) and pop1's (SAN DNS, its FQDN IDr). LAB_CERT_KIND=ec: ECDSA P-256 keys (RFC 7427
# ecdsa-with-SHA256); rsa: RSA-2048 keys, sedge signing with RSASSA-PSS and strongSwan too
# (auth = ike:rsa/pss-sha256). strongSwan's log names the schemes; ping through kernel ESP.
# LAB_CERT_ROGUE=1: pop1's certificate comes from another CA of the same name, which sedge does
# not trust: sedge refuses it (AUTHENTICATION_FAILED, the reason logged) and installs no SA.
. "$SEDGE_SOURCE_DIR/tests/lab/lib/lab.sh"
. "$SEDGE_SOURCE_DIR/tests/lab/pops/seed_peers.sh"
. "$SEDGE_SOURCE_DIR/tests/lab/ike/cert_lib.sh"
kind=${LAB_CERT_KIND:-ec}
lab_topology
cert_pki "$kind"
[ "$kind" = rsa ] && CERT_AUTH=ike:rsa/pss-sha256
pop_cert=pop
[ "${LAB_CERT_ROGUE:-0}" = 1 ] && pop_cert=rogue-pop
cert_strongswan pop1 pop1 "$pop_cert" "$POP1_ID" site1@example.com 10.201.0.0/24 10.99.99.0/24
[ "${LAB_IKE_CAPTURE:-0}" = 1 ] && ike_capture_start pop1
SEDGE_CONNECT_SECONDS=30 site_sedge "$(cert_sedge_lines site)$(ike_capture_keylog_lines)"

if [ "${LAB_CERT_ROGUE:-0}" = 1 ]; then
  for _ in $(seq 600); do kill -0 "$connector" 2>/dev/null || break; sleep 0.1; done
  cat "$LAB_DIR/connect.log"
  kill -0 "$connector" 2>/dev/null && lab_fail "sedge is still running with an untrusted responder"
  grep -q "AUTHENTICATION_FAILED: the responder $POP1_ID is refused: certificate .*does not verify" "$LAB_DIR/connect.log" ||
    lab_fail "sedge did not log why it refused the untrusted certificate"
  grep -q "tunnel site1-primary up:" "$LAB_DIR/connect.log" && lab_fail "sedge brought the tunnel up"
  # strongSwan (slow in the guest, and its log file is written late) had completed its side; told
  # AUTHENTICATION_FAILED, it must drop the IKE SA and its CHILD_SA: up to 60 s.
  for _ in $(seq 600); do
    lab_swanctl pop1 --list-sas | grep -q ESTABLISHED || [ -n "$(ip -n pop1 xfrm state)" ] || break
    sleep 0.1
  done
  echo "\$ swanctl --list-sas   # at pop1, after the refusal"
  lab_swanctl pop1 --list-sas
  lab_swanctl pop1 --list-sas | grep -q ESTABLISHED && lab_fail "strongSwan still holds the IKE SA sedge refused"
  grep "AUTHENTICATION_FAILED" "$LAB_DIR/pop1/charon.log" | sed 's/^.*\] //' | head -3
  echo "\$ ip -n site xfrm state; ip -n site xfrm policy"
  ip -n site xfrm state; ip -n site xfrm policy
  [ -z "$(ip -n site xfrm state)" ] || lab_fail "an SA is left in the site's kernel"
  [ -z "$(ip -n site xfrm policy)" ] || lab_fail "a policy is left in the site's kernel"
  [ -z "$(ip -n pop1 xfrm state)" ] || lab_fail "strongSwan kept an SA of the refused IKE SA"
  echo PASS
  exit 0
fi

for _ in $(seq 600); do grep -q "up:\|error:" "$LAB_DIR/connect.log" && break; sleep 0.1; done
cat "$LAB_DIR/connect.log"
grep -q "tunnel site1-primary up:" "$LAB_DIR/connect.log" || { cat "$LAB_DIR/pop1/charon.log" | grep -iE "auth|cert|sign" | tail -20; lab_fail "sedge did not bring the tunnel up"; }
grep -q "authenticating with certificate .*CN=site1" "$LAB_DIR/connect.log" || lab_fail "sedge did not use its certificate"
echo "\$ grep authentication pop1/charon.log"
grep -E "authentication of|received end entity cert|sending end entity cert|received cert request|CA certificate" "$LAB_DIR/pop1/charon.log" | sed 's/^.*\] //' | head -12
if [ "$kind" = rsa ]; then scheme='RSA_EMSA_PSS_SHA2_256(_SALT_32)?'; else scheme=ECDSA_WITH_SHA256_DER; fi
grep -qE "authentication of 'site1@example.com' with $scheme successful" "$LAB_DIR/pop1/charon.log" ||
  lab_fail "strongSwan did not verify sedge's $scheme signature (RFC 7427)"
grep -q "received end entity cert \"C=CH, O=Sedge Lab, CN=site1\"" "$LAB_DIR/pop1/charon.log" || lab_fail "strongSwan did not get sedge's CERT"
grep -q "received cert request for \"C=CH, O=Sedge Lab, CN=Sedge Lab CA\"" "$LAB_DIR/pop1/charon.log" ||
  lab_fail "strongSwan did not recognise sedge's CERTREQ for the lab CA"
grep -qE "authentication of '$POP1_ID' \(myself\) with $scheme successful" "$LAB_DIR/pop1/charon.log" ||
  lab_fail "strongSwan did not sign with $scheme (so sedge did not verify it)"
echo "\$ swanctl --list-sas   # at pop1"
lab_swanctl pop1 --list-sas | grep -E "ESTABLISHED|INSTALLED|site1@example.com" || lab_fail "strongSwan shows no SA"
ike_capture_keep
ping_through_tunnel
echo PASS
