#!/bin/sh
# Onboarding end to end, against swtpm: the operator exports the router's device ID token,
# registers it with the reference conductor and hands the router a token; the router proves
# with its TPM who it is on port 930 (TLS 1.3 to the pinned conductor key, WebSocket,
# ActivateCredential, a quote bound to the TLS session), gets a certificate for a TPM-held key
# and holds the mutual-TLS management channel on 933 with it (OpenSSL's tpm2 provider). Then
# the attacks: each refused with a clear reason, nothing stored. The router is sedged, which
# onboards by itself; `sedgectl onboard run|status` ask it over D-Bus.
. "$SEDGE_SOURCE_DIR/tests/lab/lib/lab.sh"
. "$SEDGE_SOURCE_DIR/tests/lab/onboarding/conductor_lib.sh"
conductor_tpm "$LAB_DIR/tpm" 2341
tcti=$TCTI
ip link add mgmt0 type veth peer name mgmt1 && ip link set mgmt0 address 02:5e:d9:00:00:01
router_config() {  # router_config PORT
  ROUTER_STATE="$LAB_DIR/router" conductor_router_config "$LAB_DIR/cfg" "$1" router-0001 mgmt0
}
router_config 930

echo "== the operator: device ID token, registration, onboarding token"
conductor_init
conductor_register router-0001 "$LAB_DIR/cfg" "$LAB_DIR/idtoken.json"
jq -c '{router_id, mac}' "$LAB_DIR/idtoken.json"
conductor_token router-0001 "$LAB_DIR/cfg/token"
cp "$LAB_DIR/cfg/token" "$LAB_DIR/token.first"

echo "== a second registration of the same router is refused"
$COND $C register router-0001 "$LAB_DIR/idtoken.json" 2> "$LAB_DIR/err.txt" && lab_fail "a router was registered twice"
grep -q "router-0001 is already registered" "$LAB_DIR/err.txt" || lab_fail "a second registration is not refused clearly"
jq '.router_id = "router-0009"' "$LAB_DIR/idtoken.json" > "$LAB_DIR/idtoken9.json"
$COND $C register router-0009 "$LAB_DIR/idtoken9.json" 2> "$LAB_DIR/err.txt" && lab_fail "one EK was registered as two routers"
grep -q "this EK is already registered as router router-0001" "$LAB_DIR/err.txt" || lab_fail "a second router with the same EK is not refused clearly"
cat "$LAB_DIR/err.txt"

echo "== the router starts before the conductor: it retries"
start=$(date +%s%N)
router_sedged "$LAB_DIR/cfg" "$LAB_DIR/sedged.log"
"$CTL" --user-bus onboard run > "$LAB_DIR/router.log" 2>&1 &
router=$!
for _ in $(seq 100); do grep -q "trying again" "$LAB_DIR/router.log" && break; sleep 0.1; done
grep -q "trying again" "$LAB_DIR/router.log" || { cat "$LAB_DIR/router.log" "$LAB_DIR/sedged.log"; lab_fail "the router did not retry an unreachable conductor"; }

echo "== the conductor serves 930 and 933"
conductor_serve "$LAB_DIR/conductor.log"

echo "== the router onboards"
wait "$router" || { cat "$LAB_DIR/router.log" "$LAB_DIR/sedged.log" "$LAB_DIR/conductor.log"; lab_fail "sedgectl onboard run failed"; }
took=$(( ($(date +%s%N) - start) / 1000000 ))
cat "$LAB_DIR/router.log"
grep -q "management channel up" "$LAB_DIR/router.log" || { cat "$LAB_DIR/conductor.log"; lab_fail "the router did not come up on 933"; }
echo "onboarding and management channel up $took ms after the router started (conductor started later)"
$COND $C show router-0001 | tee "$LAB_DIR/show.txt"
grep -q "Auth State: completed" "$LAB_DIR/show.txt" || lab_fail "the conductor does not show Auth State: completed"
grep -q "Management Channel: connected" "$LAB_DIR/show.txt" || lab_fail "the conductor does not show the management channel"
"$CTL" --user-bus onboard status | tee "$LAB_DIR/status.txt"
grep -q "Auth State: completed" "$LAB_DIR/status.txt" || lab_fail "the router does not record its onboarding"
grep -q "Management Channel: up" "$LAB_DIR/status.txt" || lab_fail "sedgectl onboard status shows no management channel"
[ "$("$CTL" --user-bus onboard status --json | jq -r .router_id)" = router-0001 ] || lab_fail "onboard status --json does not name the router"
openssl verify -CAfile "$LAB_DIR/router/ca.crt" "$LAB_DIR/router/router.crt" || lab_fail "the router certificate does not verify to the conductor CA"
# The certificate's key is the TPM's TLS key (tpm2-tools reads it independently).
tpm2_readpublic -c 0x81008003 -f pem -o "$LAB_DIR/tlskey.pem" > /dev/null || lab_fail "no TLS key at 0x81008003"
openssl x509 -in "$LAB_DIR/router/router.crt" -pubkey -noout | cmp - "$LAB_DIR/tlskey.pem" || lab_fail "the certificate is not for the TPM's key"

echo "== TLS 1.2 is refused on both ports"
for port in 930 933; do
  echo | openssl s_client -connect 127.0.0.1:$port -tls1_2 > "$LAB_DIR/tls12.txt" 2>&1 && lab_fail "TLS 1.2 accepted on $port"
  grep -qi "alert protocol version\|unsupported protocol\|wrong version" "$LAB_DIR/tls12.txt" || { cat "$LAB_DIR/tls12.txt"; lab_fail "TLS 1.2 on $port not refused as a version"; }
done
echo "refused"

echo "== malformed WebSocket traffic on 930"
python3 "$SEDGE_SOURCE_DIR/tests/lab/onboarding/ws_attacks.py" 127.0.0.1 930 || lab_fail "malformed WebSocket traffic not answered as RFC 6455 says"
kill -0 "$CONDUCTOR_PID" || lab_fail "the conductor died of malformed traffic"

echo "== the conductor restarts: the router reconnects"
conductor_stop
for _ in $(seq 100); do grep -q "management channel down" "$LAB_DIR/sedged.log" && break; sleep 0.1; done
grep -q "management channel down" "$LAB_DIR/sedged.log" || lab_fail "the router did not notice the conductor leaving"
conductor_serve "$LAB_DIR/conductor.log"
for _ in $(seq 200); do [ "$(grep -c 'management channel up' "$LAB_DIR/sedged.log")" -ge 2 ] && break; sleep 0.1; done
[ "$(grep -c 'management channel up' "$LAB_DIR/sedged.log")" -ge 2 ] || lab_fail "the router did not reconnect"
grep "management channel" "$LAB_DIR/sedged.log" | tail -2

echo "== a second onboarding is refused while one is on record"
timeout 30 "$CTL" --user-bus onboard run > "$LAB_DIR/again.txt" 2>&1 || { cat "$LAB_DIR/again.txt"; lab_fail "onboard run with one on record failed"; }
grep -q "management channel up" "$LAB_DIR/again.txt" || lab_fail "the recorded onboarding was not reused"
[ "$(grep -c 'onboarding started' "$LAB_DIR/sedged.log")" = 0 ] || lab_fail "sedged onboarded again with one on record"

# Each attack: the router's record reset, sedged started anew with the configuration and token
# as they are now; its onboarding (and `sedgectl onboard run`, which follows it) fails with the
# reason. sedged starts anew so that a changed configuration is the one it runs.
attack() {  # attack NAME EXPECTED
  router_sedged_stop
  "$CTL" onboard --config-dir "$LAB_DIR/cfg" reset
  router_sedged "$LAB_DIR/cfg" "$LAB_DIR/sedged-attacks.log"
  timeout 30 "$CTL" --user-bus onboard run > "$LAB_DIR/attack.txt" 2>&1 && lab_fail "$1: accepted"
  grep -q "$2" "$LAB_DIR/attack.txt" || { cat "$LAB_DIR/attack.txt"; lab_fail "$1: not refused with '$2'"; }
  status=0; "$CTL" --user-bus onboard status > "$LAB_DIR/attack-status.txt" || status=$?
  [ "$status" = 3 ] || lab_fail "$1: onboard status exits $status, not 3 (not onboarded)"
  grep -q "Auth State: failed" "$LAB_DIR/attack-status.txt" || { cat "$LAB_DIR/attack-status.txt"; lab_fail "$1: the daemon does not say failed"; }
  printf '%-28s refused: %s\n' "$1" "$(grep -o "$2.*" "$LAB_DIR/attack.txt" | head -1)"
}
certs_before=$(sqlite3 "$LAB_DIR/conductor/registry.db" 'select count(*) from certificates')
attack "replayed token" "token already used"
python3 - "$LAB_DIR/token.first" > "$LAB_DIR/cfg/token" <<'EOP'
import base64, json, sys
payload, sig = open(sys.argv[1]).read().strip().split('.')
claims = json.loads(base64.urlsafe_b64decode(payload + '=' * (-len(payload) % 4)))
claims['exp'] += 3600
print(base64.urlsafe_b64encode(json.dumps(claims, separators=(',', ':')).encode()).decode().rstrip('=') + '.' + sig)
EOP
attack "tampered token" "signature does not verify"
conductor_token router-0001 "$LAB_DIR/cfg/token" --token-ttl 1; sleep 2
attack "expired token" "expired"
conductor_token router-0001 "$LAB_DIR/cfg/token"
$COND $C revoke "$(python3 -c "import base64,json,sys;p=open(sys.argv[1]).read().split('.')[0];print(json.loads(base64.urlsafe_b64decode(p+'='*(-len(p)%4)))['jti'])" "$LAB_DIR/cfg/token")"
attack "revoked token" "token revoked"

echo "== a rogue conductor with another key"
$COND --state "$LAB_DIR/rogue" --manufacturer-ca "$LAB_DIR/mca" --port 9930 --management-port 9933 serve > "$LAB_DIR/rogue.log" 2>&1 &
rogue=$!
sleep 0.5
conductor_token router-0001 "$LAB_DIR/cfg/token"
router_config 9930
attack "wrong conductor key" "is not the one the token pins"
kill "$rogue"; router_config 930

echo "== a token for another router"
tcti2=$(lab_swtpm "$LAB_DIR/tpm2" 2351)
cp "$LAB_DIR/tpm2/localca/issuercert.pem" "$LAB_DIR/mca/tpm2-issuer.pem"
ip link add mgmt2 type veth peer name mgmt3 && ip link set mgmt2 address 02:5e:d9:00:00:02
sed -e "s/router-0001/router-0002/" -e "s/mgmt0/mgmt2/" -e "s|$tcti|$tcti2|" "$LAB_DIR/cfg/sedge.conf" > "$LAB_DIR/other.conf"
mkdir -p "$LAB_DIR/cfg2" && mv "$LAB_DIR/other.conf" "$LAB_DIR/cfg2/sedge.conf"
conductor_register router-0002 "$LAB_DIR/cfg2" "$LAB_DIR/idtoken2.json"
conductor_token router-0002 "$LAB_DIR/cfg/token"
attack "token for another router" "the token is for router router-0002"

echo "== a router with another TPM presents router-0001's token (wrong EK)"
conductor_token router-0001 "$LAB_DIR/cfg/token"
sed -i "s|^Tcti=.*|Tcti=$tcti2|" "$LAB_DIR/cfg/sedge.conf"
attack "wrong EK (another TPM)" "the credential was not activated\|activating the conductor's credential"
sed -i "s|^Tcti=.*|Tcti=$tcti|" "$LAB_DIR/cfg/sedge.conf"

echo "== an EK certificate from an unknown CA"
mkdir -p "$LAB_DIR/otherca"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=other -keyout "$LAB_DIR/otherca/k" -out "$LAB_DIR/otherca/ca.pem" 2> /dev/null
$COND --state "$LAB_DIR/c3" --manufacturer-ca "$LAB_DIR/otherca" register router-0001 "$LAB_DIR/idtoken.json" 2> "$LAB_DIR/err.txt" && lab_fail "an EK from an unknown CA was registered"
grep -q "does not verify to a manufacturer CA" "$LAB_DIR/err.txt" || { cat "$LAB_DIR/err.txt"; lab_fail "unknown CA not reported clearly"; }
cat "$LAB_DIR/err.txt"

certs_after=$(sqlite3 "$LAB_DIR/conductor/registry.db" 'select count(*) from certificates')
[ "$certs_before" = "$certs_after" ] || lab_fail "a refused onboarding stored a certificate ($certs_before -> $certs_after)"
router_sedged_stop

echo "== sedged onboards by itself and holds the channel"
"$CTL" onboard --config-dir "$LAB_DIR/cfg" reset
conductor_token router-0001 "$LAB_DIR/cfg/token"
router_sedged "$LAB_DIR/cfg" "$LAB_DIR/sedged-self.log"
for _ in $(seq 300); do
  [ "$("$CTL" --user-bus describe 2>/dev/null | jq -r .onboarding.channel)" = up ] && break; sleep 0.1
done
"$CTL" --user-bus status | grep onboarding || { cat "$LAB_DIR/sedged-self.log"; lab_fail "sedgectl status shows no onboarding"; }
[ "$("$CTL" --user-bus describe | jq -r .onboarding.auth_state)" = completed ] || lab_fail "sedged did not onboard"
[ "$("$CTL" --user-bus describe | jq -r .onboarding.channel)" = up ] || lab_fail "sedged holds no management channel"
$COND $C show router-0001 | grep -q "Management Channel: connected" || lab_fail "the conductor does not see sedged's channel"
"$CTL" --user-bus metrics > "$LAB_DIR/metrics.txt" || lab_fail "sedgectl metrics failed"
grep -qx 'sedge_onboarding_state{state="completed"} 1' "$LAB_DIR/metrics.txt" || { cat "$LAB_DIR/metrics.txt"; lab_fail "the metrics do not say onboarded"; }
grep -qx 'sedge_onboarding_channel_up 1' "$LAB_DIR/metrics.txt" || lab_fail "the metrics do not say the channel is up"
promtool check metrics < "$LAB_DIR/metrics.txt" || lab_fail "promtool finds fault with sedged's metrics"
router_sedged_stop
for _ in $(seq 50); do $COND $C show router-0001 | grep -q "Management Channel: down" && break; sleep 0.1; done
$COND $C show router-0001 | grep -q "Management Channel: down" || lab_fail "sedged's channel outlived sedged"
echo "sedged: onboarded, channel up, and down again when stopped"

echo "== the same TPM onboards again by its ECC P-384 EK (TCG template H-3)"
sed -i -e "s/^RouterId=.*/RouterId=router-0384/" "$LAB_DIR/cfg/sedge.conf"
printf 'EkProfile=ecc-p384\nStateDirectory=%s/router384\n' "$LAB_DIR" >> "$LAB_DIR/cfg/sedge.conf"
"$CTL" onboard --config-dir "$LAB_DIR/cfg" export-idtoken > "$LAB_DIR/idtoken384.json" || lab_fail "no P-384 device ID token"
[ "$(jq -r .ek_profile "$LAB_DIR/idtoken384.json")" = ecc-p384 ] || lab_fail "the token does not name the P-384 profile"
jq -r .ek_certificate "$LAB_DIR/idtoken384.json" | base64 -d | openssl x509 -inform der -noout -text | grep -q "P-384\|secp384r1" ||
  lab_fail "the P-384 token does not carry a P-384 EK certificate"
$COND $C register router-0384 "$LAB_DIR/idtoken384.json" || lab_fail "the P-384 EK was not registered"
conductor_token router-0384 "$LAB_DIR/cfg/token"
router_sedged "$LAB_DIR/cfg" "$LAB_DIR/sedged384.log"
timeout 60 "$CTL" --user-bus onboard run > "$LAB_DIR/router384.log" 2>&1 || true
router_sedged_stop
grep -q "management channel up" "$LAB_DIR/router384.log" || { cat "$LAB_DIR/router384.log" "$LAB_DIR/sedged384.log"; lab_fail "onboarding by the P-384 EK failed"; }
$COND $C show router-0384 | grep -q "Auth State: completed" || lab_fail "router-0384 is not completed"
echo "onboarded by the P-384 EK"

echo "== the TPM is gone"
lab_tpm_resource_manager_stop "$LAB_DIR/tpm"
lab_swtpm_stop "$LAB_DIR/tpm"
"$CTL" onboard --config-dir "$LAB_DIR/cfg" export-idtoken 2> "$LAB_DIR/err.txt" && lab_fail "a missing TPM went unnoticed"
grep -q "TPM" "$LAB_DIR/err.txt" || { cat "$LAB_DIR/err.txt"; lab_fail "a missing TPM is not reported clearly"; }
cat "$LAB_DIR/err.txt"
conductor_stop; lab_swtpm_stop "$LAB_DIR/tpm2"
echo PASS
