#!/bin/sh
# Records the known answers of tests/unit/ike/strongswan_kat_test.cc: in the UML lab, strongSwan
# at the site initiates to strongSwan at pop1 (the seed's peers, PSK) once per suite, both charons
# logging ike and chd at level 4, where keymat_v2.c prints g^ir, SKEYSEED, every SK_* and the
# first CHILD_SA's KEYMAT. The initiator's log and its SPIs (swanctl --list-sas) give one vector
# file per suite, strongswan-<IKE proposal>.kat, in the scenario's log directory:
#   ctest --preset dev -R lab.ike_record_kat --output-on-failure
#   cp build/dev/lab-logs/ike_record_kat/strongswan-*.kat tests/unit/ike/vectors/
# What the chunks are (strongSwan 5.9, keymat_v2.c): "Sk_ei/Sk_er secret" is the encryption key
# with AES-GCM's 4-byte salt appended (SK_a* are logged only for non-AEAD suites); "seed" of the
# CHILD_SA is [g^ir (PFS) |] Ni | Nr, and the first CHILD_SA has no PFS, so it is Ni | Nr, each
# of strongSwan's 32-byte nonces; "encryption initiator key" is the initiator-to-responder ESP key
# (salt appended for GCM), "integrity ..." the HMAC keys.
set -eu
. "$SEDGE_SOURCE_DIR/tests/lab/lib/lab.sh"
# IKE proposal / ESP proposal, one line per suite.
suites="aes128gcm16-prfsha256-modp2048 aes128gcm16-modp2048
aes256-sha384-ecp384 aes256-sha384-ecp384"
SEED_IKE=$(echo "$suites" | cut -d' ' -f1 | paste -sd,)
SEED_ESP=$(echo "$suites" | cut -d' ' -f2 | paste -sd,)
LAB_CHARON_LOG="ike = 4
      chd = 4
      cfg = 2"
. "$SEDGE_SOURCE_DIR/tests/lab/pops/seed_peers.sh"
lab_topology
pop1_strongswan  # responds with any of the suites
version=$(dpkg-query -W -f '${Version}' strongswan-charon)

# extract LOG: the labelled chunks of keymat_v2.c's first derivation, as "name = hex" lines.
extract() {
  awk '
    BEGIN {
      n["shared Diffie Hellman secret"] = "g_ir"; n["SKEYSEED"] = "skeyseed"; n["Sk_d secret"] = "sk_d"
      n["Sk_ai secret"] = "sk_ai"; n["Sk_ar secret"] = "sk_ar"; n["Sk_ei secret"] = "sk_ei"; n["Sk_er secret"] = "sk_er"
      n["Sk_pi secret"] = "sk_pi"; n["Sk_pr secret"] = "sk_pr"; n["seed"] = "child_seed"
      n["encryption initiator key"] = "esp_encr_i"; n["encryption responder key"] = "esp_encr_r"
      n["integrity initiator key"] = "esp_integ_i"; n["integrity responder key"] = "esp_integ_r"
    }
    { line = $0; sub(/^[^]]*\] /, "", line) }
    match(line, / => [0-9]+ bytes @ /) {
      label = substr(line, 1, RSTART - 1); cur = (label in n && !(n[label] in v)) ? n[label] : ""
      if (cur != "") { order[++count] = cur; v[cur] = "" }
      next
    }
    cur != "" && line ~ /^ *[0-9]+: / {
      sub(/^ *[0-9]+: /, "", line); sub(/  .*$/, "", line); gsub(/ /, "", line); v[cur] = v[cur] tolower(line); next
    }
    { cur = "" }
    END { for (i = 1; i <= count; i++) print order[i] " = " v[order[i]] }
  ' "$1"
}

i=0
echo "$suites" | while read -r ike esp; do
  i=$((i + 1))
  SEED_IKE=$ike SEED_ESP=$esp
  swanctl_conf "site$i" site1@example.com "$POP1_ID" 10.99.99.0/24 10.201.0.0/24 "remote_addrs = 192.0.2.2"
  lab_strongswan "site$i" site
  charon=$!
  lab_swanctl "site$i" --initiate --child c --timeout 30 > "$LAB_DIR/site$i/initiate.log" 2>&1 ||
    { cat "$LAB_DIR/site$i/initiate.log"; lab_fail "$ike: strongSwan did not establish with strongSwan"; }
  lab_swanctl "site$i" --list-sas > "$LAB_DIR/site$i/sas.txt"
  cat "$LAB_DIR/site$i/sas.txt"
  spis=$(sed -n 's/.*ESTABLISHED, IKEv2, \([0-9a-f]\{16\}\)_i\* \([0-9a-f]\{16\}\)_r.*/\1 \2/p' "$LAB_DIR/site$i/sas.txt" | head -1)
  [ -n "$spis" ] || lab_fail "$ike: no SPIs in swanctl --list-sas"
  kill "$charon"
  for _ in $(seq 50); do kill -0 "$charon" 2> /dev/null || break; sleep 0.1; done
  keys=$LAB_DIR/site$i/keys.txt
  extract "$LAB_DIR/site$i/charon.log" > "$keys"
  seed=$(sed -n 's/^child_seed = //p' "$keys")
  [ "${#seed}" -eq 128 ] || lab_fail "$ike: the CHILD_SA seed is ${#seed} hex digits, not Ni | Nr of 32 bytes each"
  out=$LAB_LOG_DIR/strongswan-$ike.kat
  {
    echo "# strongSwan $version (charon initiator to charon responder, PSK), recorded by record_strongswan.sh"
    echo "ike = $ike"
    echo "esp = $esp"
    echo "spi_i = ${spis% *}"
    echo "spi_r = ${spis#* }"
    echo "ni = $(echo "$seed" | cut -c1-64)"
    echo "nr = $(echo "$seed" | cut -c65-128)"
    grep -v '^child_seed' "$keys"
  } > "$out"
  for k in g_ir skeyseed sk_d sk_ei sk_er sk_pi sk_pr esp_encr_i esp_encr_r; do
    grep -q "^$k = [0-9a-f]\{32,\}" "$out" || lab_fail "$ike: $k was not logged (see $LAB_DIR/site$i/charon.log)"
  done
  cat "$out"
done
echo PASS
