#!/bin/sh
# Onboarding faults through the real 930 protocol, against swtpm and the reference conductor.
# onboard-fault-client (the router's side spoken with the onboarding library, one deviation
# each) presents an AK tpm2-tools created in the same TPM without fixedTPM and fixedParent, a
# quote over a stale nonce, an earlier session's quote replayed, and a quote bound to another TLS
# session's exporter: each is refused with its reason (what the client is told and what
# `sedge-conductor show` says), no certificate is stored and the token is not spent. Then
# sessions cut after the challenge by killing the conductor (SIGKILL, restarted on the same
# state): the client's, and the real router's (its proof held by hold_proxy.py), which retries
# and onboards with that same token; the registry holds exactly one certificate.
. "$SEDGE_SOURCE_DIR/tests/lab/lib/lab.sh"
. "$SEDGE_SOURCE_DIR/tests/lab/onboarding/conductor_lib.sh"
FC="$B/tests/lab/onboarding/onboard-fault-client"
router=""
client=""
proxy=""
cleanup() {
  for p in $router $client $proxy; do kill "$p" 2>/dev/null || true; done
  router_sedged_stop
  conductor_stop
  lab_tpm_resource_manager_stop "$LAB_DIR/tpm"
  lab_swtpm_stop "$LAB_DIR/tpm"
  lab_collect
}
trap cleanup EXIT
trap 'exit 143' TERM INT

conductor_tpm "$LAB_DIR/tpm" 2361
ip link add mgmt0 type veth peer name mgmt1 && ip link set mgmt0 address 02:5e:d9:00:00:01
conductor_router_config "$LAB_DIR/cfg" 930 router-0001 mgmt0
conductor_init > /dev/null
conductor_register router-0001 "$LAB_DIR/cfg" "$LAB_DIR/idtoken.json"
conductor_token router-0001 "$LAB_DIR/cfg/token"
conductor_serve "$LAB_DIR/conductor.log"
DB="$LAB_DIR/conductor/registry.db"
certificates() { sqlite3 "$DB" 'select count(*) from certificates'; }
conductor_kill() { kill -KILL "$CONDUCTOR_PID"; wait "$CONDUCTOR_PID" 2>/dev/null || true; CONDUCTOR_PID=""; }
unspent_tokens() { sqlite3 "$DB" "select count(*) from tokens where router_id = 'router-0001' and used_at is null"; }

# fault NAME EXPECTED [CLIENT OPTIONS...]: the client refused with EXPECTED, the conductor shows
# it as the failure's reason, no certificate, the token still unspent.
fault() {
  fault_name=$1 fault_expected=$2; shift 2
  rc=0
  timeout 120 "$FC" --tcti "$TCTI" --token "$LAB_DIR/cfg/token" --port 930 --fault "$fault_name" "$@" \
    > "$LAB_DIR/fault-$fault_name.txt" 2>&1 || rc=$?
  cat "$LAB_DIR/fault-$fault_name.txt"
  [ "$rc" = 1 ] || lab_fail "$fault_name: the client ended with $rc, not refused (1)"
  grep -q "^refused: .*$fault_expected" "$LAB_DIR/fault-$fault_name.txt" || lab_fail "$fault_name: not refused with '$fault_expected'"
  $COND $C show router-0001 > "$LAB_DIR/show-$fault_name.txt"
  grep -q "Auth State: failed (.*$fault_expected" "$LAB_DIR/show-$fault_name.txt" ||
    { cat "$LAB_DIR/show-$fault_name.txt"; lab_fail "$fault_name: the conductor does not show the refusal's reason"; }
  grep "Auth State" "$LAB_DIR/show-$fault_name.txt"
  [ "$(certificates)" = 0 ] || lab_fail "$fault_name: a certificate was stored"
  [ "$(unspent_tokens)" = 1 ] || lab_fail "$fault_name: the token was spent"
}

echo "== an AK without fixedTPM and fixedParent, created in the same TPM by tpm2-tools"
tpm2_createprimary -Q -C o -G ecc -c "$LAB_DIR/srk.ctx" || lab_fail "tpm2_createprimary failed"
tpm2_create -Q -C "$LAB_DIR/srk.ctx" -G ecc256:ecdsa-sha256:null -a "sensitivedataorigin|userwithauth|restricted|sign" \
  -u "$LAB_DIR/ak-duplicable.pub" -r "$LAB_DIR/ak-duplicable.priv" || lab_fail "tpm2_create refused the duplicable AK"
tpm2_print -t TPM2B_PUBLIC "$LAB_DIR/ak-duplicable.pub" | grep -A1 "^attributes" | tail -1
fault ak-public "the AK is not acceptable: not an attestation key: fixedTPM is not set" \
  --ak-public "$LAB_DIR/ak-duplicable.pub"

echo "== a quote over a stale nonce (not the challenge's)"
fault stale-nonce "quote refused: the quote is not over the expected nonce"

echo "== an earlier session's quote replayed (with this session's activated credential)"
fault replayed-quote "quote refused: the quote is not over the expected nonce"

echo "== a quote bound to another TLS session's exporter"
fault foreign-exporter "quote refused: the quote is not over the expected nonce"

echo "== the conductor is killed after its challenge (SIGKILL) and restarted on the same state"
"$FC" --tcti "$TCTI" --token "$LAB_DIR/cfg/token" --port 930 --fault stop-after-challenge > "$LAB_DIR/cut.txt" 2>&1 &
client=$!
conductor_wait_for "$LAB_DIR/cut.txt" "challenge received" 600 || { cat "$LAB_DIR/cut.txt"; lab_fail "no challenge"; }
$COND $C show router-0001 | grep "Auth State: attesting" || lab_fail "the conductor does not show the session attesting"
conductor_kill
conductor_wait_for "$LAB_DIR/cut.txt" "session cut" 300 || lab_fail "the client did not see its session cut"
wait "$client" 2>/dev/null || true; client=""
cat "$LAB_DIR/cut.txt"
conductor_serve "$LAB_DIR/conductor.log"
[ "$(certificates)" = 0 ] && [ "$(unspent_tokens)" = 1 ] || lab_fail "the cut session stored a certificate or spent the token"

echo "== the conductor is killed while the real router's proof is on its way; the router retries"
# hold_proxy.py relays the router's session up to its hello and holds its proof: the router has
# had its challenge when the conductor is killed.
sed -i "s/^Port=.*/Port=9930/" "$LAB_DIR/cfg/sedge.conf"
python3 "$SEDGE_SOURCE_DIR/tests/lab/onboarding/hold_proxy.py" hold 9930 930 "$LAB_DIR/held.txt" > "$LAB_DIR/proxy.log" 2>&1 &
proxy=$!
conductor_wait_for "$LAB_DIR/proxy.log" "listening" 100 || lab_fail "hold_proxy.py did not start"
router_sedged "$LAB_DIR/cfg" "$LAB_DIR/sedged.log"
"$CTL" --user-bus onboard run > "$LAB_DIR/router.log" 2>&1 &
router=$!
conductor_wait_for "$LAB_DIR/held.txt" "held" 1200 || { cat "$LAB_DIR/router.log" "$LAB_DIR/proxy.log"; lab_fail "the router's proof never came"; }
cat "$LAB_DIR/held.txt"
$COND $C show router-0001 | grep "Auth State: attesting" || lab_fail "the conductor does not show the router attesting"
conductor_kill
conductor_wait_for "$LAB_DIR/router.log" "receiving from the peer.*trying again" 300 ||
  { cat "$LAB_DIR/router.log"; lab_fail "the router gave up on a session cut mid-way"; }
wait "$proxy" 2>/dev/null || true
grep "trying again" "$LAB_DIR/router.log"
conductor_serve "$LAB_DIR/conductor.log"
python3 "$SEDGE_SOURCE_DIR/tests/lab/onboarding/hold_proxy.py" relay 9930 930 > "$LAB_DIR/proxy.log" 2>&1 &
proxy=$!
conductor_wait_for "$LAB_DIR/router.log" "management channel up" 1200 ||
  { cat "$LAB_DIR/router.log" "$LAB_DIR/sedged.log" "$LAB_DIR/conductor.log"; lab_fail "the router did not onboard after the conductor's restart"; }
wait "$router" || lab_fail "sedgectl onboard run did not end with the channel up"
router=""
cat "$LAB_DIR/router.log"
$COND $C show router-0001 | tee "$LAB_DIR/show.txt"
grep -q "Auth State: completed" "$LAB_DIR/show.txt" || lab_fail "the conductor does not show Auth State: completed"
[ "$(certificates)" = 1 ] || lab_fail "the registry holds $(certificates) certificates, not one"
[ "$(unspent_tokens)" = 0 ] || lab_fail "the token was not spent by the onboarding"
"$CTL" --user-bus onboard status | grep -q "Auth State: completed" || lab_fail "the router does not record its onboarding"
router_sedged_stop
echo "one certificate, serial $(sqlite3 "$DB" 'select serial from certificates'), issued with the token the faults did not spend"
echo PASS
