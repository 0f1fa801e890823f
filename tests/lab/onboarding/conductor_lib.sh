# The setup onboarding lab scripts share: a router's TPM (swtpm behind tpm2-abrmd), the
# reference conductor's state (init, a router registered from its device ID token, onboarding
# tokens), the router's [Onboarding] configuration and the conductor serving 930 and 933.
# Source it after tests/lab/lib/lab.sh. It sets B, CTL, COND and, once called:
#   conductor_tpm DIR PORT       swtpm at PORT behind tpm2-abrmd; sets TCTI, exports TPM2TOOLS_TCTI,
#                                and trusts its EK CA as a manufacturer CA ($LAB_DIR/mca)
#   conductor_init               C (the conductor's common options) and `sedge-conductor init`
#   conductor_router_config CFGDIR PORT ROUTER_ID INTERFACE [TCTI]
#                                the router's sedge.conf (token in CFGDIR/token, state in CFGDIR/state
#                                unless ROUTER_STATE is set)
#   conductor_register ROUTER_ID CFGDIR IDTOKEN   exports the device ID token and registers it
#   conductor_token ROUTER_ID FILE [OPTIONS...]   an onboarding token into FILE (0600)
#   conductor_serve LOG          `sedge-conductor serve` in the background (CONDUCTOR_PID), waits for it
#   conductor_stop               stops it (SIGTERM) and waits
#   conductor_wait_for FILE PATTERN [TENTHS]   waits until PATTERN is in FILE (default 30 s); false if not
#   router_sedged CFGDIR LOG     sedged (the router) on the session bus with CFGDIR's configuration, in
#                                the background (SEDGED_PID), once it answers on the bus; it onboards
#                                by itself, `"$CTL" --user-bus onboard run|status` asks it
#   router_sedged_stop           stops it (SIGTERM) and waits
B="$SEDGE_BUILD_DIR"
CTL="$B/agent/ctl/sedgectl"
COND="$B/onboarding/conductor/sedge-conductor"
CONDUCTOR_PID=""

conductor_tpm() {
  conductor_tpm_swtpm=$(lab_swtpm "$1" "$2")
  lab_tpm_resource_manager "$1" "$conductor_tpm_swtpm"
  TCTI=$LAB_TPM_RM_TCTI
  export TPM2TOOLS_TCTI="$TCTI"
  mkdir -p "$LAB_DIR/mca"
  cp "$1/localca/"*.pem "$LAB_DIR/mca/" 2>/dev/null
  rm -f "$LAB_DIR/mca/signkey.pem"
}

conductor_init() {
  C="--state $LAB_DIR/conductor --manufacturer-ca $LAB_DIR/mca --advertise 127.0.0.1"
  $COND $C init | tee "$LAB_DIR/init.txt"
}

conductor_router_config() {
  mkdir -p "$1"
  cat > "$1/sedge.conf" <<EOC
[Onboarding]
Conductor=127.0.0.1
Port=$2
TokenFile=$1/token
Tcti=${5:-$TCTI}
RouterId=$3
Interface=$4
StateDirectory=${ROUTER_STATE:-$1/state}
EOC
}

conductor_register() {
  "$CTL" onboard --config-dir "$2" export-idtoken > "$3" || lab_fail "no device ID token for $1"
  $COND $C register "$1" "$3" || lab_fail "the conductor refused $1's device ID token"
}

conductor_token() {
  conductor_token_id=$1 conductor_token_file=$2; shift 2
  (umask 077; $COND $C "$@" token "$conductor_token_id" > "$conductor_token_file") || lab_fail "no onboarding token for $conductor_token_id"
}

conductor_wait_for() {
  for _ in $(seq "${3:-300}"); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done
  return 1
}

conductor_serve() {
  conductor_serve_before=$(cat "$1" 2>/dev/null | grep -c "conductor listening" || true)
  $COND $C serve >> "$1" 2>&1 &
  CONDUCTOR_PID=$!
  for _ in $(seq 100); do
    [ "$(grep -c "conductor listening" "$1" || true)" -gt "$conductor_serve_before" ] && return 0; sleep 0.1
  done
  cat "$1"; lab_fail "the conductor did not start"
}

conductor_stop() {
  if [ -n "$CONDUCTOR_PID" ]; then kill "$CONDUCTOR_PID" 2>/dev/null || true; wait "$CONDUCTOR_PID" 2>/dev/null || true; fi
  CONDUCTOR_PID=""
}

router_sedged() {
  router_sedged_stop
  "$B/agent/daemon/sedged" --user-bus --config-dir "$1" >> "$2" 2>&1 &
  SEDGED_PID=$!
  for _ in $(seq 100); do
    "$CTL" --user-bus describe > /dev/null 2>&1 && return 0
    kill -0 "$SEDGED_PID" 2>/dev/null || break
    sleep 0.1
  done
  cat "$2"; lab_fail "sedged did not come up on the session bus"
}

router_sedged_stop() {
  if [ -n "${SEDGED_PID:-}" ]; then kill "$SEDGED_PID" 2>/dev/null || true; wait "$SEDGED_PID" 2>/dev/null || true; fi
  SEDGED_PID=""
}
