#!/bin/sh
# Steering end to end in the lab kernel: lan0's traffic to the "web" application goes down the
# Cloud profile's active path (a VTI to pop1, else to pop2), lan1's goes to pop2 first (profile
# Cloud-B), everything else breaks out through wan0. The primary is then taken out of service with one map write while a LAN host
# pings every 10 ms: at most one echo may be lost, and the classifier's counters match the
# packets sent. bpftool shows the program and its maps.
. "$SEDGE_SOURCE_DIR/tests/lab/lib/lab.sh"
lab_topology
B=$SEDGE_BUILD_DIR
key() { od -An -tx1 -N20 /dev/urandom | tr -d ' \n'; }
umask 077

# Two route-based SEC paths from the site (sedge's netlink layer), each POP keyed with the same
# keys by ip xfrm and masquerading the site's LAN towards the Internet.
sa() {  # pop_addr okey out_key in_key spi_out spi_in
  cat <<EOS
  {"src": "198.51.100.2", "dst": "$1", "spi": "$5", "reqid": "0x5ed0000$2", "mark": {"value": $2},
   "aead": {"name": "rfc4106(gcm(aes))", "key": "$3", "icv": 128}},
  {"src": "$1", "dst": "198.51.100.2", "spi": "$6", "reqid": "0x5ed0000$2", "mark": {"value": $2},
   "aead": {"name": "rfc4106(gcm(aes))", "key": "$4", "icv": 128}},
EOS
}
pol() {  # pop_addr okey
  for d in out in fwd; do
    if [ $d = out ]; then s=198.51.100.2; t=$1; else s=$1; t=198.51.100.2; fi
    printf '  {"src": "0.0.0.0/0", "dst": "0.0.0.0/0", "dir": "%s", "mark": {"value": %s}, "tmpl": [{"src": "%s", "dst": "%s", "reqid": "0x5ed0000%s"}]},\n' $d $2 $s $t $2
  done
}
k1o=$(key); k1i=$(key); k2o=$(key); k2i=$(key)
{
  echo '{"links": ['
  echo '  {"kind": "vti", "name": "sec-pop1", "local": "198.51.100.2", "remote": "192.0.2.2", "ikey": 1, "okey": 1, "address": "169.254.1.1/32"},'
  echo '  {"kind": "vti", "name": "sec-pop2", "local": "198.51.100.2", "remote": "192.0.2.18", "ikey": 2, "okey": 2, "address": "169.254.2.1/32"}],'
  echo ' "sas": ['
  sa 192.0.2.2 1 "$k1o" "$k1i" 0xc0000201 0xc0000202
  sa 192.0.2.18 2 "$k2o" "$k2i" 0xc0000203 0xc0000204 | sed '$ s/},$/}/'
  echo '], "policies": ['
  { pol 192.0.2.2 1; pol 192.0.2.18 2; } | sed '$ s/},$/}/'
  echo ']}'
} > "$LAB_DIR/site.json"
ip netns exec site "$B/tests/lab/netlink/nl-driver" apply < "$LAB_DIR/site.json" > "$LAB_DIR/nl.log" || { cat "$LAB_DIR/nl.log"; lab_fail "nl-driver"; }
rm -f "$LAB_DIR/site.json"
pop() {  # ns pop_addr spi_in spi_out key_in key_out
  cat > "$LAB_DIR/$1.batch" <<EOB
xfrm state add src 198.51.100.2 dst $2 proto esp spi $3 reqid 1 mode tunnel aead rfc4106(gcm(aes)) 0x$5 128
xfrm state add src $2 dst 198.51.100.2 proto esp spi $4 reqid 1 mode tunnel aead rfc4106(gcm(aes)) 0x$6 128
xfrm policy add src 0.0.0.0/0 dst 10.99.99.0/24 dir out tmpl src $2 dst 198.51.100.2 proto esp mode tunnel reqid 1
xfrm policy add src 10.99.99.0/24 dst 0.0.0.0/0 dir in tmpl src 198.51.100.2 dst $2 proto esp mode tunnel reqid 1
xfrm policy add src 10.99.99.0/24 dst 0.0.0.0/0 dir fwd tmpl src 198.51.100.2 dst $2 proto esp mode tunnel reqid 1
xfrm policy add src 0.0.0.0/0 dst 10.88.88.0/24 dir out tmpl src $2 dst 198.51.100.2 proto esp mode tunnel reqid 1
xfrm policy add src 10.88.88.0/24 dst 0.0.0.0/0 dir in tmpl src 198.51.100.2 dst $2 proto esp mode tunnel reqid 1
xfrm policy add src 10.88.88.0/24 dst 0.0.0.0/0 dir fwd tmpl src 198.51.100.2 dst $2 proto esp mode tunnel reqid 1
EOB
  ip -n "$1" -batch "$LAB_DIR/$1.batch"; rm -f "$LAB_DIR/$1.batch"
  ip netns exec "$1" iptables-legacy -t nat -A POSTROUTING -o "wan" -s 10.99.99.0/24 -j MASQUERADE
  ip netns exec "$1" iptables-legacy -t nat -A POSTROUTING -o "wan" -s 10.88.88.0/24 -j MASQUERADE
}
pop pop1 192.0.2.2 0xc0000201 0xc0000202 "$k1o" "$k1i"
pop pop2 192.0.2.18 0xc0000203 0xc0000204 "$k2o" "$k2i"
# Local breakout: the branch masquerades its LAN on the WAN.
ip netns exec site iptables-legacy -t nat -A POSTROUTING -o "wan0" -j MASQUERADE

# The classifier's maps are pinned on a bpffs of the scenario's own.
PIN=/run/sedge-bpf/sedge
mkdir -p /run/sedge-bpf && mount -t bpf bpf /run/sedge-bpf

# The steering configuration, in sedge's own format.
mkdir -p "$LAB_DIR/etc/sedge.conf.d"
printf 'Lab-key-1' > "$LAB_DIR/etc/site.psk"
cat > "$LAB_DIR/etc/sedge.conf" <<EOC
[Interface wan0]
Role=wan
[Interface lan0]
Role=lan
Network=10.99.99.0/24
[Interface lan1]
Role=lan
Network=10.88.88.0/24
[Connector pops]
LocalId=site1@example.com
PresharedKeyFile=$LAB_DIR/etc/site.psk
[Tunnel pop1]
Connector=pops
Wan=wan0
Remote=192.0.2.2
[Tunnel pop2]
Connector=pops
Role=secondary
Wan=wan0
Remote=192.0.2.18
[Application web]
Destination=192.0.2.34/32
Protocol=icmp
[SteeringProfile Cloud]
Path=pop1
Path=pop2
[SteeringProfile Cloud-B]
Path=pop2
Path=pop1
[Policy web-via-cloud]
Source=lan0
Application=web
Profile=Cloud
[Policy lan1-web-via-cloud-b]
Source=lan1
Application=web
Profile=Cloud-B
EOC
ip netns exec site "$B/agent/steering/sedge-steer" apply --config-dir "$LAB_DIR/etc" --pin $PIN \
  --path pop1=sec-pop1 --path pop2=sec-pop2 | tee "$LAB_DIR/apply.log" || lab_fail "sedge-steer apply"
profile=$(awk '$1 == "profile" && $2 == "Cloud" {print $4}' "$LAB_DIR/apply.log")
rule=$(awk '/^rule web-via-cloud\/web/{print $4}' "$LAB_DIR/apply.log")
steer() { ip netns exec site "$B/agent/steering/sedge-steer" --pin $PIN "$@"; }
echo "\$ ip rule / ip route show table all proto 83   # sedge"
ip -n site rule | grep 0x5e
ip -n site route show table all proto 83
echo "\$ bpftool prog show / map dump"
ip netns exec site bpftool prog show name sedge_steer | head -2
for lan in lan0 lan1; do
  ip netns exec site bpftool net show dev $lan 2>/dev/null | grep -i sedge || lab_fail "the classifier is not attached at $lan ingress"
done
ip netns exec site bpftool map dump pinned $PIN/steer_profiles_$(ip netns exec site bpftool map dump pinned $PIN/steer_state | grep -o '"generation": [01]' | tail -c 2) | head -12

echo "== the application goes to pop1; other traffic breaks out"
p1=$(lab_esp_packets site 192.0.2.2); p2=$(lab_esp_packets site 192.0.2.18)
ip netns exec lanhost0 ping -c 3 -i 0.2 -W 2 192.0.2.34 || lab_fail "web unreachable through pop1"
[ "$(lab_esp_packets site 192.0.2.2)" -ge $((p1 + 3)) ] || lab_fail "the web application did not go through pop1"
[ "$(lab_esp_packets site 192.0.2.18)" -eq "$p2" ] || lab_fail "traffic leaked to pop2"
p1=$(lab_esp_packets site 192.0.2.2)
ip netns exec lanhost0 ping -c 3 -i 0.2 -W 2 192.0.2.17 || lab_fail "breakout traffic did not reach the Internet"
[ "$(lab_esp_packets site 192.0.2.2)" -eq "$p1" ] || lab_fail "breakout traffic went into the tunnel"
echo "== the second LAN network has its own policy: its web traffic goes to pop2"
ip netns exec lanhost1 ping -c 3 -i 0.2 -W 2 192.0.2.34 || lab_fail "web unreachable from lan1"
[ "$(lab_esp_packets site 192.0.2.18)" -ge $((p2 + 3)) ] || lab_fail "lan1's web traffic did not go through pop2"
[ "$(lab_esp_packets site 192.0.2.2)" -eq "$p1" ] || lab_fail "lan1's web traffic went to pop1"
p2=$(lab_esp_packets site 192.0.2.18)

echo "== failover under a 10 ms ping: one map write"
before=$(steer counter rule "$rule" | cut -d' ' -f1)
ip netns exec lanhost0 ping -i 0.01 -c 400 -W 1 192.0.2.34 > "$LAB_DIR/ping.log" 2>&1 &
pinger=$!
sleep 1.5
steer set-active "$profile" 1 || lab_fail "set-active"
wait $pinger || true
tail -2 "$LAB_DIR/ping.log"
sent=$(awk '/packets transmitted/{print $1}' "$LAB_DIR/ping.log")
got=$(awk '/packets transmitted/{print $4}' "$LAB_DIR/ping.log")
echo "sent $sent, received $got, lost $((sent - got))"
[ $((sent - got)) -le 1 ] || lab_fail "failover lost $((sent - got)) echoes (at most 1 allowed)"
[ "$(lab_esp_packets site 192.0.2.18)" -gt "$p2" ] || lab_fail "nothing went to pop2 after failover"
after=$(steer counter rule "$rule" | cut -d' ' -f1)
echo "rule web-via-cloud counted $((after - before)) packets for $sent echo requests"
[ $((after - before)) -eq "$sent" ] || lab_fail "the rule counter does not match the packets sent"
echo PASS
