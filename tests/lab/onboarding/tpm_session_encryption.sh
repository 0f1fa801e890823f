#!/bin/sh
# What the TPM's bus shows of onboarding's secrets. tpm_recorder.py sits between the TPM client
# and swtpm, as an interposer on the bus (or a resource manager, or a TCTI log) would, and
# records every command and response:
#   - sedge's ActivateCredential recovers the conductor's secret, and the secret is in none of
#     the recorded messages: its session salted to the EK encrypts the response (AES-128-CFB);
#     the AK's and the TLS key's TPM2_Create carry their sensitive part encrypted by a session
#     salted to the parent (the EK, the storage root key);
#   - the control: tpm2_activatecredential, which uses no encryption session, activates a
#     credential for the same secret through the same recorder, and the secret is in its record,
#     so the recorder does see a secret that crosses the bus in clear.
. "$SEDGE_SOURCE_DIR/tests/lab/lib/lab.sh"
D="$LAB_DIR"
tcti=$(lab_swtpm "$D/tpm" 2351)
REC="$SEDGE_SOURCE_DIR/tests/lab/onboarding/tpm_recorder.py"
trap 'kill $(cat "$D"/recorder-*.pid 2>/dev/null) 2>/dev/null; lab_swtpm_stop "$D/tpm"; lab_collect' EXIT
T="$SEDGE_BUILD_DIR/onboarding/sedge-tpm"
export TSS2_LOG="all+none"

# recorder NAME PORT: a recorder on PORT (and PORT+1) in front of swtpm, recording to
# $D/NAME.rec; returns once it listens.
recorder() {
  python3 "$REC" serve "$2" 2351 "$D/$1.rec" "$D/$1.ready" > "$D/recorder-$1.log" 2>&1 &
  echo $! > "$D/recorder-$1.pid"
  for _ in $(seq 100); do [ -s "$D/$1.ready" ] && return 0; sleep 0.1; done
  lab_fail "the TPM recorder $1 did not start: $(cat "$D/recorder-$1.log")"
}

recorder sedge 2361
recorded="swtpm:host=127.0.0.1,port=2361"
echo "== sedge through the recorder: the AK (under the EK), the TLS key (under the SRK), ActivateCredential"
"$T" --tcti "$recorded" ak | tee "$D/ak.txt" || lab_fail "creating the AK through the recorder"
ak_name=$(awk '/^AK name:/{print $3}' "$D/ak.txt")
"$T" --tcti "$recorded" tlskey "$D/tls.der" || lab_fail "creating the TLS key through the recorder"
head -c 32 /dev/urandom > "$D/secret"
tpm2_nvread -T "$tcti" 0x01c00002 -o "$D/ek.der" 2> /dev/null || lab_fail "reading the EK certificate"
"$T" makecred --ek-cert "$D/ek.der" "$ak_name" "$D/secret" "$D/cred" || lab_fail "makecred"
"$T" --tcti "$recorded" activate "$D/cred" "$D/out" || lab_fail "sedge's ActivateCredential through the recorder"
cmp "$D/secret" "$D/out" || lab_fail "sedge recovered another secret"
# Three salted sessions at least: the AK's Create (EK), the TLS key's (SRK) and the activation (EK).
python3 "$REC" check "$D/sedge.rec" "$D/secret" unseen --salted-sessions 3 ||
  lab_fail "the secret crossed the TPM's bus in clear, or a session was not salted and encrypting"

echo "== the control: tpm2_activatecredential (no encryption session) through a recorder"
recorder tools 2371
tools="swtpm:host=127.0.0.1,port=2371"
tpm2_startauthsession -T "$tools" --policy-session -S "$D/session.ctx" &&
  tpm2_policysecret -T "$tools" -S "$D/session.ctx" -c e > /dev/null &&
  tpm2_activatecredential -T "$tools" -c 0x81008002 -C 0x81010001 -i "$D/cred" -o "$D/out-tools" \
    -P "session:$D/session.ctx" > /dev/null || lab_fail "tpm2_activatecredential refused the credential"
tpm2_flushcontext -T "$tools" "$D/session.ctx" > /dev/null 2>&1 || true
cmp "$D/secret" "$D/out-tools" || lab_fail "tpm2_activatecredential recovered another secret"
python3 "$REC" check "$D/tools.rec" "$D/secret" seen ||
  lab_fail "the recorder did not see the secret of an unencrypted activation: it proves nothing"
echo "PASS: the credential's secret never crossed the recorded bus in clear with sedge's sessions"
