#!/bin/sh
# In the lab kernel, on the standard topology: sedge's netlink layer (nl-driver)
# programs the site's route-based tunnel to pop1 (VTI sec-pop1, SAs, 0.0.0.0/0 policies bound
# to the VTI mark, a route); pop1 is keyed with the same keys by `ip xfrm`. The LAN host then
# pings the server behind pop1 through kernel ESP. (Keys are random here: the IKE engine that
# negotiates them is not part of this build yet.)
. "$SEDGE_SOURCE_DIR/tests/lab/lib/lab.sh"
lab_topology
key() { od -An -tx1 -N20 /dev/urandom | tr -d ' \n'; }
kout=$(key); kin=$(key); reqid=0x5ed00001
umask 077
ip netns exec site "$SEDGE_BUILD_DIR/tests/lab/netlink/nl-driver" apply > "$LAB_DIR/report.json" <<EOS
{"links": [{"kind": "vti", "name": "sec-pop1", "local": "198.51.100.2", "remote": "192.0.2.2",
            "ikey": 42, "okey": 42, "address": "169.254.42.1/32"}],
 "sas": [
  {"src": "198.51.100.2", "dst": "192.0.2.2", "spi": "0xc0000101", "reqid": "$reqid", "mark": {"value": 42},
   "aead": {"name": "rfc4106(gcm(aes))", "key": "$kout", "icv": 128}},
  {"src": "192.0.2.2", "dst": "198.51.100.2", "spi": "0xc0000102", "reqid": "$reqid", "mark": {"value": 42},
   "aead": {"name": "rfc4106(gcm(aes))", "key": "$kin", "icv": 128}}],
 "policies": [
  {"src": "0.0.0.0/0", "dst": "0.0.0.0/0", "dir": "out", "mark": {"value": 42},
   "tmpl": [{"src": "198.51.100.2", "dst": "192.0.2.2", "reqid": "$reqid"}]},
  {"src": "0.0.0.0/0", "dst": "0.0.0.0/0", "dir": "in", "mark": {"value": 42},
   "tmpl": [{"src": "192.0.2.2", "dst": "198.51.100.2", "reqid": "$reqid"}]},
  {"src": "0.0.0.0/0", "dst": "0.0.0.0/0", "dir": "fwd", "mark": {"value": 42},
   "tmpl": [{"src": "192.0.2.2", "dst": "198.51.100.2", "reqid": "$reqid"}]}],
 "routes": [{"dst": "10.201.0.0/24", "table": 254, "dev": "sec-pop1"}]}
EOS
cat > "$LAB_DIR/pop1.batch" <<EOB
xfrm state add src 198.51.100.2 dst 192.0.2.2 proto esp spi 0xc0000101 reqid 1 mode tunnel aead rfc4106(gcm(aes)) 0x$kout 128
xfrm state add src 192.0.2.2 dst 198.51.100.2 proto esp spi 0xc0000102 reqid 1 mode tunnel aead rfc4106(gcm(aes)) 0x$kin 128
xfrm policy add src 10.201.0.0/24 dst 10.99.99.0/24 dir out tmpl src 192.0.2.2 dst 198.51.100.2 proto esp mode tunnel reqid 1
xfrm policy add src 10.99.99.0/24 dst 10.201.0.0/24 dir in tmpl src 198.51.100.2 dst 192.0.2.2 proto esp mode tunnel reqid 1
xfrm policy add src 10.99.99.0/24 dst 10.201.0.0/24 dir fwd tmpl src 198.51.100.2 dst 192.0.2.2 proto esp mode tunnel reqid 1
EOB
ip -n pop1 -batch "$LAB_DIR/pop1.batch"; rm -f "$LAB_DIR/pop1.batch"
echo "\$ ip -n site -d link show sec-pop1"
ip -n site -d link show sec-pop1 | sed -n '1,3p'
echo "\$ ip -n site xfrm policy   # installed by sedge"
ip -n site xfrm policy | grep -E "^src|dir|mark|tmpl" | head -9
echo "\$ ip netns exec lanhost0 ping -c 5 10.201.0.10   # LAN host -> server behind pop1"
ip netns exec lanhost0 ping -c 5 -i 0.2 -W 2 10.201.0.10 || lab_fail "no ping through the tunnel"
echo "\$ ip -n site -s xfrm state   # the kernel's ESP counters"
lab_expect_esp site 198.51.100.2 192.0.2.2 5
echo PASS
