#!/bin/sh
# Policy-based tunnels (no VTI): IPv4 with cbc(aes)+hmac(sha256) and ESN, IPv6 with NULL
# encryption + hmac(sha512), and NAT-T (ESP in UDP 4500) over IPv4 and IPv6. The sedge side
# runs as a daemon holding the UDP_ENCAP sockets; the peer is programmed by `ip xfrm`. The
# peer's IPv4 NAT-T SA sends from port 4501, as if a NAT had changed it: the kernel reports
# the new mapping as an event.
. "$(dirname "$0")/lib.sh"
pair b
lan b-l lan0 10.3.0.1/24 10.5.0.1/24 fd00:3::1/64 fd00:5::1/64
lan b-r lan0 10.4.0.1/24 10.6.0.1/24 fd00:4::1/64 fd00:6::1/64
e1=$(key 32); a1=$(key 32); e2=$(key 32); a2=$(key 32)
a3=$(key 64); a4=$(key 64); k5=$(key 20); k6=$(key 20); k7=$(key 28); k8=$(key 28)
R=0x5ed00010
driver b-l daemon > "$work/daemon" 2>&1 <<EOS &
{"encap_port": 4500,
 "sas": [
  {"src": "192.0.2.1", "dst": "192.0.2.2", "spi": "0xc0000021", "reqid": "$R", "esn": true, "replay_window": 128,
   "crypt": {"name": "cbc(aes)", "key": "$e1"}, "auth": {"name": "hmac(sha256)", "key": "$a1", "trunc": 128}},
  {"src": "192.0.2.2", "dst": "192.0.2.1", "spi": "0xc0000022", "reqid": "$R", "esn": true, "replay_window": 128,
   "crypt": {"name": "cbc(aes)", "key": "$e2"}, "auth": {"name": "hmac(sha256)", "key": "$a2", "trunc": 128}},
  {"src": "2001:db8::1", "dst": "2001:db8::2", "spi": "0xc0000023", "reqid": "0x5ed00011",
   "crypt": {"name": "ecb(cipher_null)", "key": ""}, "auth": {"name": "hmac(sha512)", "key": "$a3", "trunc": 256}},
  {"src": "2001:db8::2", "dst": "2001:db8::1", "spi": "0xc0000024", "reqid": "0x5ed00011",
   "crypt": {"name": "ecb(cipher_null)", "key": ""}, "auth": {"name": "hmac(sha512)", "key": "$a4", "trunc": 256}},
  {"src": "192.0.2.1", "dst": "192.0.2.2", "spi": "0xc0000025", "reqid": "0x5ed00012", "encap": {"sport": 4500, "dport": 4500},
   "aead": {"name": "rfc4106(gcm(aes))", "key": "$k5", "icv": 128}},
  {"src": "192.0.2.2", "dst": "192.0.2.1", "spi": "0xc0000026", "reqid": "0x5ed00012", "encap": {"sport": 4500, "dport": 4500},
   "aead": {"name": "rfc4106(gcm(aes))", "key": "$k6", "icv": 128}},
  {"src": "2001:db8::1", "dst": "2001:db8::2", "spi": "0xc0000027", "reqid": "0x5ed00013", "encap": {"sport": 4500, "dport": 4500},
   "aead": {"name": "rfc4106(gcm(aes))", "key": "$k7", "icv": 128}},
  {"src": "2001:db8::2", "dst": "2001:db8::1", "spi": "0xc0000028", "reqid": "0x5ed00013", "encap": {"sport": 4500, "dport": 4500},
   "aead": {"name": "rfc4106(gcm(aes))", "key": "$k8", "icv": 128}}],
 "policies": [
  {"src": "10.3.0.0/24", "dst": "10.4.0.0/24", "dir": "out", "tmpl": [{"src": "192.0.2.1", "dst": "192.0.2.2", "reqid": "$R"}]},
  {"src": "10.4.0.0/24", "dst": "10.3.0.0/24", "dir": "in", "tmpl": [{"src": "192.0.2.2", "dst": "192.0.2.1", "reqid": "$R"}]},
  {"src": "10.4.0.0/24", "dst": "10.3.0.0/24", "dir": "fwd", "tmpl": [{"src": "192.0.2.2", "dst": "192.0.2.1", "reqid": "$R"}]},
  {"src": "fd00:3::/64", "dst": "fd00:4::/64", "dir": "out", "tmpl": [{"src": "2001:db8::1", "dst": "2001:db8::2", "reqid": "0x5ed00011"}]},
  {"src": "fd00:4::/64", "dst": "fd00:3::/64", "dir": "in", "tmpl": [{"src": "2001:db8::2", "dst": "2001:db8::1", "reqid": "0x5ed00011"}]},
  {"src": "10.5.0.0/24", "dst": "10.6.0.0/24", "dir": "out", "tmpl": [{"src": "192.0.2.1", "dst": "192.0.2.2", "reqid": "0x5ed00012"}]},
  {"src": "10.6.0.0/24", "dst": "10.5.0.0/24", "dir": "in", "tmpl": [{"src": "192.0.2.2", "dst": "192.0.2.1", "reqid": "0x5ed00012"}]},
  {"src": "fd00:5::/64", "dst": "fd00:6::/64", "dir": "out", "tmpl": [{"src": "2001:db8::1", "dst": "2001:db8::2", "reqid": "0x5ed00013"}]},
  {"src": "fd00:6::/64", "dst": "fd00:5::/64", "dir": "in", "tmpl": [{"src": "2001:db8::2", "dst": "2001:db8::1", "reqid": "0x5ed00013"}]}],
 "routes": [
  {"dst": "10.4.0.0/24", "table": 254, "dev": "b-wl", "src": "10.3.0.1"},
  {"dst": "10.6.0.0/24", "table": 254, "dev": "b-wl", "src": "10.5.0.1"},
  {"dst": "fd00:4::/64", "table": 254, "dev": "b-wl", "src": "fd00:3::1"},
  {"dst": "fd00:6::/64", "table": 254, "dev": "b-wl", "src": "fd00:5::1"}]}
EOS
daemon=$!
wait_line "$work/daemon" ready 30 || { cat "$work/daemon"; fail "daemon did not start"; }
cat > "$work/right.batch" <<EOB
xfrm state add src 192.0.2.1 dst 192.0.2.2 proto esp spi 0xc0000021 reqid 1 mode tunnel flag esn replay-window 128 enc cbc(aes) 0x$e1 auth-trunc hmac(sha256) 0x$a1 128
xfrm state add src 192.0.2.2 dst 192.0.2.1 proto esp spi 0xc0000022 reqid 1 mode tunnel flag esn replay-window 128 enc cbc(aes) 0x$e2 auth-trunc hmac(sha256) 0x$a2 128
xfrm state add src 2001:db8::1 dst 2001:db8::2 proto esp spi 0xc0000023 reqid 2 mode tunnel enc ecb(cipher_null) "" auth-trunc hmac(sha512) 0x$a3 256
xfrm state add src 2001:db8::2 dst 2001:db8::1 proto esp spi 0xc0000024 reqid 2 mode tunnel enc ecb(cipher_null) "" auth-trunc hmac(sha512) 0x$a4 256
xfrm state add src 192.0.2.1 dst 192.0.2.2 proto esp spi 0xc0000025 reqid 3 mode tunnel aead rfc4106(gcm(aes)) 0x$k5 128 encap espinudp 4500 4500 0.0.0.0
xfrm state add src 192.0.2.2 dst 192.0.2.1 proto esp spi 0xc0000026 reqid 3 mode tunnel aead rfc4106(gcm(aes)) 0x$k6 128 encap espinudp 4501 4500 0.0.0.0
xfrm state add src 2001:db8::1 dst 2001:db8::2 proto esp spi 0xc0000027 reqid 4 mode tunnel aead rfc4106(gcm(aes)) 0x$k7 128 encap espinudp 4500 4500 ::
xfrm state add src 2001:db8::2 dst 2001:db8::1 proto esp spi 0xc0000028 reqid 4 mode tunnel aead rfc4106(gcm(aes)) 0x$k8 128 encap espinudp 4500 4500 ::
xfrm policy add src 10.4.0.0/24 dst 10.3.0.0/24 dir out tmpl src 192.0.2.2 dst 192.0.2.1 proto esp mode tunnel reqid 1
xfrm policy add src 10.3.0.0/24 dst 10.4.0.0/24 dir in tmpl src 192.0.2.1 dst 192.0.2.2 proto esp mode tunnel reqid 1
xfrm policy add src fd00:4::/64 dst fd00:3::/64 dir out tmpl src 2001:db8::2 dst 2001:db8::1 proto esp mode tunnel reqid 2
xfrm policy add src fd00:3::/64 dst fd00:4::/64 dir in tmpl src 2001:db8::1 dst 2001:db8::2 proto esp mode tunnel reqid 2
xfrm policy add src 10.6.0.0/24 dst 10.5.0.0/24 dir out tmpl src 192.0.2.2 dst 192.0.2.1 proto esp mode tunnel reqid 3
xfrm policy add src 10.5.0.0/24 dst 10.6.0.0/24 dir in tmpl src 192.0.2.1 dst 192.0.2.2 proto esp mode tunnel reqid 3
xfrm policy add src fd00:6::/64 dst fd00:5::/64 dir out tmpl src 2001:db8::2 dst 2001:db8::1 proto esp mode tunnel reqid 4
xfrm policy add src fd00:5::/64 dst fd00:6::/64 dir in tmpl src 2001:db8::1 dst 2001:db8::2 proto esp mode tunnel reqid 4
route add 10.3.0.0/24 dev b-wr src 10.4.0.1
route add 10.5.0.0/24 dev b-wr src 10.6.0.1
route add fd00:3::/64 dev b-wr src fd00:4::1
route add fd00:5::/64 dev b-wr src fd00:6::1
EOB
right b-r
driver b-r encap-socket 4500 > "$work/encap" 2>&1 &
encap=$!
wait_line "$work/encap" ready 30 || fail "peer encap socket"

ip -n b-l xfrm state | grep -q 'flag esn' || { ip -n b-l xfrm state; fail "ESN flag not shown"; }
ip -n b-l xfrm state | grep -q 'encap type espinudp sport 4500 dport 4500' || fail "encap not shown"
ip -n b-l route | grep -q '10.4.0.0/24 dev b-wl proto 83 scope link src 10.3.0.1' || { ip -n b-l route; fail "route"; }

ip netns exec b-l ping -q -c 4 -i 0.2 -W 2 -I 10.3.0.1 10.4.0.1 || fail "IPv4 policy-based ping (cbc+sha256, ESN)"
ip netns exec b-l ping -q -6 -c 3 -i 0.2 -W 2 -I fd00:3::1 fd00:4::1 || fail "IPv6 policy-based ping (null+sha512)"
driver b-l events 1 30 > "$work/events" 2>&1 &
ev=$!
wait_line "$work/events" listening 30 || fail "event listener did not start"
udp_before=$(ip netns exec b-r nstat -az UdpInDatagrams | awk '/UdpInDatagrams/{print $2}')
ip netns exec b-l ping -q -c 3 -i 0.2 -W 2 -I 10.5.0.1 10.6.0.1 || fail "NAT-T ping"
udp_after=$(ip netns exec b-r nstat -az UdpInDatagrams | awk '/UdpInDatagrams/{print $2}')
udp6_before=$(ip netns exec b-r nstat -az Udp6InDatagrams | awk '/Udp6InDatagrams/{print $2}')
ip netns exec b-l ping -q -6 -c 3 -i 0.2 -W 2 -I fd00:5::1 fd00:6::1 || fail "IPv6 NAT-T ping"
udp6_after=$(ip netns exec b-r nstat -az Udp6InDatagrams | awk '/Udp6InDatagrams/{print $2}')
wait "$ev" || { cat "$work/events"; fail "no mapping event"; }
grep -q "mapping spi 0xc0000026 192.0.2.2:4500 -> 192.0.2.2:4501" "$work/events" || { cat "$work/events"; fail "wrong mapping event"; }
echo "event: $(grep mapping "$work/events")"

driver b-l sa 192.0.2.2 0xc0000021 | grep -q '"packets":4' || fail "ESN SA counters"
driver b-l sa 2001:db8::2 0xc0000023 | grep -q '"packets":3' || fail "IPv6 SA counters"
driver b-l sa 192.0.2.2 0xc0000025 | grep -q '"packets":3' || fail "NAT-T SA counters"
driver b-l sa 2001:db8::2 0xc0000027 | grep -q '"packets":3' || fail "IPv6 NAT-T SA counters"
[ $((udp_after - udp_before)) -ge 3 ] || fail "the NAT-T packets did not arrive in UDP ($udp_before -> $udp_after)"
[ $((udp6_after - udp6_before)) -ge 3 ] || fail "the IPv6 NAT-T packets did not arrive in UDP ($udp6_before -> $udp6_after)"
echo "ESP in UDP datagrams at the peer: IPv4 $((udp_after - udp_before)), IPv6 $((udp6_after - udp6_before))"
kill "$daemon" "$encap" 2>/dev/null || true
echo "policy-based and NAT-T: ok"
