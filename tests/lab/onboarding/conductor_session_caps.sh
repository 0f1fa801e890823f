#!/bin/sh
# The conductor's session caps under idle connections (hold_sessions.py: TLS 1.3 and the
# WebSocket upgrade done, then silent, never a hello). The conductor serves with
# --max-sessions 12 --max-sessions-per-address 4 and a handshake timeout longer than the
# scenario, so every held session stays held until this script lets it go:
#   - from 127.0.0.2 and from 127.0.0.3, ten each, one after another: four held from each, the
#     six beyond the per-address cap refused, each refusal logged with its reason and peer;
#   - only then (the holders have written their counts) the router, sedged from 127.0.0.1,
#     onboards and brings its management channel up beside the eight held sessions;
#   - from 127.0.0.4, more than the places left: the conductor's total reaches the cap and the
#     rest is refused and logged as such; the router's management channel stays up;
#   - with --handshake-timeout 2, two idle sessions are closed by the conductor (the holder sees
#     them closed) and logged as having sent no hello in time.
. "$SEDGE_SOURCE_DIR/tests/lab/lib/lab.sh"
. "$SEDGE_SOURCE_DIR/tests/lab/onboarding/conductor_lib.sh"
HOLD="$SEDGE_SOURCE_DIR/tests/lab/onboarding/hold_sessions.py"
D="$LAB_DIR"
holders=""
router=""
cleanup() {
  for p in $holders $router; do kill "$p" 2>/dev/null || true; done
  conductor_stop
  lab_tpm_resource_manager_stop "$D/tpm"; lab_swtpm_stop "$D/tpm"; lab_collect
}
trap cleanup EXIT
conductor_tpm "$D/tpm" 2381
ip link add mgmt0 type veth peer name mgmt1 && ip link set mgmt0 address 02:5e:d9:00:00:07
ROUTER_STATE="$D/router" conductor_router_config "$D/cfg" 930 router-0007 mgmt0
conductor_init
conductor_register router-0007 "$D/cfg" "$D/idtoken.json"
conductor_token router-0007 "$D/cfg/token"
LOG="$D/conductor.log"
C="$C --max-sessions 12 --max-sessions-per-address 4 --handshake-timeout 600"
conductor_serve "$LOG"

# hold NAME SOURCE COUNT [CLOSED_FILE]: a holder in the background; returns once each of its
# connections is held or refused, with "held H refused R" in $D/NAME.ready.
hold() {
  python3 "$HOLD" 127.0.0.1 930 "$2" "$3" "$D/$1.ready" ${4:+"$4"} > "$D/$1.log" 2>&1 &
  holders="$holders $!"
  conductor_wait_for "$D/$1.ready" "^held" 600 || { cat "$D/$1.log"; lab_fail "holder $1 did not finish opening"; }
  echo "from $2: $(cat "$D/$1.ready")"
}
refusals() { grep -c "session refused: $1" "$LOG" || true; }

echo "== idle sessions beyond the per-address cap, from two addresses"
hold a 127.0.0.2 10
[ "$(cat "$D/a.ready")" = "held 4 refused 6" ] || lab_fail "127.0.0.2: $(cat "$D/a.ready"), expected held 4 refused 6"
hold b 127.0.0.3 10
[ "$(cat "$D/b.ready")" = "held 4 refused 6" ] || lab_fail "127.0.0.3: $(cat "$D/b.ready"), expected held 4 refused 6"
[ "$(grep "session refused: 4 sessions from this address" "$LOG" | grep -c "127.0.0.2")" -eq 6 ] ||
  { cat "$LOG"; lab_fail "the refusals of 127.0.0.2 are not logged with their reason and peer"; }
[ "$(grep "session refused: 4 sessions from this address" "$LOG" | grep -c "127.0.0.3")" -eq 6 ] ||
  lab_fail "the refusals of 127.0.0.3 are not logged with their reason and peer"
grep "session refused" "$LOG" | tail -1

echo "== the router (sedged, which onboards by itself) onboards beside the eight held sessions"
"$B/agent/daemon/sedged" --user-bus --config-dir "$D/cfg" > "$D/sedged.log" 2>&1 &
router=$!
conductor_wait_for "$LOG" "management channel up ROUTER=router-0007" 600 ||
  { cat "$D/sedged.log" "$LOG"; lab_fail "the router did not onboard while idle sessions were held"; }
grep -q "router onboarded ROUTER=router-0007" "$LOG" || lab_fail "the management channel came up without an onboarding"
$COND $C show router-0007 | grep -q "Auth State: completed" || lab_fail "the conductor does not show Auth State: completed"
grep -q "session refused.*127.0.0.1:" "$LOG" && lab_fail "the router's own sessions were refused"
for p in $holders; do kill -0 "$p" || lab_fail "a holder gave up its sessions"; done
grep -q "session ended\|no hello within" "$LOG" && { cat "$LOG"; lab_fail "a held session ended before the router was up"; }
echo "onboarded, management channel up; the held sessions still held"

echo "== the total cap"
before=$(refusals "[0-9]* sessions at once")
hold c 127.0.0.4 6
out=$(cat "$D/c.ready")
echo "$out" | grep -q "refused [1-9]" || lab_fail "127.0.0.4: $out, expected refusals at the total cap"
held=$(echo "$out" | awk '{print $2}')
[ $((8 + 1 + held)) -eq 12 ] || lab_fail "127.0.0.4 held $held sessions beside 8 held and the management channel, not up to the cap of 12"
[ "$(refusals "12 sessions at once, the cap")" -gt "$before" ] || { cat "$LOG"; lab_fail "the refusals at the total cap are not logged"; }
grep "sessions at once" "$LOG" | tail -1
grep -q "management channel down ROUTER=router-0007" "$LOG" && lab_fail "the router's management channel went down"

echo "== an idle opening is cut after the handshake timeout"
for p in $holders; do kill "$p" 2>/dev/null || true; done
holders=""
conductor_stop
C="${C% --max-sessions*} --handshake-timeout 2"
conductor_serve "$LOG"
before=$(grep -c "no hello within the handshake timeout" "$LOG" || true)
hold d 127.0.0.5 2 "$D/d.closed"
[ "$(cat "$D/d.ready")" = "held 2 refused 0" ] || lab_fail "127.0.0.5: $(cat "$D/d.ready")"
conductor_wait_for "$D/d.closed" "^closed 2" 300 || lab_fail "the conductor did not close two idle sessions after 2 s"
cat "$D/d.closed"
[ "$(grep -c "no hello within the handshake timeout" "$LOG")" -ge $((before + 2)) ] || { cat "$LOG"; lab_fail "the timed-out sessions are not logged"; }
grep "no hello within the handshake timeout" "$LOG" | tail -1
echo "PASS"
