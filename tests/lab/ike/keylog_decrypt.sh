#!/bin/sh
# tshark, which owes nothing to sedge, decrypts the IKE_AUTH exchange and the ESP pings of
# lab.ike_sedge_to_strongswan with the tables sedge wrote (KeyLogDirectory=). Runs on the host,
# after that scenario, on its logs: LOGS is its log directory.
set -eu
LOGS=$1
fail() { echo "FAIL: $*"; exit 1; }
for f in ike.pcap esp.pcap ikev2_decryption_table esp_sa; do [ -s "$LOGS/$f" ] || fail "no $f from the scenario"; done
home=$(mktemp -d); trap 'rm -rf "$home"' EXIT
mkdir -p "$home/.config/wireshark"
cp "$LOGS/ikev2_decryption_table" "$LOGS/esp_sa" "$home/.config/wireshark/"
echo "\$ cat ikev2_decryption_table"; cut -c1-40 "$LOGS/ikev2_decryption_table"
HOME=$home XDG_CONFIG_HOME=$home/.config tshark -r "$LOGS/ike.pcap" -V 2>/dev/null > "$home/ike.txt"
grep -E "Payload: (Identification - Initiator|Authentication|Traffic Selector)" "$home/ike.txt" | sort | uniq -c
grep -q "Payload: Identification - Initiator" "$home/ike.txt" || fail "tshark could not decrypt IKE_AUTH with sedge's key log"
grep -q "site1@example.com" "$home/ike.txt" || fail "the decrypted IDi is not the site's"
# Decrypted ESP payloads: an IPv4 packet, protocol ICMP, the LAN host's echo request to srv1 or
# srv1's reply, then the ESP trailer (Wireshark 4.0 takes AES-GCM with NULL authentication and
# so leaves the ICV at the end of the data: the inner packet is checked by its bytes).
HOME=$home XDG_CONFIG_HOME=$home/.config tshark -r "$LOGS/esp.pcap" -o esp.enable_encryption_decode:TRUE \
  -T fields -e esp.spi -e esp.decrypted_data 2>/dev/null > "$home/esp.txt"
cut -c1-80 "$home/esp.txt" | head -2
echoes=$(grep -Ec '	45.{16}01.{4}(0a63630a0ac9000a08|0ac9000a0a63630a00)' "$home/esp.txt" || true)
[ "$echoes" -ge 5 ] || fail "tshark could not decrypt the ESP pings with sedge's key log"
echo "tshark decrypted IKE_AUTH and $echoes ICMP echoes inside ESP"
echo PASS
