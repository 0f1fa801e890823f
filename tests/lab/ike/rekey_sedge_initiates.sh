#!/bin/sh
# sedge rekeys against strongSwan (RFC 7296 2.8): sedge's initiator at the site with short
# lifetimes (CHILD_SA 17 s, rekeyed after 13.6 to 15.3 s; IKE SA 28 s, rekeyed after 22.4 to 25.2 s) and the
# seed's profile, whose ESP proposal asks for PFS with group 14; strongSwan at pop1 responds and
# would not rekey for hours. A LAN host pings srv1 every 0.2 s throughout: no echo may be lost
# (make-before-break). Then both ends must agree on the current SAs and the old ones are gone,
# and sedge's key log must hold every IKE SA and ESP SA it had, rekeyed ones included.
. "$SEDGE_SOURCE_DIR/tests/lab/lib/lab.sh"
. "$SEDGE_SOURCE_DIR/tests/lab/pops/seed_peers.sh"
. "$SEDGE_SOURCE_DIR/tests/lab/ike/rekey_lib.sh"
lab_topology
pop1_strongswan
mkdir -p "$LAB_DIR/keys"
SEDGE_CONNECT_OPTS="--child-lifetime 17 --ike-lifetime 28" SEDGE_CONNECT_SECONDS=120 site_sedge "[Agent]
KeyLogDirectory=$LAB_DIR/keys"
wait_for_line "$LAB_DIR/connect.log" "up:" || { cat "$LAB_DIR/connect.log"; lab_fail "sedge did not bring the tunnel up"; }
grep "up:" "$LAB_DIR/connect.log"
rekey_first "$LAB_DIR/connect.log" site
rekey_ping_start 34
sleep 35
rekey_ping_check
sleep 0.5
grep -E "rekeyed|deleted|collision|refus" "$LAB_DIR/connect.log" | sed 's/^/sedge: /'
cp "$LAB_DIR/connect.log" "$LAB_LOG_DIR/connect.log"
[ "$(grep -c "rekeyed the CHILD_SA" "$LAB_DIR/connect.log")" -ge 2 ] || lab_fail "sedge did not rekey the CHILD_SA twice"
[ "$(grep -c "rekeyed the IKE SA" "$LAB_DIR/connect.log")" -ge 1 ] || lab_fail "sedge did not rekey the IKE SA"
grep -q "PFS group 14" "$LAB_DIR/connect.log" || lab_fail "the CHILD_SA rekeys did not use PFS"
kill -0 "$connector" 2>/dev/null || lab_fail "sedge-connect exited"
rekey_expect_settled "$LAB_DIR/connect.log" "$first_in" "$first_out" pop1 pop1
# The key log (KeyLogDirectory=) holds every IKE SA sedge's log names, the current one last, and
# both directions of every ESP pair; both read at once, again for up to 10 s while a rekey is
# under way (the keys go in before the log line).
keylog_matches() {
  ike_sas=$(( 1 + $(grep -c "rekeyed the IKE SA" "$LAB_DIR/connect.log") ))
  esp_sas=$(( 2 * (1 + $(grep -c "rekeyed the CHILD_SA" "$LAB_DIR/connect.log")) ))
  current=$(grep "rekeyed the IKE SA" "$LAB_DIR/connect.log" | tail -1 | sed -n 's/.*: new \([0-9a-f]*\)_i \([0-9a-f]*\)_r.*/\1,\2,/p')
  have_ike=$(wc -l < "$LAB_DIR/keys/ikev2_decryption_table") have_esp=$(wc -l < "$LAB_DIR/keys/esp_sa")
  [ "$have_ike" -eq "$ike_sas" ] && [ "$have_esp" -eq "$esp_sas" ] && [ -n "$current" ] &&
    tail -1 "$LAB_DIR/keys/ikev2_decryption_table" | grep -q "^$current"
}
for _ in $(seq 10); do keylog_matches && break; sleep 1; done
echo "key log: $have_ike IKE SAs (sedge's log: $ike_sas, the last $current), $have_esp ESP SAs (sedge's log: $esp_sas)"
keylog_matches || { cut -d, -f1-2 "$LAB_DIR/keys/ikev2_decryption_table"; grep -E "rekeyed the IKE SA|established" "$LAB_DIR/connect.log";
  lab_fail "the key log does not hold every IKE SA and ESP SA sedge had, the current IKE SA last"; }
grep "CREATE_CHILD_SA" "$LAB_DIR/pop1/charon.log" | tail -4
grep -q "parsed CREATE_CHILD_SA request" "$LAB_DIR/pop1/charon.log" || lab_fail "strongSwan saw no CREATE_CHILD_SA request"
! grep -q "generating CREATE_CHILD_SA request" "$LAB_DIR/pop1/charon.log" || lab_fail "strongSwan started a rekey itself: this scenario tests sedge's"
echo PASS
