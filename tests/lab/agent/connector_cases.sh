#!/bin/sh
# sedged's connectors in the cases a branch meets besides the seed's Juniper site (lab.sedged_connectors),
# all on one topology and one sedged:
# - a Zscaler-like connector (Provider=zscaler): its primary to pop1 over wan0, where the POP
#   accepts only NULL ESP (null-sha256, as Zscaler allows), so the CHILD_SA authenticates
#   without encrypting; its secondary to an address where nothing answers
#   (RetransmitTimeoutSec=1, RetransmitTries=1), which gives up and retries with a growing
#   backoff while the primary carries the traffic;
# - a reload that adds a Check Point Harmony-like connector (route-based 0.0.0.0/0, no RemoteId=,
#   so the POP's ID is its address, as seed 003 says) to pop2 over wan1: it comes up and carries
#   its application, while the Zscaler-like primary keeps its SPIs and a ping through it every
#   10 ms loses nothing;
# - pop1 restarting (charon killed, its kernel's SAs gone): sedged's liveness check finds the
#   POP lost the IKE SA, and the tunnel comes back with new SPIs and traffic; its D-Bus object
#   (org.sedge.Tunnel1) signals each transition;
# - SIGTERM: nothing of sedge's is left in the site's kernel.
. "$SEDGE_SOURCE_DIR/tests/lab/lib/lab.sh"
. "$SEDGE_SOURCE_DIR/tests/lab/pops/seed_peers.sh"
. "$SEDGE_SOURCE_DIR/tests/lab/agent/sedged_lib.sh"
lab_topology
B=$SEDGE_BUILD_DIR
etc=$LAB_DIR/etc creds=$LAB_DIR/credentials
DEAD=192.0.2.99  # no host has it: nothing ever answers there
mkdir -p "$etc/sedge.conf.d" "$creds"
( umask 077; printf '%s' "$SEED_PSK" > "$creds/site1.psk" )
cat > "$etc/sedge.conf.d/10-interfaces.conf" <<EOC
[Interface wan0]
Device=wan0
Role=wan
Gateway=198.51.100.1
[Interface wan1]
Device=wan1
Role=wan
Gateway=203.0.113.1
[Interface lan0]
Device=lan0
Role=lan
Network=10.99.99.0/24
EOC
cat > "$etc/sedge.conf.d/20-zscaler.conf" <<EOC
[Connector zs]
Provider=zscaler
Type=ipsec
Mode=active-standby
LocalId=site1@example.com
PresharedKeyCredential=site1.psk
ProtectedNetwork=10.99.99.0/24
[Tunnel zs-primary]
Connector=zs
Role=primary
Wan=wan0
Remote=192.0.2.2
RemoteId=192.0.2.2
IkeProposal=aes256gcm16-prfsha256-modp2048
EspProposal=aes256gcm16
EspProposal=null-sha256
DpdIntervalSec=1
DpdTimeoutSec=4
[Tunnel zs-secondary]
Connector=zs
Role=secondary
Wan=wan1
Remote=$DEAD
RemoteId=$DEAD
IkeProposal=aes256gcm16-prfsha256-modp2048
EspProposal=aes256gcm16
RetransmitTimeoutSec=1
RetransmitTries=1
[Application srv1]
Destination=10.201.0.0/24
[SteeringProfile Zscaler]
Strategy=ordered
Path=zs
[Policy srv1-via-Zscaler]
Order=100
Source=lan0
Application=srv1
Action=steer
Profile=Zscaler
EOC
CREDENTIALS_DIRECTORY=$creds "$B/agent/daemon/sedged" --check-config --config-dir "$etc" > "$LAB_DIR/effective.conf" 2>&1 ||
  { cat "$LAB_DIR/effective.conf"; lab_fail "the configuration does not validate"; }
sedged_lab_init

# pop1: Zscaler-like, NULL ESP only; pop2: Harmony-like, AES-GCM; both route-based 0.0.0.0/0, each
# with its address as its ID.
SEED_IKE=aes256gcm16-prfsha256-modp2048 SEED_ESP=null-sha256
pop_strongswan_route_based pop1 192.0.2.2
SEED_ESP=aes256gcm16
pop_strongswan_route_based pop2 192.0.2.18 203.0.113.2

wait_state() {  # TUNNEL STATE SECONDS
  for _ in $(seq $(($3 * 10))); do
    kill -0 "$sedged" 2>/dev/null || fail "sedged exited"
    [ "$(tunnel "$1" state)" = "$2" ] && return 0
    sleep 0.1
  done
  ctl status || true
  fail "tunnel $1 is '$(tunnel "$1" state)' after $3 s, want $2 (last error '$(tunnel "$1" last_error)')"
}
spis() {  # TUNNEL: its CHILD_SAs' SPIs, in and out
  ctl describe 2>/dev/null | jq -r --arg t "$1" '.connectors[].tunnels[] | select(.name == $t) | [.children[] | .spi_in, .spi_out] | join(" ")' 2>/dev/null || true
}
ping_ok() {  # HOST DEST WHAT
  ip netns exec "$1" ping -c 3 -i 0.2 -W 2 "$2" > "$LAB_DIR/ping.txt" 2>&1 || { cat "$LAB_DIR/ping.txt"; fail "no ping from $1 to $2 ($3)"; }
}

echo "== sedged: the Zscaler-like primary comes up; its secondary's POP never answers"
start_sedged
wait_state zs-primary up 60
echo "\$ sedgectl status"; ctl status

echo "== NULL ESP: pop1 accepts only null-sha256, and the CHILD_SA authenticates without encrypting"
echo "\$ ip -n site xfrm state   # keys hidden"
ip -n site xfrm state | sed -E 's/0x[0-9a-f]{16,}/(key)/' | grep -E "^src|enc|auth|mark"
[ "$(ip -n site xfrm state | grep -c 'enc ecb(cipher_null)')" -eq 2 ] || fail "the site's two ESP SAs are not NULL-encrypted"
[ "$(ip -n site xfrm state | grep -c 'auth-trunc hmac(sha256)')" -eq 2 ] || fail "the site's two ESP SAs are not authenticated with HMAC-SHA2-256"
lab_swanctl pop1 --list-sas | grep -E "INSTALLED|NULL" || true
lab_swanctl pop1 --list-sas | grep -q "NULL/HMAC_SHA2_256_128" || fail "pop1's strongSwan did not install NULL/HMAC_SHA2_256_128"
e1=$(lab_esp_packets site 192.0.2.2)
ping_ok lanhost0 10.201.0.10 "srv1 through the Zscaler-like primary, steered by sedged"
[ "$(lab_esp_packets site 192.0.2.2)" -ge $((e1 + 3)) ] || fail "the pings to srv1 did not go out as ESP to pop1"

echo "== the secondary's POP never answers: sedged gives up and retries, backing off, while the primary carries the traffic"
for _ in $(seq 300); do grep -q "tunnel zs-secondary: .*retrying in 10 s" "$log" && break; sleep 0.1; done
grep -E "tunnel zs-secondary: .*retrying in" "$log" | cut -d' ' -f2- | head -3
grep -q "tunnel zs-secondary: .*retrying in 5 s" "$log" || fail "no first retry (5 s) of the unanswered secondary"
grep -q "tunnel zs-secondary: .*retrying in 10 s" "$log" || fail "the second retry of the unanswered secondary did not back off to 10 s"
t5=$(awk '/tunnel zs-secondary: .*retrying in 5 s/ { print $1; exit }' "$log")
t10=$(awk '/tunnel zs-secondary: .*retrying in 10 s/ { print $1; exit }' "$log")
# Between the two: the 5 s wait, then one more attempt (the request, 1 s, its retransmission, 1.8 s).
echo "the second give-up came $((t10 - t5)) ms after the first (5 s of backoff + 2.8 s of retransmissions)"
[ $((t10 - t5)) -ge 7500 ] || fail "the second attempt gave up $((t10 - t5)) ms after the first: it did not wait out the backoff"
case $(tunnel zs-secondary state) in backoff | connecting) ;; *) fail "the secondary is '$(tunnel zs-secondary state)'" ;; esac
[ "$(tunnel zs-primary state)" = up ] || fail "the primary went down while the secondary retried"
ping_ok lanhost0 10.201.0.10 "srv1 while the secondary retries"

echo "== reload adding a Harmony-like connector: the Zscaler-like primary keeps its SPIs and loses no ping"
before=$(spis zs-primary)
echo "zs-primary SPIs before: $before"
[ -n "$before" ] || fail "no CHILD_SA SPIs for zs-primary in Describe"
cat > "$etc/sedge.conf.d/30-harmony.conf" <<EOC
[Connector cp]
Provider=checkpoint-harmony
Type=ipsec
Mode=active-standby
LocalId=site1@example.com
PresharedKeyCredential=site1.psk
ProtectedNetwork=10.99.99.0/24
[Tunnel cp-primary]
Connector=cp
Role=primary
Wan=wan1
Remote=192.0.2.18
IkeProposal=aes256gcm16-prfsha256-modp2048
EspProposal=aes256gcm16
[Application srv2]
Destination=10.202.0.0/24
[SteeringProfile Harmony]
Strategy=ordered
Path=cp
[Policy srv2-via-Harmony]
Order=200
Source=lan0
Application=srv2
Action=steer
Profile=Harmony
EOC
# 1000 echoes, 10 ms apart, that ping itself ends (stopping it would lose the echo in flight):
# the reload comes 1 s in, well inside them.
ip netns exec lanhost0 ping -D -c 1000 -i 0.01 -W 2 10.201.0.10 > "$LAB_DIR/ping-reload.txt" 2>&1 &
pinger=$!
sleep 1
ctl reload || fail "sedgectl reload refused the added connector"
wait_state cp-primary up 60
wait $pinger || true
tail -2 "$LAB_DIR/ping-reload.txt"
sent=$(awk '/packets transmitted/{print $1}' "$LAB_DIR/ping-reload.txt")
got=$(awk '/packets transmitted/{print $4}' "$LAB_DIR/ping-reload.txt")
[ "${sent:-0}" -eq 1000 ] || fail "the ping during the reload sent ${sent:-0} echoes, not 1000"
[ "$sent" = "$got" ] || fail "the ping through zs-primary lost $((sent - got)) of $sent echoes during the reload"
after=$(spis zs-primary)
echo "zs-primary SPIs after: $after"
[ "$before" = "$after" ] || fail "the reload touched zs-primary: SPIs '$before' became '$after'"
echo "\$ sedgectl status"; ctl status
# No RemoteId= in cp-primary: sedged expected the POP's address as its ID (checkpoint-harmony's
# default), which pop2 sends (id = 192.0.2.18): with any other, the IKE SA would not be up.
lab_swanctl pop2 --list-sas | grep -q ESTABLISHED || fail "pop2 has no IKE SA with the site"
e2=$(lab_esp_packets site 192.0.2.18)
ping_ok lanhost0 10.202.0.10 "srv2 through the Harmony-like tunnel"
[ "$(lab_esp_packets site 192.0.2.18)" -ge $((e2 + 3)) ] || fail "the pings to srv2 did not go out as ESP to pop2 over wan1"

echo "== pop1 restarts: its IKE SA and kernel SAs are gone; sedged's liveness check finds out and the tunnel comes back"
before=$(spis zs-primary)
# The tunnel's D-Bus object (org.sedge.Tunnel1) announces each transition with PropertiesChanged.
object=/org/sedge/Agent1/tunnel/zs_2dprimary
busctl --user get-property org.sedge.Agent1 $object org.sedge.Tunnel1 State | grep -q '"up"' ||
  fail "the Tunnel1 object of zs-primary does not say up"
busctl --user monitor --json=short --match "type='signal',path='$object',member='PropertiesChanged'" > "$LAB_DIR/tunnel-signals.json" 2>&1 &
monitor=$!
sleep 0.5
pop_restart pop1
for _ in $(seq 300); do
  now=$(spis zs-primary)
  [ "$(tunnel zs-primary state)" = up ] && [ -n "$now" ] && [ "$now" != "$before" ] && break
  sleep 0.1
done
grep -E "tunnel zs-primary: .*(dead|retrying)" "$log" | tail -2 | cut -d' ' -f2-
now=$(spis zs-primary)
[ "$(tunnel zs-primary state)" = up ] && [ "$now" != "$before" ] || fail "zs-primary did not come back with new SPIs within 30 s of pop1's restart ('$(tunnel zs-primary state)', SPIs '$now')"
echo "zs-primary SPIs: '$before' before pop1's restart, '$now' after"
kill $monitor 2>/dev/null || true
states=$(jq -Rr 'fromjson? | .payload.data[1].State.data // empty' "$LAB_DIR/tunnel-signals.json" 2>/dev/null | tr '\n' ' ')
echo "PropertiesChanged of $object: State $states"
case $states in *backoff*up*) ;; *) head -c 2000 "$LAB_DIR/tunnel-signals.json"; fail "the Tunnel1 object did not signal backoff then up (saw: $states)" ;; esac
busctl --user get-property org.sedge.Agent1 $object org.sedge.Tunnel1 Children
lab_swanctl pop1 --list-sas | grep -q INSTALLED || fail "the restarted pop1 has no CHILD_SA"
ping_ok lanhost0 10.201.0.10 "srv1 after pop1's restart"
# Its Packets property: the kernel's counters of its CHILD_SA, both directions (3 echoes, 3 replies).
packets=$(busctl --user get-property org.sedge.Agent1 $object org.sedge.Tunnel1 Packets | awk '{print $2}')
echo "zs-primary's Packets property after 3 pings: $packets"
[ "${packets:-0}" -ge 6 ] || fail "the Tunnel1 object counts ${packets:-no} packets after 3 echoes through the new CHILD_SA"

echo "== active-active: the Zscaler-like connector's two tunnels (pop1 over wan0, pop2 over wan1) both carry flows to web; pop1 silenced, all go to pop2"
# The Harmony-like connector goes (pop2 is the secondary's now); both POPs masquerade the LAN.
rm "$etc/sedge.conf.d/30-harmony.conf"
sed -i -e 's/^Mode=active-standby$/Mode=active-active/' -e "s/^Remote=$DEAD$/Remote=192.0.2.18/" -e "s/^RemoteId=$DEAD$/RemoteId=192.0.2.18/" \
  -e '/^RetransmitTimeoutSec=/d' -e '/^RetransmitTries=/d' -e 's/^Strategy=ordered$/Strategy=weighted/' "$etc/sedge.conf.d/20-zscaler.conf"
cat >> "$etc/sedge.conf.d/20-zscaler.conf" <<EOC
[Application web]
Destination=192.0.2.34/32
[Policy web-via-Zscaler]
Order=300
Source=lan0
Application=web
Action=steer
Profile=Zscaler
EOC
printf '[Tunnel zs-secondary]\nDpdIntervalSec=1\nDpdTimeoutSec=4\n' > "$etc/sedge.conf.d/40-secondary-dpd.conf"
for pop in pop1 pop2; do ip netns exec $pop iptables-legacy -t nat -A POSTROUTING -o wan -s 10.99.99.0/24 -j MASQUERADE; done
ctl reload || fail "the reload to active-active was refused"
wait_state zs-secondary up 60
wait_state zs-primary up 10
ctl steering
flows() {  # 32 UDP flows (source ports 40000-40031) from lanhost0 to web, one datagram each
  ip netns exec lanhost0 python3 -c 'import socket
for port in range(40000, 40032):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("", port))
    s.sendto(b"sedge", ("192.0.2.34", 9))
    s.close()'
}
p1=$(lab_esp_packets site 192.0.2.2) p2=$(lab_esp_packets site 192.0.2.18)
flows
d1=$(($(lab_esp_packets site 192.0.2.2) - p1)) d2=$(($(lab_esp_packets site 192.0.2.18) - p2))
echo "32 flows: $d1 ESP packets to pop1, $d2 to pop2"
# The flow hash splits 32 flows between two paths of weight 1: all on one side has odds of 2^-31.
[ "$d1" -ge 1 ] && [ "$d2" -ge 1 ] && [ $((d1 + d2)) -ge 32 ] || fail "the flows did not spread over both tunnels ($d1 to pop1, $d2 to pop2)"
silence() {  # -I | -D: pop1's IKE and ESP with the site dropped in inet, both ways
  ip netns exec inet iptables-legacy "$1" FORWARD -s 198.51.100.2 -d 192.0.2.2 -j DROP
  ip netns exec inet iptables-legacy "$1" FORWARD -s 192.0.2.2 -d 198.51.100.2 -j DROP
}
silence -I
wait_state zs-primary backoff 20
p1=$(lab_esp_packets site 192.0.2.2) p2=$(lab_esp_packets site 192.0.2.18)
flows
d1=$(($(lab_esp_packets site 192.0.2.2) - p1)) d2=$(($(lab_esp_packets site 192.0.2.18) - p2))
echo "pop1 silenced and declared dead: the same 32 flows put $d1 ESP packets to pop1, $d2 to pop2"
[ "$d1" -eq 0 ] && [ "$d2" -ge 32 ] || fail "with pop1 dead the flows did not all move to pop2 ($d1 to pop1, $d2 to pop2)"
silence -D

echo "== SIGTERM: nothing of sedge's left in the site's kernel"
stop_sedged TERM
[ "$rc" -eq 0 ] || fail "sedged exited with status $rc on SIGTERM"
kernel_summary
[ "$(n_states)" -eq 0 ] && [ "$(n_policies)" -eq 0 ] && [ "$(n_links)" -eq 0 ] && [ "$(n_routes)" -eq 0 ] ||
  fail "sedged left objects in the kernel after SIGTERM"
echo PASS
