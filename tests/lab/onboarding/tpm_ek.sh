#!/bin/sh
# The router's TPM layer (tpm2-tss ESAPI) against swtpm, checked by tpm2-tools, which owes
# nothing to sedge: the EK certificate sedge reads from NV is byte for byte the one tpm2_nvread
# reads, the EK sedge recreates from the standard template has the name tpm2_createek's EK has,
# and its public key is the certificate's; the device ID token carries them and the MAC.
. "$SEDGE_SOURCE_DIR/tests/lab/lib/lab.sh"
tcti=$(lab_swtpm "$LAB_DIR/tpm" 2331)
trap 'lab_swtpm_stop "$LAB_DIR/tpm"; lab_collect' EXIT  # also when a check fails
export TPM2TOOLS_TCTI=$tcti
T="$SEDGE_BUILD_DIR/onboarding/sedge-tpm"
"$T" --tcti "$tcti" ekcert "$LAB_DIR/sedge-ek.der" || lab_fail "sedge could not read the EK certificate"
tpm2_nvread 0x01c00002 -o "$LAB_DIR/tools-ek.der" 2>/dev/null || lab_fail "tpm2_nvread failed"
cmp "$LAB_DIR/sedge-ek.der" "$LAB_DIR/tools-ek.der" || lab_fail "sedge's EK certificate differs from tpm2_nvread's"
openssl verify -CAfile "$LAB_DIR/tpm/localca/issuercert.pem" -partial_chain "$LAB_DIR/sedge-ek.der" 2>/dev/null ||
  openssl x509 -inform der -in "$LAB_DIR/sedge-ek.der" -noout -issuer
"$T" --tcti "$tcti" ek | tee "$LAB_DIR/sedge-ek.txt" || lab_fail "sedge's EK does not match its certificate"
tpm2_createek -c "$LAB_DIR/ek.ctx" -G rsa -u "$LAB_DIR/ek.pub" > /dev/null || lab_fail "tpm2_createek failed"
tools_name=$(tpm2_readpublic -c "$LAB_DIR/ek.ctx" | awk '/^name:/{print $2}')
sedge_name=$(awk '/^EK name:/{print $3}' "$LAB_DIR/sedge-ek.txt")
echo "tpm2-tools EK name: $tools_name"
[ -n "$tools_name" ] && [ "$tools_name" = "$sedge_name" ] || lab_fail "EK names differ: sedge $sedge_name, tpm2-tools $tools_name"
"$T" --tcti "swtpm:host=127.0.0.1,port=2399" ek 2>&1 | grep -q "opening the TPM" || lab_fail "a missing TPM is not reported clearly"
echo "== the device ID token"
ip link add mgmt0 type veth peer name mgmt1 && ip link set mgmt0 address 02:5e:d9:00:00:01
"$T" --tcti "$tcti" idtoken router-0001 mgmt0 > "$LAB_DIR/idtoken.json" || lab_fail "no device ID token"
jq -r '.router_id, .mac, .ek_name' "$LAB_DIR/idtoken.json"
[ "$(jq -r .router_id "$LAB_DIR/idtoken.json")" = router-0001 ] || lab_fail "wrong router ID in the token"
[ "$(jq -r .mac "$LAB_DIR/idtoken.json")" = 02:5e:d9:00:00:01 ] || lab_fail "wrong MAC in the token"
[ "$(jq -r .ek_name "$LAB_DIR/idtoken.json")" = "$tools_name" ] || lab_fail "the token's EK name is not tpm2-tools'"
jq -r .ek_certificate "$LAB_DIR/idtoken.json" | base64 -d > "$LAB_DIR/token-ek.der"
cmp "$LAB_DIR/token-ek.der" "$LAB_DIR/tools-ek.der" || lab_fail "the token's EK certificate is not the TPM's"
jq -r .ek_public_key "$LAB_DIR/idtoken.json" | base64 -d | openssl pkey -pubin -inform der -outform pem > "$LAB_DIR/token-ek.pem"
openssl x509 -inform der -in "$LAB_DIR/tools-ek.der" -pubkey -noout | cmp - "$LAB_DIR/token-ek.pem" || lab_fail "the token's EK public key is not the certificate's"
"$T" --tcti "$tcti" idtoken router-0001 nosuch0 2>&1 | grep -q "no interface nosuch0" || lab_fail "a missing interface is not reported clearly"
lab_swtpm_stop "$LAB_DIR/tpm"
echo PASS
