#!/bin/sh
# Onboarding by the IDevID (issue #7's second identity), against swtpm behind tpm2-abrmd. The
# manufacturing step is done by tools that owe nothing to sedge: tpm2-tools creates an ECC P-256
# signing key under the endorsement hierarchy and persists it at 0x81020000, OpenSSL's tpm2
# provider signs its certificate request in the TPM, and `openssl x509 -req` issues the IDevID
# certificate with a test manufacturer CA the conductor trusts. Then: the device ID token
# carries that certificate, the conductor registers it, and the router proves on port 930 with
# TPM2_Certify of its AK by the IDevID key (no credential activation) and a quote, gets its
# certificate and holds 933. Refused, each with its reason and nothing stored: an IDevID
# certificate from an unknown CA, a certificate whose key is not in this TPM (a software key;
# another swtpm's key), a token for the EK identity used with the IDevID.
. "$SEDGE_SOURCE_DIR/tests/lab/lib/lab.sh"
. "$SEDGE_SOURCE_DIR/tests/lab/onboarding/conductor_lib.sh"
MFG=$LAB_DIR/mfg
HANDLE=0x81020000
router=""

# Whatever this scenario started goes when it ends, passed or failed (then the logs as lab.sh does).
idevid_cleanup() {
  [ -n "$router" ] && kill "$router" 2> /dev/null
  router_sedged_stop
  conductor_stop
  for d in tpm tpm2; do lab_tpm_resource_manager_stop "$LAB_DIR/$d"; lab_swtpm_stop "$LAB_DIR/$d"; done
  lab_collect
}
trap idevid_cleanup EXIT

# make_idevid DIR CN: the manufacturer's step in the TPM of $TPM2TOOLS_TCTI, leaving DIR/idevid.pem.
make_idevid() {
  mkdir -p "$1"
  tpm2_createprimary -Q -C e -g sha256 -G ecc -c "$1/primary.ctx"
  tpm2_create -Q -C "$1/primary.ctx" -G ecc256:ecdsa-sha256 -a 'fixedtpm|fixedparent|sensitivedataorigin|userwithauth|sign' \
    -u "$1/idevid.pub" -r "$1/idevid.priv"
  tpm2_load -Q -C "$1/primary.ctx" -u "$1/idevid.pub" -r "$1/idevid.priv" -c "$1/idevid.ctx"
  tpm2_evictcontrol -Q -C o -c "$1/idevid.ctx" $HANDLE
  TPM2OPENSSL_TCTI=$TPM2TOOLS_TCTI openssl req -provider tpm2 -provider default -new -key handle:$HANDLE \
    -subj "/O=sedge lab/CN=$2/serialNumber=$2" -out "$1/idevid.csr" || lab_fail "the tpm2 provider cannot sign with $HANDLE"
  openssl req -in "$1/idevid.csr" -verify -noout 2> /dev/null || lab_fail "the CSR signed in the TPM does not verify"
  openssl x509 -req -in "$1/idevid.csr" -CA "$MFG/ca.pem" -CAkey "$MFG/ca.key" -CAcreateserial -days 30 \
    -extfile "$MFG/idevid.ext" -out "$1/idevid.pem" 2> /dev/null || lab_fail "the manufacturer CA did not sign $2"
}

# idevid_config DIR PORT ROUTER_ID CERT [TCTI]: the router's configuration with Identity=idevid.
idevid_config() {
  ROUTER_STATE="$1/state" conductor_router_config "$1" "$2" "$3" mgmt0 "${5:-$TCTI}"
  printf 'Identity=idevid\nIDevIDCertificate=%s\nIDevIDKeyHandle=%s\n' "$4" "$HANDLE" >> "$1/sedge.conf"
}

echo "== the test manufacturer CA (the conductor trusts it like the EK CAs)"
mkdir -p "$MFG" "$LAB_DIR/mca"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 -subj "/O=sedge lab/CN=lab IDevID CA" \
  -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign -keyout "$MFG/ca.key" -out "$MFG/ca.pem" 2> /dev/null
printf 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n' > "$MFG/idevid.ext"
cp "$MFG/ca.pem" "$LAB_DIR/mca/idevid-ca.pem"
ip link add mgmt0 type veth peer name mgmt1 && ip link set mgmt0 address 02:5e:d9:00:01:01

echo "== another TPM, manufactured the same way (for the wrong-TPM case)"
other=$(lab_swtpm "$LAB_DIR/tpm2" 2351)
lab_tpm_resource_manager "$LAB_DIR/tpm2" "$other"
export TPM2TOOLS_TCTI=$LAB_TPM_RM_TCTI
make_idevid "$LAB_DIR/other" router-other
idevid_config "$LAB_DIR/cfg-other" 930 router-other "$LAB_DIR/other/idevid.pem" "$LAB_TPM_RM_TCTI"
"$CTL" onboard --config-dir "$LAB_DIR/cfg-other" export-idtoken > "$LAB_DIR/idtoken-other.json" || lab_fail "no IDevID token from the other TPM"
lab_tpm_resource_manager_stop "$LAB_DIR/tpm2"
lab_swtpm_stop "$LAB_DIR/tpm2"

echo "== this router's TPM: the IDevID key and certificate"
conductor_tpm "$LAB_DIR/tpm" 2341
make_idevid "$LAB_DIR/idevid" router-idv
openssl verify -CAfile "$MFG/ca.pem" "$LAB_DIR/idevid/idevid.pem" || lab_fail "the IDevID certificate does not verify"
tpm2_readpublic -c $HANDLE -f pem -o "$LAB_DIR/idevid/tpm.pem" -n "$LAB_DIR/idevid/name" > /dev/null
openssl x509 -in "$LAB_DIR/idevid/idevid.pem" -pubkey -noout | cmp - "$LAB_DIR/idevid/tpm.pem" || lab_fail "the certificate is not for the TPM's key"
idevid_config "$LAB_DIR/cfg" 930 router-idv "$LAB_DIR/idevid/idevid.pem"

echo "== the device ID token carries the IDevID certificate, its key and TPM name"
conductor_init
"$CTL" onboard --config-dir "$LAB_DIR/cfg" export-idtoken > "$LAB_DIR/idtoken.json" || lab_fail "no IDevID device ID token"
[ "$(jq -r .identity "$LAB_DIR/idtoken.json")" = idevid ] || lab_fail "the token does not name the idevid identity"
jq -e 'has("ek_certificate") | not' "$LAB_DIR/idtoken.json" > /dev/null || lab_fail "the IDevID token carries an EK"
jq -r .idevid_certificate "$LAB_DIR/idtoken.json" | base64 -d > "$LAB_DIR/idtoken.der"
openssl x509 -in "$LAB_DIR/idevid/idevid.pem" -outform der | cmp - "$LAB_DIR/idtoken.der" || lab_fail "the token's certificate is not the IDevID certificate"
[ "$(jq -r .idevid_name "$LAB_DIR/idtoken.json")" = "$(od -An -tx1 "$LAB_DIR/idevid/name" | tr -d ' \n')" ] ||
  lab_fail "the token's IDevID name is not the one tpm2_readpublic reports"
jq -c '{router_id, mac, identity, idevid_name}' "$LAB_DIR/idtoken.json"

echo "== registration and the onboarding token (identity_kind idevid, the IDevID key's hash)"
$COND $C register router-idv "$LAB_DIR/idtoken.json" || lab_fail "the conductor refused the IDevID token"
$COND $C show router-idv | tee "$LAB_DIR/show.txt"
grep -q "Identity: idevid" "$LAB_DIR/show.txt" || lab_fail "the conductor does not show the idevid identity"
conductor_token router-idv "$LAB_DIR/cfg/token"
claims=$(cut -d. -f1 "$LAB_DIR/cfg/token" | tr '_-' '/+' | python3 -c "import base64,sys;s=sys.stdin.read().strip();print(base64.b64decode(s+'='*(-len(s)%4)).decode())")
echo "$claims" | jq -c '{v, router_id, identity_kind, identity_sha256}'
spki_hash=$(openssl x509 -in "$LAB_DIR/idevid/idevid.pem" -pubkey -noout | openssl pkey -pubin -outform der | sha256sum | cut -d' ' -f1)
[ "$(echo "$claims" | jq -r .identity_kind)" = idevid ] || lab_fail "the token's identity_kind is not idevid"
[ "$(echo "$claims" | jq -r .identity_sha256)" = "$spki_hash" ] || lab_fail "the token does not bind the IDevID key's hash"

echo "== the router onboards by the IDevID"
conductor_serve "$LAB_DIR/conductor.log"
router_sedged "$LAB_DIR/cfg" "$LAB_DIR/sedged.log"
timeout 60 "$CTL" --user-bus onboard run > "$LAB_DIR/router.log" 2>&1 || true
router_sedged_stop
grep -q "management channel up" "$LAB_DIR/router.log" || { cat "$LAB_DIR/router.log" "$LAB_DIR/sedged.log" "$LAB_DIR/conductor.log"; lab_fail "the router did not onboard by its IDevID"; }
cat "$LAB_DIR/router.log"
$COND $C show router-idv | tee "$LAB_DIR/show.txt"
grep -q "Auth State: completed" "$LAB_DIR/show.txt" || lab_fail "the conductor does not show Auth State: completed"
openssl verify -CAfile "$LAB_DIR/cfg/state/ca.crt" "$LAB_DIR/cfg/state/router.crt" || lab_fail "the router certificate does not verify to the conductor CA"
tpm2_readpublic -c 0x81008003 -f pem -o "$LAB_DIR/tlskey.pem" > /dev/null || lab_fail "no TLS key at 0x81008003"
openssl x509 -in "$LAB_DIR/cfg/state/router.crt" -pubkey -noout | cmp - "$LAB_DIR/tlskey.pem" || lab_fail "the certificate is not for the TPM's key"
grep -q "Certify\|certify" "$LAB_DIR/conductor.log" && { cat "$LAB_DIR/conductor.log"; lab_fail "the conductor logged a certify problem"; }

certs_before=$(sqlite3 "$LAB_DIR/conductor/registry.db" 'select count(*) from certificates')
# refused NAME ROUTER_ID EXPECTED CFGDIR: the router (sedged with CFGDIR's configuration) is
# refused with EXPECTED, and the conductor stored no certificate for it and the router no onboarding.
refused() {
  router_sedged "$4" "$LAB_DIR/sedged-refused.log"
  timeout 60 "$CTL" --user-bus onboard run > "$LAB_DIR/attack.txt" 2>&1 && lab_fail "$1: accepted"
  router_sedged_stop
  grep -q "$3" "$LAB_DIR/attack.txt" || { cat "$LAB_DIR/attack.txt"; lab_fail "$1: not refused with '$3'"; }
  [ ! -e "$4/state/state.json" ] || lab_fail "$1: the router recorded an onboarding"
  $COND $C show "$2" | grep -q "Certificate:" && lab_fail "$1: the conductor stored a certificate"
  printf '%-34s refused: %s\n' "$1" "$(grep -o "$3.*" "$LAB_DIR/attack.txt" | head -1)"
}

echo "== an IDevID certificate from an unknown CA"
mkdir -p "$LAB_DIR/rogue"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 -subj "/O=sedge lab/CN=lab IDevID CA" \
  -keyout "$LAB_DIR/rogue/ca.key" -out "$LAB_DIR/rogue/ca.pem" 2> /dev/null
openssl x509 -req -in "$LAB_DIR/idevid/idevid.csr" -CA "$LAB_DIR/rogue/ca.pem" -CAkey "$LAB_DIR/rogue/ca.key" -CAcreateserial \
  -days 30 -out "$LAB_DIR/rogue/idevid.pem" 2> /dev/null
idevid_config "$LAB_DIR/cfg-rogue" 930 router-rogue "$LAB_DIR/rogue/idevid.pem"
"$CTL" onboard --config-dir "$LAB_DIR/cfg-rogue" export-idtoken > "$LAB_DIR/idtoken-rogue.json" || lab_fail "no token with the rogue certificate"
$COND $C register router-rogue "$LAB_DIR/idtoken-rogue.json" 2> "$LAB_DIR/err.txt" && lab_fail "an IDevID certificate of an unknown CA was registered"
grep -q "the IDevID certificate: it does not verify to a manufacturer CA" "$LAB_DIR/err.txt" || { cat "$LAB_DIR/err.txt"; lab_fail "unknown CA not reported clearly"; }
$COND $C show router-rogue > /dev/null 2>&1 && lab_fail "the refused router was stored"
echo "unknown CA refused: $(cat "$LAB_DIR/err.txt")"

echo "== a certificate for a software key, not the TPM's"
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/O=sedge lab/CN=router-soft" \
  -keyout "$LAB_DIR/soft.key" -out "$LAB_DIR/soft.csr" 2> /dev/null
openssl x509 -req -in "$LAB_DIR/soft.csr" -CA "$MFG/ca.pem" -CAkey "$MFG/ca.key" -CAcreateserial -days 30 \
  -extfile "$MFG/idevid.ext" -out "$LAB_DIR/soft.pem" 2> /dev/null
idevid_config "$LAB_DIR/cfg-soft" 930 router-soft "$LAB_DIR/soft.pem"
"$CTL" onboard --config-dir "$LAB_DIR/cfg-soft" export-idtoken > /dev/null 2> "$LAB_DIR/err.txt" && lab_fail "a software key's certificate made a token"
grep -q "is not for the key in the TPM at $HANDLE" "$LAB_DIR/err.txt" || { cat "$LAB_DIR/err.txt"; lab_fail "the router did not refuse a software key's certificate"; }
echo "router refuses: $(cat "$LAB_DIR/err.txt")"
# The same, forged past the router: the token's certificate and key swapped for the software ones.
soft_der=$(openssl x509 -in "$LAB_DIR/soft.pem" -outform der | base64 -w0)
soft_spki=$(openssl x509 -in "$LAB_DIR/soft.pem" -pubkey -noout | openssl pkey -pubin -outform der | base64 -w0)
jq --arg c "$soft_der" --arg k "$soft_spki" '.router_id = "router-soft" | .idevid_certificate = $c | .idevid_public_key = $k' \
  "$LAB_DIR/idtoken.json" > "$LAB_DIR/idtoken-soft.json"
$COND $C register router-soft "$LAB_DIR/idtoken-soft.json" 2> "$LAB_DIR/err.txt" && lab_fail "a software key's certificate was registered"
grep -q "the IDevID key's TPM public area is not its certificate's key" "$LAB_DIR/err.txt" || { cat "$LAB_DIR/err.txt"; lab_fail "the conductor did not refuse a software key"; }
$COND $C show router-soft > /dev/null 2>&1 && lab_fail "the refused router was stored"
echo "conductor refuses: $(cat "$LAB_DIR/err.txt")"

echo "== another swtpm's IDevID certificate presented by this TPM"
$COND $C register router-other "$LAB_DIR/idtoken-other.json" || lab_fail "the other TPM's IDevID was not registered"
idevid_config "$LAB_DIR/cfg-wrong" 930 router-other "$LAB_DIR/other/idevid.pem"
conductor_token router-other "$LAB_DIR/cfg-wrong/token"
refused "IDevID key in another TPM" router-other "certify refused: the certify signature does not verify with the IDevID key" "$LAB_DIR/cfg-wrong"

echo "== a token for the EK identity used with the IDevID"
ROUTER_STATE="$LAB_DIR/cfg-ek/state" conductor_router_config "$LAB_DIR/cfg-ek" 930 router-ek mgmt0
conductor_register router-ek "$LAB_DIR/cfg-ek" "$LAB_DIR/idtoken-ek.json"
[ "$(jq -r .identity "$LAB_DIR/idtoken-ek.json")" = ek ] || lab_fail "the EK token does not name the ek identity"
idevid_config "$LAB_DIR/cfg-mixed" 930 router-ek "$LAB_DIR/idevid/idevid.pem"
conductor_token router-ek "$LAB_DIR/cfg-mixed/token"
refused "EK token with the IDevID" router-ek "the router proves its identity by idevid but the token is for its ek identity" "$LAB_DIR/cfg-mixed"

echo "== the manufacturer CA withdrawn after registration"
"$CTL" onboard --config-dir "$LAB_DIR/cfg" reset
conductor_token router-idv "$LAB_DIR/cfg/token"
mv "$LAB_DIR/mca/idevid-ca.pem" "$LAB_DIR/idevid-ca.withdrawn"
router_sedged "$LAB_DIR/cfg" "$LAB_DIR/sedged-withdrawn.log"
timeout 60 "$CTL" --user-bus onboard run > "$LAB_DIR/attack.txt" 2>&1 && lab_fail "withdrawn CA: accepted"
router_sedged_stop
grep -q "the IDevID certificate: it does not verify to a manufacturer CA" "$LAB_DIR/attack.txt" || { cat "$LAB_DIR/attack.txt"; lab_fail "withdrawn CA: not refused clearly"; }
[ ! -e "$LAB_DIR/cfg/state/state.json" ] || lab_fail "withdrawn CA: the router recorded an onboarding"
$COND $C show router-idv | grep -q "Auth State: failed (the IDevID certificate: it does not verify" || lab_fail "withdrawn CA: not failed at the conductor"
echo "withdrawn CA                       refused: $(grep -o "the IDevID certificate: it does not verify.*" "$LAB_DIR/attack.txt" | head -1)"
mv "$LAB_DIR/idevid-ca.withdrawn" "$LAB_DIR/mca/idevid-ca.pem"

certs_after=$(sqlite3 "$LAB_DIR/conductor/registry.db" 'select count(*) from certificates')
[ "$certs_before" = "$certs_after" ] || lab_fail "a refused onboarding stored a certificate ($certs_before -> $certs_after)"
echo PASS
