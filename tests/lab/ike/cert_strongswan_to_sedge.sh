#!/bin/sh
# strongSwan at the site initiates to sedge's responder at pop1, both with certificates of a lab
# CA made here with openssl (ECDSA P-256; LAB_CERT_KIND=rsa: RSA-2048): sedge's IKE_SA_INIT
# response carries CERTREQ and SIGNATURE_HASH_ALGORITHMS, strongSwan answers with its CERT and
# an RFC 7427 signature, sedge checks the chain, the ID against the certificate's SAN email and
# the signature, and signs its own AUTH; ping through kernel ESP.
. "$SEDGE_SOURCE_DIR/tests/lab/lib/lab.sh"
. "$SEDGE_SOURCE_DIR/tests/lab/pops/seed_peers.sh"
. "$SEDGE_SOURCE_DIR/tests/lab/ike/cert_lib.sh"
kind=${LAB_CERT_KIND:-ec}
lab_topology
cert_pki "$kind"
[ "${LAB_IKE_CAPTURE:-0}" = 1 ] && ike_capture_start pop1
cert_pop1_sedge pop "$(ike_capture_keylog_lines)"
cert_strongswan site site site site1@example.com "$POP1_ID" 10.99.99.0/24 10.201.0.0/24 "remote_addrs = 192.0.2.2"
lab_swanctl site --initiate --child c --timeout 30 > "$LAB_DIR/site/initiate.log" 2>&1 ||
  { cat "$LAB_DIR/site/initiate.log" "$LAB_DIR/respond.log"; lab_fail "strongSwan could not establish with sedge"; }
for _ in $(seq 300); do grep -q "tunnel site1 up:" "$LAB_DIR/respond.log" && break; sleep 0.1; done
grep -q "tunnel site1 up:" "$LAB_DIR/respond.log" || { cat "$LAB_DIR/respond.log"; lab_fail "sedge did not install the tunnel"; }
cat "$LAB_DIR/respond.log"
# charon writes its log late (buffered): wait for its verdict on sedge's AUTH before reading it.
wait_for_line "$LAB_DIR/site/charon.log" "authentication of '$POP1_ID' with .* successful" || true
echo "\$ grep authentication site/charon.log"
grep -E "authentication of|received end entity cert|sending end entity cert|received cert request|received SIGNATURE_HASH" "$LAB_DIR/site/charon.log" | sed 's/^.*\] //' | head -12
if [ "$kind" = rsa ]; then scheme='RSA_EMSA_PSS_SHA2_256(_SALT_32)?'; else scheme=ECDSA_WITH_SHA256_DER; fi
grep -qE "authentication of '$POP1_ID' with $scheme successful" "$LAB_DIR/site/charon.log" ||
  lab_fail "strongSwan did not verify sedge's $scheme signature"
grep -q "received cert request for \"C=CH, O=Sedge Lab, CN=Sedge Lab CA\"" "$LAB_DIR/site/charon.log" ||
  lab_fail "strongSwan did not get sedge's CERTREQ in IKE_SA_INIT"
grep -q "received end entity cert \"C=CH, O=Sedge Lab, CN=$POP1_ID\"" "$LAB_DIR/site/charon.log" || lab_fail "strongSwan did not get sedge's CERT"
lab_swanctl site --list-sas | grep -E "ESTABLISHED|INSTALLED"
ike_capture_keep
ping_through_tunnel
echo PASS
