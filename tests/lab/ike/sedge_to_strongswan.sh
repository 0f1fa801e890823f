#!/bin/sh
# sedge's own IKEv2 initiator (sedge-connect, from sedge's configuration) to a strongSwan
# responder at pop1 with the seed's Secure Edge profile: PSK, aes128gcm16-prfsha256-modp2048,
# ESP aes128gcm16, local ID site1@example.com, remote ID an FQDN. The CHILD_SA goes into the
# kernel through sedge's netlink layer; a LAN host pings the server behind pop1 through ESP.
# With LAB_NAT=1 the site's wan0 sits behind a masquerading NAT, as branches do: NAT is detected,
# IKE floats to UDP 4500 (non-ESP marker) and ESP is encapsulated in UDP. With LAB_DPD=1 the POP
# then dies, and sedge's liveness checks must find it dead and remove the tunnel's objects.
. "$SEDGE_SOURCE_DIR/tests/lab/lib/lab.sh"
. "$SEDGE_SOURCE_DIR/tests/lab/pops/seed_peers.sh"
if [ "${LAB_NAT:-0}" = 1 ]; then lab_topology nat=wan0; SITE_WAN=100.64.0.2; else lab_topology; SITE_WAN=198.51.100.2; fi
pop1_strongswan
# tshark's IKEv2 dissector, which owes nothing to sedge, reads the exchange captured at pop1
# (in the plain variant; the NAT and DPD variants test other things).
tshark_check=0
[ "${LAB_NAT:-0}${LAB_DPD:-0}" = 00 ] && tshark_check=1
if [ $tshark_check = 1 ]; then
  ike_capture_start pop1
fi
extra=""
if [ "${LAB_DPD:-0}" = 1 ]; then extra=$(printf 'DpdIntervalSec=2\nDpdTimeoutSec=6'); fi
# The plain variant also writes the keys for Wireshark (KeyLogDirectory=), which tshark must
# then decrypt the IKE_AUTH exchange and the ESP traffic with.
if [ $tshark_check = 1 ]; then extra=$(printf '[Agent]\nKeyLogDirectory=%s/keys' "$LAB_DIR"); mkdir -p "$LAB_DIR/keys"; fi
site_sedge "$extra"
wait_for_line "$LAB_DIR/connect.log" "up:" || true
cat "$LAB_DIR/connect.log"
grep -q "tunnel site1-primary up:" "$LAB_DIR/connect.log" || lab_fail "sedge did not bring the tunnel up"
if [ $tshark_check = 1 ]; then
  # Both exchanges, both directions, on disk before the capture stops.
  ike_capture_stop 4
  echo "\$ tshark -r ike.pcap   # IKE as tshark's dissector sees it"
  tshark -r "$LAB_DIR/ike.pcap" 2>/dev/null | tee "$LAB_DIR/ike.txt" | head -6
  tshark -r "$LAB_DIR/ike.pcap" -V 2>/dev/null > "$LAB_DIR/ike-verbose.txt"
  grep -q "IKE_SA_INIT" "$LAB_DIR/ike.txt" && grep -q "IKE_AUTH" "$LAB_DIR/ike.txt" || lab_fail "tshark did not see both exchanges"
  ! grep -qi "malformed\|Expert Info (Error" "$LAB_DIR/ike-verbose.txt" || lab_fail "tshark reports malformed IKE packets"
  cp "$LAB_DIR/ike.pcap" "$LAB_LOG_DIR/ike.pcap"
  grep -q "Payload: Nonce (40)" "$LAB_DIR/ike-verbose.txt" || lab_fail "tshark found no Nonce payload"
  # tshark decrypts with the key log on the host (lab.ike_keylog_decrypt): libgcrypt's AVX code
  # paths, which this guest cannot run, are what decrypts.
  grep -q "!! WARNING: WRITING IKE AND ESP KEYS" "$LAB_DIR/connect.log" || lab_fail "the key log was opened without its warning"
  cp "$LAB_DIR/keys/ikev2_decryption_table" "$LAB_DIR/keys/esp_sa" "$LAB_LOG_DIR/"  # lab keys only
  ip netns exec pop1 dumpcap -P -q -i wan -f esp -w "$LAB_DIR/esp.pcap" > "$LAB_DIR/tshark-esp.log" 2>&1 &
  esp_capture=$!
  for _ in $(seq 300); do grep -q "Capturing on" "$LAB_DIR/tshark-esp.log" && break; sleep 0.1; done
fi
echo "\$ swanctl --list-sas   # at pop1 (strongSwan)"
lab_swanctl pop1 --list-sas | grep -E "ESTABLISHED|INSTALLED|site1@example.com|AES_GCM" || lab_fail "strongSwan shows no SA"
lab_swanctl pop1 --list-sas | grep -q "ESTABLISHED" || lab_fail "strongSwan's IKE SA is not established"
echo "\$ ip -n site xfrm state   # installed by sedge"
ip -n site xfrm state | grep -E "^src|proto esp"   # (keys not shown)
ip netns exec lanhost0 ping -c 5 -i 0.2 -W 2 10.201.0.10 || lab_fail "no ping from the LAN host to srv1 through the tunnel"
lab_expect_esp site "$SITE_WAN" 192.0.2.2 5
if [ $tshark_check = 1 ]; then
  sleep 0.5; kill -INT "$esp_capture"; wait "$esp_capture" 2>/dev/null || true
  cp "$LAB_DIR/esp.pcap" "$LAB_LOG_DIR/esp.pcap"
fi
lab_expect_esp pop1 192.0.2.2 198.51.100.2 5
if [ "${LAB_NAT:-0}" = 1 ]; then
  expect_natt site "$LAB_DIR/connect.log"
  # The responder's side: strongSwan saw the NAT in front of sedge and encapsulates too.
  expect_natt pop1
  grep -q "remote host is behind NAT" "$LAB_DIR/pop1/charon.log" || lab_fail "strongSwan did not detect the NAT in front of sedge"
  lab_swanctl pop1 --list-sas | grep -E "198.51.100.2\[[0-9]+\]" | grep -vq "\[500\]" || lab_fail "strongSwan did not float to 4500"
  lab_swanctl pop1 --list-sas | grep -E "remote|NAT"
fi
if [ "${LAB_DPD:-0}" = 1 ]; then
  echo "== pop1 goes dark"
  ip -n pop1 link set wan down
  start=$(date +%s)
  for _ in $(seq 200); do kill -0 "$connector" 2>/dev/null || break; sleep 0.1; done
  took=$(( $(date +%s) - start ))
  tail -2 "$LAB_DIR/connect.log"
  grep -q "is dead: no answer to a liveness check" "$LAB_DIR/connect.log" || lab_fail "sedge did not detect the dead peer"
  [ "$took" -le 12 ] || lab_fail "detecting the dead peer took $took s (interval 2 s + timeout 6 s)"
  [ "$(ip -n site xfrm state | grep -c '^src')" -eq 0 ] || lab_fail "the dead tunnel's SAs were left in the kernel"
  [ "$(ip -n site xfrm policy | grep -c '^src 10.99.99.0/24')" -eq 0 ] || lab_fail "the dead tunnel's policies were left"
  echo "dead peer detected in $took s; SAs and policies removed"
fi
expect_suite pop1 site
echo PASS
