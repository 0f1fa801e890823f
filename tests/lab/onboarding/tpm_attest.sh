#!/bin/sh
# The attestation primitives of onboarding against swtpm, with tpm2-tools and OpenSSL's tpm2
# provider as the references that owe nothing to sedge:
#   - every EK profile (RSA L-1, ECC P-256 L-2, ECC P-384 H-3) is the EK the references name and
#     matches its NV certificate; a certificate for another key is refused;
#   - sedge's MakeCredential is accepted by sedge's ActivateCredential and by
#     tpm2_activatecredential, tpm2_makecredential's by sedge's, for RSA (OAEP) and ECC (ECDH)
#     EKs; a credential for another AK name is refused by the TPM;
#   - a quote verifies (and tpm2_checkquote agrees, and tpm2_quote's verifies with sedge), with
#     the PCR digest of tpm2_pcrread's values; a wrong nonce, a tampered attestation and another
#     AK's key are each refused;
#   - an AK without fixedTPM (tpm2_create) is refused by check_ak_attributes;
#   - the TLS key signs a certificate request through the tpm2 provider as handle:0x81008003.
. "$SEDGE_SOURCE_DIR/tests/lab/lib/lab.sh"
tcti=$(lab_swtpm "$LAB_DIR/tpm" 2341)
trap 'lab_swtpm_stop "$LAB_DIR/tpm"; lab_collect' EXIT  # also when a check fails
export TPM2TOOLS_TCTI="$tcti" TPM2OPENSSL_TCTI="$tcti" TSS2_LOG="all+none"
T="$SEDGE_BUILD_DIR/onboarding/sedge-tpm"
D="$LAB_DIR"
flush() { tpm2_flushcontext -t > /dev/null 2>&1 || true; tpm2_flushcontext -l > /dev/null 2>&1 || true; }
expect_fail() { # expect_fail WHAT PATTERN COMMAND...: the command fails and says PATTERN
  what=$1 pattern=$2; shift 2
  if out=$("$@" 2>&1); then lab_fail "$what was accepted"; fi
  echo "$out" | grep -q "$pattern" || lab_fail "$what: wrong error: $out"
  echo "refused as expected ($what): $(echo "$out" | tail -1)"
}

echo "== EK profiles"
# swtpm_setup persisted the RSA EK at 0x81010001: sedge reuses it as the EK it would create.
"$T" --tcti "$tcti" ek --persist 0x81010001 --public "$D/ek.pub" | tee "$D/ek.txt" || lab_fail "RSA EK"
grep -q "EK reused at 0x81010001" "$D/ek.txt" || lab_fail "the RSA EK at 0x81010001 was not reused"
tpm2_readpublic -c 0x81010001 -o "$D/tools-ek.pub" > /dev/null
cmp "$D/ek.pub" "$D/tools-ek.pub" || lab_fail "sedge's RSA EK public area differs from the persisted EK's"
# P-384 (H-3): swtpm_setup made that EK at 0x81010016 and its certificate at 0x01c00016.
"$T" --tcti "$tcti" ek ecc-p384 --public "$D/ek384.pub" | tee "$D/ek384.txt" || lab_fail "the P-384 EK does not match its certificate"
tools=$(tpm2_readpublic -c 0x81010016 | awk '/^name:/{print $2}')
[ "$(awk '/^EK name:/{print $3}' "$D/ek384.txt")" = "$tools" ] || lab_fail "P-384 EK name differs from swtpm's ($tools)"
# P-256 (L-2): swtpm provisions no certificate for it; issue one with swtpm's CA for the EK
# tpm2_createek makes, and store it at 0x01c0000a as a manufacturer would.
tpm2_createek -G ecc -c "$D/ek256.ctx" -u "$D/ek256-tools.pub" > /dev/null || lab_fail "tpm2_createek -G ecc"
tools256=$(tpm2_readpublic -c "$D/ek256.ctx" | awk '/^name:/{print $2}')
flush
x=$(tpm2_print -t TPM2B_PUBLIC "$D/ek256-tools.pub" | awk '/^x:/{print $2}')
y=$(tpm2_print -t TPM2B_PUBLIC "$D/ek256-tools.pub" | awk '/^y:/{print $2}')
mkdir -p "$D/cert256"
swtpm_localca --type ek --ek "x=$x,y=$y,id=secp256r1" --dir "$D/cert256" --tpm-spec-family 2.0 --tpm-spec-level 0 \
  --tpm-spec-revision 164 --tpm-manufacturer id:00001014 --tpm-model swtpm --tpm-version id:20191023 --tpm2 \
  --configfile "$D/tpm/swtpm-localca.conf" --optsfile "$D/tpm/swtpm-localca.options" > /dev/null || lab_fail "swtpm_localca (P-256 EK)"
nv256() {
  tpm2_nvundefine 0x01c0000a -C o > /dev/null 2>&1 || true
  tpm2_nvdefine 0x01c0000a -C o -s "$(stat -c %s "$1")" -a "ownerread|ownerwrite|authread|authwrite|no_da" > /dev/null &&
    tpm2_nvwrite 0x01c0000a -C o -i "$1" || lab_fail "writing NV 0x01c0000a"
}
nv256 "$D/cert256/ek.cert"
"$T" --tcti "$tcti" ek ecc-p256 --persist 0x81010010 | tee "$D/ek256.txt" || lab_fail "the P-256 EK does not match its certificate"
grep -q "EK persisted at 0x81010010" "$D/ek256.txt" || lab_fail "the P-256 EK was not persisted"
[ "$(tpm2_readpublic -c 0x81010010 | awk '/^name:/{print $2}')" = "$tools256" ] || lab_fail "the persisted P-256 EK is not tpm2_createek's"
[ "$(awk '/^EK name:/{print $3}' "$D/ek256.txt")" = "$tools256" ] || lab_fail "P-256 EK name differs from tpm2_createek's ($tools256)"
tpm2_nvread 0x01c00016 -o "$D/ek384.der" 2> /dev/null
nv256 "$D/ek384.der"
expect_fail "a P-256 EK with another key's certificate" "does not match the EK certificate" "$T" --tcti "$tcti" ek ecc-p256
nv256 "$D/cert256/ek.cert"

echo "== AK (RSA, under the RSA EK)"
"$T" --tcti "$tcti" ak --public "$D/ak.pub" | tee "$D/ak.txt" || lab_fail "creating the AK"
grep -q "AK created at 0x81008002" "$D/ak.txt" || lab_fail "the AK was not created"
ak_name=$(awk '/^AK name:/{print $3}' "$D/ak.txt")
[ "$(tpm2_readpublic -c 0x81008002 | awk '/^name:/{print $2}')" = "$ak_name" ] || lab_fail "AK name differs from tpm2_readpublic's"
"$T" --tcti "$tcti" ak | grep -q "AK reused at 0x81008002" || lab_fail "the persisted AK was not reused"
"$T" checkak "$D/ak.pub" || lab_fail "sedge's own AK refused"

echo "== credential activation, RSA EK"
head -c 32 /dev/urandom > "$D/secret"
tpm2_nvread 0x01c00002 -o "$D/ek.der" 2> /dev/null
"$T" makecred --ek-cert "$D/ek.der" "$ak_name" "$D/secret" "$D/cred-sedge" || lab_fail "makecred"
"$T" --tcti "$tcti" activate "$D/cred-sedge" "$D/out1" || lab_fail "sedge refused its own credential"
cmp "$D/secret" "$D/out1" || lab_fail "sedge->sedge: wrong secret"
tpm2_startauthsession --policy-session -S "$D/session.ctx" && tpm2_policysecret -S "$D/session.ctx" -c e > /dev/null &&
  tpm2_activatecredential -c 0x81008002 -C 0x81010001 -i "$D/cred-sedge" -o "$D/out2" -P "session:$D/session.ctx" > /dev/null ||
  lab_fail "tpm2_activatecredential refused sedge's credential"
flush
cmp "$D/secret" "$D/out2" || lab_fail "sedge->tpm2-tools: wrong secret"
tpm2_makecredential -T none -u "$D/ek.pub" -s "$D/secret" -n "$ak_name" -o "$D/cred-tools" > /dev/null 2>&1 || lab_fail "tpm2_makecredential"
"$T" --tcti "$tcti" activate "$D/cred-tools" "$D/out3" || lab_fail "sedge refused tpm2_makecredential's credential"
cmp "$D/secret" "$D/out3" || lab_fail "tpm2-tools->sedge: wrong secret"
other=$(echo "$ak_name" | sed 's/.$/0/'); [ "$other" != "$ak_name" ] || other=$(echo "$ak_name" | sed 's/.$/1/')
"$T" makecred --ek-public "$D/ek.pub" "$other" "$D/secret" "$D/cred-other" > /dev/null || lab_fail "makecred (other name)"
expect_fail "a credential for another AK name" "ActivateCredential" "$T" --tcti "$tcti" activate "$D/cred-other" "$D/out4"
echo "sedge and tpm2-tools agree both ways (RSA-OAEP)"

echo "== credential activation, ECC EKs (ECDH)"
"$T" --tcti "$tcti" ak --type ecc --ek-profile ecc-p384 --ek-handle 0x81010016 --handle 0x81010004 --public "$D/ak384.pub" |
  tee "$D/ak384.txt" || lab_fail "AK under the P-384 EK"
ak384=$(awk '/^AK name:/{print $3}' "$D/ak384.txt")
head -c 48 /dev/urandom > "$D/secret48"
"$T" makecred --ek-cert "$D/ek384.der" --ek-profile ecc-p384 "$ak384" "$D/secret48" "$D/cred384" > /dev/null || lab_fail "makecred P-384"
"$T" --tcti "$tcti" activate --ek-handle 0x81010016 --ak-handle 0x81010004 "$D/cred384" "$D/out5" || lab_fail "P-384 activation"
cmp "$D/secret48" "$D/out5" || lab_fail "P-384 sedge->sedge: wrong secret"
tpm2_activatecredential -c 0x81010004 -C 0x81010016 -i "$D/cred384" -o "$D/out6" > /dev/null || lab_fail "tpm2_activatecredential refused sedge's P-384 credential"
cmp "$D/secret48" "$D/out6" || lab_fail "P-384 sedge->tpm2-tools: wrong secret"
tpm2_makecredential -T none -u "$D/ek384.pub" -s "$D/secret48" -n "$ak384" -o "$D/cred384-tools" > /dev/null 2>&1 || lab_fail "tpm2_makecredential P-384"
"$T" --tcti "$tcti" activate --ek-handle 0x81010016 --ak-handle 0x81010004 "$D/cred384-tools" "$D/out7" || lab_fail "sedge refused tpm2-tools' P-384 credential"
cmp "$D/secret48" "$D/out7" || lab_fail "P-384 tpm2-tools->sedge: wrong secret"
"$T" --tcti "$tcti" ak --type ecc --ek-profile ecc-p256 --ek-handle 0x81010010 --handle 0x81010011 | tee "$D/ak256.txt" || lab_fail "AK under the P-256 EK"
ak256=$(awk '/^AK name:/{print $3}' "$D/ak256.txt")
"$T" makecred --ek-cert "$D/cert256/ek.cert" --ek-profile ecc-p256 "$ak256" "$D/secret" "$D/cred256" > /dev/null || lab_fail "makecred P-256"
"$T" --tcti "$tcti" activate --ek-handle 0x81010010 --ak-handle 0x81010011 "$D/cred256" "$D/out8" || lab_fail "P-256 activation (PolicySecret)"
cmp "$D/secret" "$D/out8" || lab_fail "P-256 sedge->sedge: wrong secret"
tpm2_startauthsession --policy-session -S "$D/session.ctx" && tpm2_policysecret -S "$D/session.ctx" -c e > /dev/null &&
  tpm2_activatecredential -c 0x81010011 -C 0x81010010 -i "$D/cred256" -o "$D/out9" -P "session:$D/session.ctx" > /dev/null ||
  lab_fail "tpm2_activatecredential refused sedge's P-256 credential"
flush
cmp "$D/secret" "$D/out9" || lab_fail "P-256 sedge->tpm2-tools: wrong secret"
echo "sedge and tpm2-tools agree both ways (ECDH, P-384 and P-256)"

echo "== quotes"
nonce=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
"$T" --tcti "$tcti" quote "$nonce" sha256:0,1,7 "$D/attest" "$D/sig" || lab_fail "quote"
"$T" verifyquote "$D/ak.pub" "$nonce" "$D/attest" "$D/sig" | tee "$D/verify.txt" || lab_fail "a good quote did not verify"
tpm2_pcrread sha256:0,1,7 -o "$D/pcrs.bin" > /dev/null
[ "$(awk '/^pcr digest:/{print $3}' "$D/verify.txt")" = "$(sha256sum < "$D/pcrs.bin" | cut -d' ' -f1)" ] ||
  lab_fail "the quote's PCR digest is not that of tpm2_pcrread's values"
tpm2_checkquote -u "$D/ak.pub" -m "$D/attest" -s "$D/sig" -q "$nonce" > /dev/null || lab_fail "tpm2_checkquote refused sedge's quote"
tpm2_quote -c 0x81008002 -l sha256:0,1,7 -q "$nonce" -m "$D/attest-tools" -s "$D/sig-tools" -g sha256 > /dev/null || lab_fail "tpm2_quote"
"$T" verifyquote "$D/ak.pub" "$nonce" "$D/attest-tools" "$D/sig-tools" > /dev/null || lab_fail "sedge refused tpm2_quote's quote"
wrong=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
expect_fail "a quote with a wrong nonce" "not over the expected nonce" "$T" verifyquote "$D/ak.pub" "$wrong" "$D/attest" "$D/sig"
# Tamper with the clock: bytes 76-83, after magic, type, the 34-byte signer name and the 32-byte nonce.
cp "$D/attest" "$D/attest-bad"
printf '\377' | dd of="$D/attest-bad" bs=1 seek=80 conv=notrunc 2> /dev/null
expect_fail "a tampered attestation" "does not verify" "$T" verifyquote "$D/ak.pub" "$nonce" "$D/attest-bad" "$D/sig"
"$T" --tcti "$tcti" ak --type rsa --parent storage --handle 0x81010012 --public "$D/ak-storage.pub" > /dev/null || lab_fail "AK under the storage primary"
"$T" --tcti "$tcti" quote --ak-handle 0x81010012 "$nonce" sha256:0 "$D/attest2" "$D/sig2" > /dev/null || lab_fail "quote (second AK)"
"$T" verifyquote "$D/ak-storage.pub" "$nonce" "$D/attest2" "$D/sig2" > /dev/null || lab_fail "the second AK's quote did not verify"
expect_fail "a quote signed by another AK" "does not verify" "$T" verifyquote "$D/ak.pub" "$nonce" "$D/attest2" "$D/sig2"
"$T" --tcti "$tcti" quote --ak-handle 0x81010004 "$nonce" sha256:0,1,7 "$D/attest3" "$D/sig3" > /dev/null || lab_fail "quote (ECC AK)"
"$T" verifyquote "$D/ak384.pub" "$nonce" "$D/attest3" "$D/sig3" > /dev/null || lab_fail "the ECDSA quote did not verify"
expect_fail "an ECDSA quote checked with the RSA AK" "not the AK's" "$T" verifyquote "$D/ak.pub" "$nonce" "$D/attest3" "$D/sig3"

echo "== AK attributes"
tpm2_createprimary -C o -c "$D/primary.ctx" > /dev/null &&
  tpm2_create -C "$D/primary.ctx" -G rsa2048:rsassa-sha256:null -a "sensitivedataorigin|userwithauth|restricted|sign" \
    -u "$D/loose.pub" -r "$D/loose.priv" > /dev/null || lab_fail "tpm2_create (no fixedTPM)"
flush
expect_fail "an AK without fixedTPM" "fixedTPM is not set" "$T" checkak "$D/loose.pub"
expect_fail "the EK as an AK" "not an attestation key" "$T" checkak "$D/ek.pub"

echo "== TLS key"
"$T" --tcti "$tcti" tlskey "$D/tls.der" | tee "$D/tls.txt" || lab_fail "TLS key"
grep -q "TLS key created at 0x81008003" "$D/tls.txt" || lab_fail "the TLS key was not created"
"$T" --tcti "$tcti" tlskey "$D/tls2.der" | grep -q "TLS key reused at 0x81008003" || lab_fail "the TLS key was not reused"
cmp "$D/tls.der" "$D/tls2.der" || lab_fail "the reused TLS key's public key changed"
expect_fail "an AK over the TLS key's handle" "not replacing it" "$T" --tcti "$tcti" ak --handle 0x81008003
openssl req -provider tpm2 -provider default -new -key handle:0x81008003 -subj /CN=router-0001 -out "$D/router.csr" ||
  lab_fail "the tpm2 provider cannot sign with handle:0x81008003"
openssl req -in "$D/router.csr" -verify -noout || lab_fail "the CSR signed in the TPM does not verify"
openssl req -in "$D/router.csr" -pubkey -noout | openssl pkey -pubin -outform der | cmp - "$D/tls.der" ||
  lab_fail "the provider's key is not the SubjectPublicKeyInfo sedge exported"

echo "== no transient object left behind"
left=$(tpm2_getcap handles-transient; tpm2_getcap handles-loaded-session)
[ -z "$left" ] || lab_fail "transient objects or sessions left in the TPM: $left"
lab_swtpm_stop "$D/tpm"
echo PASS
