#!/bin/sh
# Route-based tunnels: VTI (IPv4) and VTI6 (IPv6) with 0.0.0.0/0 (::/0) policies bound to the
# VTI mark, path table + fwmark rule; the peer is plain policy-based `ip xfrm`. Ping passes
# through ESP both ways; a soft packet limit raises an expire event. And a GRE tunnel (GRE SEC
# connectors) protected by transport-mode ESP on protocol 47, between two other endpoint
# addresses (a VTI claims every ESP packet between its own endpoints, tunnel mode only).
. "$(dirname "$0")/lib.sh"
pair a
lan a-l lan0 10.1.0.1/24 fd00:1::1/64
lan a-r lan0 10.2.0.1/24 fd00:2::1/64
# A branch has a default route out of its WAN, and the VTI an address: loose reverse-path
# filtering (rp_filter 2) then accepts decrypted replies.
ip -n a-l route add default via 192.0.2.2
ip -n a-l addr add 192.0.2.11/24 dev a-wl; ip -n a-r addr add 192.0.2.12/24 dev a-wr
k1=$(key 20); k2=$(key 20); k3=$(key 36); k4=$(key 36); k5=$(key 20); k6=$(key 20)
T4=0x5ed00001; T6=0x5ed00002
driver a-l apply > "$work/report" <<EOS
{"links": [
  {"kind": "vti", "name": "sec-a4", "local": "192.0.2.1", "remote": "192.0.2.2", "ikey": 42, "okey": 42,
   "address": "169.254.42.1/32"},
  {"kind": "vti", "name": "sec-a6", "local": "2001:db8::1", "remote": "2001:db8::2", "ikey": 43, "okey": 43},
  {"kind": "gre", "name": "sec-g4", "local": "192.0.2.11", "remote": "192.0.2.12", "key": 7,
   "addresses": ["10.99.0.1/30"]}],
 "sas": [
  {"src": "192.0.2.1", "dst": "192.0.2.2", "spi": "0xc0000011", "reqid": "$T4", "mark": {"value": 42},
   "aead": {"name": "rfc4106(gcm(aes))", "key": "$k1", "icv": 128}, "lifetime": {"soft_packets": 3}},
  {"src": "192.0.2.2", "dst": "192.0.2.1", "spi": "0xc0000012", "reqid": "$T4", "mark": {"value": 42},
   "aead": {"name": "rfc4106(gcm(aes))", "key": "$k2", "icv": 128}},
  {"src": "2001:db8::1", "dst": "2001:db8::2", "spi": "0xc0000013", "reqid": "$T6", "mark": {"value": 43},
   "aead": {"name": "rfc4106(gcm(aes))", "key": "$k3", "icv": 128}},
  {"src": "2001:db8::2", "dst": "2001:db8::1", "spi": "0xc0000014", "reqid": "$T6", "mark": {"value": 43},
   "aead": {"name": "rfc4106(gcm(aes))", "key": "$k4", "icv": 128}},
  {"src": "192.0.2.11", "dst": "192.0.2.12", "spi": "0xc0000015", "reqid": "0x5ed00003", "mode": "transport",
   "aead": {"name": "rfc4106(gcm(aes))", "key": "$k5", "icv": 128}},
  {"src": "192.0.2.12", "dst": "192.0.2.11", "spi": "0xc0000016", "reqid": "0x5ed00003", "mode": "transport",
   "aead": {"name": "rfc4106(gcm(aes))", "key": "$k6", "icv": 128}}],
 "policies": [
  {"src": "0.0.0.0/0", "dst": "0.0.0.0/0", "dir": "out", "mark": {"value": 42},
   "tmpl": [{"src": "192.0.2.1", "dst": "192.0.2.2", "reqid": "$T4"}]},
  {"src": "0.0.0.0/0", "dst": "0.0.0.0/0", "dir": "in", "mark": {"value": 42},
   "tmpl": [{"src": "192.0.2.2", "dst": "192.0.2.1", "reqid": "$T4"}]},
  {"src": "0.0.0.0/0", "dst": "0.0.0.0/0", "dir": "fwd", "mark": {"value": 42},
   "tmpl": [{"src": "192.0.2.2", "dst": "192.0.2.1", "reqid": "$T4"}]},
  {"src": "::/0", "dst": "::/0", "dir": "out", "mark": {"value": 43},
   "tmpl": [{"src": "2001:db8::1", "dst": "2001:db8::2", "reqid": "$T6"}]},
  {"src": "::/0", "dst": "::/0", "dir": "in", "mark": {"value": 43},
   "tmpl": [{"src": "2001:db8::2", "dst": "2001:db8::1", "reqid": "$T6"}]},
  {"src": "::/0", "dst": "::/0", "dir": "fwd", "mark": {"value": 43},
   "tmpl": [{"src": "2001:db8::2", "dst": "2001:db8::1", "reqid": "$T6"}]},
  {"src": "192.0.2.11/32", "dst": "192.0.2.12/32", "proto": 47, "dir": "out",
   "tmpl": [{"mode": "transport", "reqid": "0x5ed00003"}]},
  {"src": "192.0.2.12/32", "dst": "192.0.2.11/32", "proto": 47, "dir": "in",
   "tmpl": [{"mode": "transport", "reqid": "0x5ed00003"}]}],
 "routes": [
  {"dst": "10.2.0.0/24", "table": "$T4", "dev": "sec-a4"},
  {"dst": "fd00:2::/64", "table": "$T6", "dev": "sec-a6"}],
 "rules": [
  {"family": 4, "priority": 10000, "fwmark": "0x100", "table": "$T4"},
  {"family": 6, "priority": 10001, "fwmark": "0x101", "table": "$T6"}]}
EOS
cat "$work/report"
cat > "$work/right.batch" <<EOB
xfrm state add src 192.0.2.1 dst 192.0.2.2 proto esp spi 0xc0000011 reqid 1 mode tunnel aead rfc4106(gcm(aes)) 0x$k1 128
xfrm state add src 192.0.2.2 dst 192.0.2.1 proto esp spi 0xc0000012 reqid 1 mode tunnel aead rfc4106(gcm(aes)) 0x$k2 128
xfrm state add src 2001:db8::1 dst 2001:db8::2 proto esp spi 0xc0000013 reqid 2 mode tunnel aead rfc4106(gcm(aes)) 0x$k3 128
xfrm state add src 2001:db8::2 dst 2001:db8::1 proto esp spi 0xc0000014 reqid 2 mode tunnel aead rfc4106(gcm(aes)) 0x$k4 128
xfrm policy add src 10.2.0.0/24 dst 10.1.0.0/24 dir out tmpl src 192.0.2.2 dst 192.0.2.1 proto esp mode tunnel reqid 1
xfrm policy add src 10.1.0.0/24 dst 10.2.0.0/24 dir in tmpl src 192.0.2.1 dst 192.0.2.2 proto esp mode tunnel reqid 1
xfrm policy add src fd00:2::/64 dst fd00:1::/64 dir out tmpl src 2001:db8::2 dst 2001:db8::1 proto esp mode tunnel reqid 2
xfrm policy add src fd00:1::/64 dst fd00:2::/64 dir in tmpl src 2001:db8::1 dst 2001:db8::2 proto esp mode tunnel reqid 2
route add 10.1.0.0/24 dev a-wr src 10.2.0.1
route add fd00:1::/64 dev a-wr src fd00:2::1
xfrm state add src 192.0.2.11 dst 192.0.2.12 proto esp spi 0xc0000015 reqid 3 mode transport aead rfc4106(gcm(aes)) 0x$k5 128
xfrm state add src 192.0.2.12 dst 192.0.2.11 proto esp spi 0xc0000016 reqid 3 mode transport aead rfc4106(gcm(aes)) 0x$k6 128
xfrm policy add src 192.0.2.12/32 dst 192.0.2.11/32 proto gre dir out tmpl proto esp mode transport reqid 3
xfrm policy add src 192.0.2.11/32 dst 192.0.2.12/32 proto gre dir in tmpl proto esp mode transport reqid 3
link add g4 type gre local 192.0.2.12 remote 192.0.2.11 key 7
addr add 10.99.0.2/30 dev g4
link set g4 up
EOB
right a-r

# What a network engineer sees on the sedge side.
ip -n a-l xfrm state | grep -q 'mark 0x2a/0xffffffff' || fail "SA mark missing"
ip -n a-l xfrm policy | grep -q 'src 0.0.0.0/0 dst 0.0.0.0/0' || fail "0/0 policy missing"
ip -n a-l -d link show sec-a4 | grep -q 'vti remote 192.0.2.2 local 192.0.2.1 ikey 0.0.0.42 okey 0.0.0.42' \
  || { ip -n a-l -d link show sec-a4; fail "VTI parameters"; }
[ "$(ip netns exec a-l cat /proc/sys/net/ipv4/conf/sec-a4/disable_policy)" = 1 ] || fail "disable_policy"
[ "$(ip netns exec a-l cat /proc/sys/net/ipv4/conf/sec-a4/rp_filter)" = 2 ] || fail "rp_filter"
ip -n a-l route show table all | grep -q "10.2.0.0/24 dev sec-a4 table $((T4)) proto 83" \
  || { ip -n a-l route show table all; fail "path route"; }
ip -n a-l rule | grep -q "10000:	from all fwmark 0x100 lookup $((T4)) proto 83" || { ip -n a-l rule; fail "rule"; }

# Soft expire: the out SA has a soft limit of 3 packets.
driver a-l events 1 30 > "$work/events" 2>&1 &
ev=$!
wait_line "$work/events" listening 30 || fail "event listener did not start"

ip -n a-l -d link show sec-g4 | grep -q 'gre remote 192.0.2.12 local 192.0.2.11 ttl 64.*ikey 0.0.0.7 okey 0.0.0.7' \
  || { ip -n a-l -d link show sec-g4; fail "GRE parameters"; }
ip netns exec a-l ping -q -c 2 -i 0.2 -W 2 10.99.0.2 || fail "ping over GRE in transport-mode ESP"
# At least the two echoes: the GRE device may send its own packets (IPv6 neighbour discovery)
# through the same SA.
gre_packets=$(driver a-l sa 192.0.2.12 0xc0000015 | sed -n 's/.*"packets":\([0-9]*\).*/\1/p')
[ "${gre_packets:-0}" -ge 2 ] || fail "GRE did not go through the transport-mode SA (${gre_packets:-no} packets)"
ip -n a-l xfrm policy | grep -q 'src 192.0.2.11/32 dst 192.0.2.12/32 proto gre' || fail "transport policy not shown"

ip netns exec a-l ping -q -c 5 -i 0.2 -W 2 -m 256 -I 10.1.0.1 10.2.0.1 || fail "IPv4 ping over VTI"
ip netns exec a-l ping -q -6 -c 3 -i 0.2 -W 2 -m 257 -I fd00:1::1 fd00:2::1 || fail "IPv6 ping over VTI6"

wait "$ev" || { cat "$work/events"; fail "no soft expire event"; }
grep -q "expire soft spi 0xc0000011 reqid 0x5ed00001" "$work/events" || { cat "$work/events"; fail "wrong event"; }
echo "event: $(grep expire "$work/events")"

# The packets went through ESP: counters on both sides.
# At least the echoes: the tunnel devices may also send their own IPv6 neighbour discovery or
# MLD through the 0/0 policies, so exact counts would vary with timing.
sa_packets() { driver a-l sa "$1" "$2" "$3" | sed -n 's/.*"packets":\([0-9]*\).*/\1/p'; }
out=$(driver a-l sa 192.0.2.2 0xc0000011 42); echo "out SA: $out"
[ "$(sa_packets 192.0.2.2 0xc0000011 42)" -ge 5 ] || fail "out SA counters"
[ "$(sa_packets 192.0.2.1 0xc0000012 42)" -ge 5 ] || fail "in SA counters"
[ "$(sa_packets 2001:db8::2 0xc0000013 43)" -ge 3 ] || fail "IPv6 out SA counters"
echo "route-based: ok"
