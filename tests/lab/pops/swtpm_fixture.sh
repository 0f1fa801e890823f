#!/bin/sh
# The swtpm fixture: a software TPM 2.0 with an EK certificate, reached over TCP; tpm2-tools
# (independent of sedge) reads the RSA EK certificate from NV and OpenSSL parses it. It needs no
# special kernel, so it runs on the host (KIND host), in its own network namespace.
. "$SEDGE_SOURCE_DIR/tests/lab/lib/lab.sh"
tcti=$(lab_swtpm "$LAB_DIR/tpm" 2321)
echo "TCTI: $tcti"
export TPM2TOOLS_TCTI=$tcti
tpm2_startup -c 2>/dev/null || true
tpm2_nvread 0x01c00002 -o "$LAB_DIR/tpm/ek.der" || lab_fail "no RSA EK certificate at NV 0x01c00002"
openssl x509 -inform der -in "$LAB_DIR/tpm/ek.der" -noout -subject -issuer -ext subjectAltName ||
  lab_fail "the EK certificate does not parse"
openssl x509 -inform der -in "$LAB_DIR/tpm/ek.der" -noout -text | grep -q "rsaEncryption" || lab_fail "not an RSA EK"
tpm2_getcap properties-fixed | grep -A1 TPM2_PT_MANUFACTURER | tail -1
lab_swtpm_stop "$LAB_DIR/tpm"
echo PASS
