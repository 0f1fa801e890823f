#!/bin/sh
# sedge's initiator (sedge-connect) at the site to strongSwan's responder at pop1 over IPv6 outer
# addresses (lab_topology_ipv6: the site's wan0 2001:db8:100::2, pop1's wan 2001:db8:2::2, routed
# by inet), the seed's profile otherwise. One IKE SA carries two CHILD_SAs: c, from IKE_AUTH, with
# IPv6 selectors (the LAN 2001:db8:99::/64 <=> pop1's server network 2001:db8:201::/64), and d, a
# [Child] section created with CREATE_CHILD_SA, with IPv4 selectors (10.99.99.0/24 <=>
# 10.201.0.0/24). strongSwan lists the IKE SA between the IPv6 addresses with both children
# installed, sedge's kernel SAs have IPv6 outer addresses, and lanhost0 pings srv1 over IPv6 and
# over IPv4, each ping through its own CHILD_SA's ESP SAs, all ESP on the wire IPv6 and no echo
# request in the clear.
. "$SEDGE_SOURCE_DIR/tests/lab/lib/lab.sh"
. "$SEDGE_SOURCE_DIR/tests/lab/pops/seed_peers.sh"
. "$SEDGE_SOURCE_DIR/tests/lab/ike/children_lib.sh"
lab_topology
lab_topology_ipv6
SITE6=$LAB_SITE_WAN6 POP6=$LAB_POP1_WAN6
LAN6=2001:db8:99::/64 SRV6=2001:db8:201::/64 SRV1_6=2001:db8:201::10
LAN4=10.99.99.0/24 SRV4=10.201.0.0/24 SRV1_4=10.201.0.10

# poll SECONDS COMMAND...: true as soon as COMMAND succeeds, false after SECONDS of failures.
poll() {
  deadline=$(( $(date +%s) + $1 )); shift
  until "$@" > /dev/null 2>&1; do
    [ "$(date +%s)" -lt "$deadline" ] || return 1
    sleep 0.2
  done
}

# The underlay first: both ends reach each other over IPv6 through inet.
poll 10 ip netns exec site ping -6 -c 1 -W 1 "$POP6" || lab_fail "the site does not reach pop1's wan $POP6 over IPv6"

# strongSwan at pop1: child c with the IPv6 selectors, child d beside it with the IPv4 ones.
swanctl_conf pop1 "$POP1_ID" site1@example.com "$SRV6" "$LAN6"
lab_strongswan pop1 pop1
children_swanctl_d pop1 "$SRV4" "$LAN4"

# sedge at the site: the seed's tunnel to pop1's IPv6 address, with the [Child] of IPv4 selectors.
mkdir -p "$LAB_DIR/site-etc"
( umask 077; printf '%s' "$SEED_PSK" > "$LAB_DIR/site-etc/site1.psk" )
cat > "$LAB_DIR/site-etc/sedge.conf" <<EOC
[Interface wan0]
Role=wan
[Connector site1-to-sdcloud]
Provider=$SITE_PROVIDER
LocalId=site1@example.com
PresharedKeyFile=$LAB_DIR/site-etc/site1.psk
[Tunnel site1-primary]
Connector=site1-to-sdcloud
Wan=wan0
Remote=$POP6
RemoteId=$POP1_ID
IkeProposal=$SEED_IKE
EspProposal=$SEED_ESP
Routing=policy-based
LocalTrafficSelector=$LAN6
RemoteTrafficSelector=$SRV6
RemoteNetwork=$SRV6
[Child lan4]
Tunnel=site1-primary
LocalTrafficSelector=$LAN4
RemoteTrafficSelector=$SRV4
EOC
ip netns exec site "$SEDGE_BUILD_DIR/agent/connector/sedge-connect" --config-dir "$LAB_DIR/site-etc" site1-primary 150 \
  > "$LAB_DIR/connect.log" 2>&1 &
connector=$!
trap 'kill "$connector" 2>/dev/null; cp -f "$LAB_DIR/connect.log" "$LAB_LOG_DIR/connect.log"; lab_collect' EXIT

up() { grep -q "tunnel site1-primary up:" "$LAB_DIR/connect.log"; }
poll 40 up || { cat "$LAB_DIR/connect.log"; lab_fail "sedge did not bring the tunnel up over IPv6 (no 'tunnel site1-primary up:')"; }
poll 30 grep -q "created CHILD_SA 1" "$LAB_DIR/connect.log" ||
  { cat "$LAB_DIR/connect.log"; lab_fail "sedge did not create the IPv4 CHILD_SA d (no 'created CHILD_SA 1')"; }
grep -E "up:|CHILD_SA" "$LAB_DIR/connect.log"
grep -q "tunnel site1-primary up: .* 2001:db8:99::/64 <=> 2001:db8:201::/64" "$LAB_DIR/connect.log" ||
  lab_fail "sedge's first CHILD_SA does not have the IPv6 selectors $LAN6 <=> $SRV6"

# strongSwan: one IKE SA between the two IPv6 addresses, c and d installed with their selectors.
echo "\$ swanctl --list-sas   # at pop1 (strongSwan)"
installed() { [ "$(lab_swanctl pop1 --list-sas | grep -c INSTALLED)" -ge 2 ]; }
poll 10 installed || { lab_swanctl pop1 --list-sas; lab_fail "strongSwan does not show both CHILD_SAs installed"; }
lab_swanctl pop1 --list-sas > "$LAB_DIR/list-sas.txt"
cat "$LAB_DIR/list-sas.txt"
children_expect_two pop1
grep -Eq "^ +local +'$POP1_ID' @ $POP6\[500\]" "$LAB_DIR/list-sas.txt" &&
  grep -Eq "^ +remote +'site1@example.com' @ $SITE6\[500\]" "$LAB_DIR/list-sas.txt" ||
  lab_fail "strongSwan's IKE SA is not between $POP6 and $SITE6"
awk '/^ +c: /{c=1; next} /^ +[a-z]+: /{c=0} c' "$LAB_DIR/list-sas.txt" > "$LAB_DIR/child-c.txt"
awk '/^ +d: /{d=1; next} /^ +[a-z]+: /{d=0} d' "$LAB_DIR/list-sas.txt" > "$LAB_DIR/child-d.txt"
grep -Eq "local +$SRV6\$" "$LAB_DIR/child-c.txt" && grep -Eq "remote +$LAN6\$" "$LAB_DIR/child-c.txt" ||
  lab_fail "strongSwan's CHILD_SA c does not have the IPv6 selectors $SRV6 <=> $LAN6"
grep -Eq "local +$SRV4\$" "$LAB_DIR/child-d.txt" && grep -Eq "remote +$LAN4\$" "$LAB_DIR/child-d.txt" ||
  lab_fail "strongSwan's CHILD_SA d does not have the IPv4 selectors $SRV4 <=> $LAN4"

# sedge's kernel: four ESP SAs, all between the IPv6 outer addresses, and a policy per child.
echo "\$ ip -n site xfrm state   # installed by sedge"
ip -n site xfrm state | grep -E "^src|proto esp"
states=$(ip -n site xfrm state | grep -c "^src")
v6=$(ip -n site xfrm state | grep -Ec "^src ($SITE6 dst $POP6|$POP6 dst $SITE6)\$")
[ "$states" -eq 4 ] && [ "$v6" -eq 4 ] || lab_fail "sedge's kernel SAs are not four with IPv6 outer addresses ($v6 of $states)"
echo "\$ ip -n site xfrm policy | grep src"; ip -n site xfrm policy | grep "^src"
ip -n site xfrm policy | grep -q "^src $LAN6 dst $SRV6" || lab_fail "sedge did not install CHILD_SA c's IPv6 policy"
ip -n site xfrm policy | grep -q "^src $LAN4 dst $SRV4" || lab_fail "sedge did not install CHILD_SA d's IPv4 policy"

# child_esp NS SRC DST LOCAL: "OUT IN", the packets of NS's ESP SAs under the reqid of its
# outbound policy SRC -> DST, out: from LOCAL, in: towards LOCAL.
child_esp() {
  reqid=$(ip -n "$1" xfrm policy | awk -v s="$2" -v d="$3" '
    /^src/ { sel = ($2 == s && $4 == d); out = 0 }
    /dir out/ { out = sel }
    /proto esp/ && out { for (k = 1; k < NF; k++) if ($k == "reqid") { id = $(k + 1); sub(/\(.*/, "", id); print id; exit } }')
  [ -n "$reqid" ] || { echo "- -"; return 0; }
  ip -n "$1" -s xfrm state | awk -v r="$reqid" -v me="$4" '
    /^src/ { from = $2 }
    /proto esp/ { mine = 0; for (k = 1; k < NF; k++) if ($k == "reqid") { id = $(k + 1); sub(/\(.*/, "", id); mine = (id == r) } }
    /^[ \t]+[0-9]+\(bytes\), [0-9]+\(packets\)/ && mine { n = $2; sub(/\(.*/, "", n); if (from == me) tx += n; else rx += n }
    END { print tx + 0, rx + 0 }'
}
# expect_child_esp NAME SRC DST: CHILD_SA NAME's SAs at the site carried at least a ping's 5 packets each way.
expect_child_esp() {
  # shellcheck disable=SC2046
  set -- "$1" $(child_esp site "$2" "$3" "$SITE6")
  echo "CHILD_SA $1 at the site: $2 ESP packets out, $3 in"
  [ "$2" != - ] || lab_fail "no outbound policy of CHILD_SA $1 with a reqid in the site's kernel"
  [ "$2" -ge 5 ] && [ "$3" -ge 5 ] || lab_fail "CHILD_SA $1's ESP SAs did not carry the ping: out=$2 in=$3 (want >= 5 each)"
}

# The wire: everything on the site's wan0 that is ESP or ICMP, while lanhost0 pings srv1 twice.
ip netns exec site dumpcap -P -q -i wan0 -f "esp or icmp or icmp6" -w "$LAB_DIR/wan0.pcap" > "$LAB_DIR/dumpcap.log" 2>&1 &
capture=$!
poll 30 grep -q "Capturing on" "$LAB_DIR/dumpcap.log" || lab_fail "dumpcap did not start capturing on the site's wan0"
echo "\$ ping -6 $SRV1_6   # from lanhost0, through CHILD_SA c"
ip netns exec lanhost0 ping -6 -c 5 -i 0.2 -W 2 "$SRV1_6" || lab_fail "no IPv6 ping from lanhost0 to srv1 ($SRV1_6) through CHILD_SA c"
echo "\$ ping -4 $SRV1_4   # from lanhost0, through CHILD_SA d"
ip netns exec lanhost0 ping -4 -c 5 -i 0.2 -W 2 "$SRV1_4" || lab_fail "no IPv4 ping from lanhost0 to srv1 ($SRV1_4) through CHILD_SA d"
expect_child_esp c "$LAN6" "$SRV6"
expect_child_esp d "$LAN4" "$SRV4"
lab_expect_esp site "$SITE6" "$POP6" 10
lab_expect_esp pop1 "$POP6" "$SITE6" 10
captured() { [ "$(tshark -r "$LAB_DIR/wan0.pcap" -Y "ipv6 && esp" 2>/dev/null | wc -l)" -ge 20 ]; }
poll 10 captured || true
kill -INT "$capture"; wait "$capture" 2>/dev/null || true
cp "$LAB_DIR/wan0.pcap" "$LAB_LOG_DIR/wan0.pcap"
esp6=$(tshark -r "$LAB_DIR/wan0.pcap" -Y "ipv6 && esp" 2>/dev/null | wc -l)
esp4=$(tshark -r "$LAB_DIR/wan0.pcap" -Y "ip && esp" 2>/dev/null | wc -l)
clear=$(tshark -r "$LAB_DIR/wan0.pcap" -Y "icmp.type == 8 || icmpv6.type == 128" 2>/dev/null | wc -l)
echo "on the site's wan0: $esp6 ESP packets over IPv6, $esp4 over IPv4, $clear echo requests in the clear"
[ "$esp6" -ge 20 ] || lab_fail "the site's wan0 carried $esp6 ESP packets over IPv6, fewer than the two pings' 20"
[ "$esp4" -eq 0 ] || lab_fail "the site's wan0 carried $esp4 ESP packets over IPv4"
[ "$clear" -eq 0 ] || lab_fail "$clear echo requests crossed the site's wan0 in the clear"
echo PASS
