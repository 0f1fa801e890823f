# Checks shared by the rekey scenarios (source after lab.sh and seed_peers.sh): a continuous ping
# through the tunnel, the SAs sedge reports as current, and the kernel's ESP states.

# strongSwan at pop1 or at the site with rekey times in its swanctl.conf: NAME NETNS
# IKE_REKEY CHILD_REKEY RAND (strongSwan durations, e.g. 25s 15s 0s) and the arguments of
# swanctl_conf after the name; $REKEY_CHILD_LIFE, if set, is the CHILD_SA's hard life_time.
rekey_strongswan() {
  name=$1 netns=$2 ike=$3 child=$4 rand=$5
  shift 5
  swanctl_conf "$name" "$@"
  sed -i -e "s/^\(    proposals = .*\)$/\1\n    rekey_time = $ike\n    rand_time = $rand/" \
    -e "s/^\(        esp_proposals = [^ }]*\)/\1\n        rekey_time = $child\n        rand_time = $rand${REKEY_CHILD_LIFE:+\\n        life_time = $REKEY_CHILD_LIFE}/" "$LAB_DIR/$name/swanctl.conf"
  grep -q "rekey_time = $child" "$LAB_DIR/$name/swanctl.conf" || lab_fail "could not set strongSwan's rekey times"
  lab_strongswan "$name" "$netns"
}

# A ping every 0.2 s from the LAN host to srv1 for SECONDS, in the background.
rekey_ping_start() {
  ip netns exec lanhost0 ping -n -i 0.2 -W 2 -c "$(( $1 * 5 ))" 10.201.0.10 > "$LAB_DIR/ping.log" 2>&1 &
  pinger=$!
}

# Waits for it; every echo must have come back.
rekey_ping_check() {
  wait "$pinger" || true
  tail -3 "$LAB_DIR/ping.log"
  cp "$LAB_DIR/ping.log" "$LAB_LOG_DIR/ping.log"
  sent=$(sed -n 's/^\([0-9]*\) packets transmitted.*/\1/p' "$LAB_DIR/ping.log")
  got=$(sed -n 's/.* \([0-9]*\) received.*/\1/p' "$LAB_DIR/ping.log")
  [ -n "$sent" ] && [ "$sent" -gt 0 ] || lab_fail "the ping did not run"
  [ "$sent" = "$got" ] || lab_fail "$(( sent - got )) of $sent pings were lost across the rekeys"
  echo "all $sent pings answered across the rekeys"
}

# The current SAs: ike_spis ("<spi_i>_i <spi_r>_r") as sedge's log (FILE) last reported the IKE
# SA, and child_in / child_out (8 hex digits, as the site sees them) from the site's kernel,
# which must hold exactly one ESP pair, not the first one (FIRST_IN, FIRST_OUT).
rekey_current() {
  line=$(grep -E "tunnel .* up:|rekeyed the IKE SA" "$1" | tail -1)
  case $line in
    *"rekeyed the IKE SA"*) ike_spis=$(printf '%s' "$line" | sed -n 's/.*: new \([0-9a-f]*_i [0-9a-f]*_r\).*/\1/p') ;;
    *) ike_spis=$(printf '%s' "$line" | sed -n 's/.*IKE SA \([0-9a-f]*_i\) \([0-9a-f]*_r\).*/\1 \2/p') ;;
  esac
  n=$(ip -n site xfrm state | grep -c "proto esp")
  [ "$n" -eq 2 ] || { ip -n site xfrm state | grep -E "^src|proto esp"; lab_fail "the site has $n ESP states, not one pair (old SAs left behind?)"; }
  child_in=$(ip -n site xfrm state | awk '/^src/ { d = $4 } /proto esp/ && d == "198.51.100.2" { sub(/^0x/, "", $4); sub(/\(.*/, "", $4); print $4 }')
  child_out=$(ip -n site xfrm state | awk '/^src/ { d = $4 } /proto esp/ && d == "192.0.2.2" { sub(/^0x/, "", $4); sub(/\(.*/, "", $4); print $4 }')
  echo "current: IKE SA $ike_spis, ESP at the site in 0x$child_in out 0x$child_out"
  [ "$child_in" != "$2" ] && [ "$child_out" != "$3" ] || lab_fail "the site still has the first CHILD_SA"
}

# The first CHILD_SA, from the "tunnel ... up:" line of sedge's log FILE, as the site sees it
# (IN: sedge's inbound if sedge is at the site): sets first_in and first_out.
rekey_first() {
  pair=$(grep -m1 "tunnel .* up:" "$1" | sed -n 's/.*ESP in 0x\([0-9a-f]*\) out 0x\([0-9a-f]*\).*/\1 \2/p')
  if [ "$2" = site ]; then first_in=${pair% *} first_out=${pair#* }; else first_in=${pair#* } first_out=${pair% *}; fi
}

# NS: exactly one ESP pair in the kernel, IN and OUT (hex, no 0x) as SPIs; the old ones are gone.
rekey_expect_states() {
  echo "\$ ip -n $1 xfrm state"
  ip -n "$1" xfrm state | grep -E "^src|proto esp"
  n=$(ip -n "$1" xfrm state | grep -c "proto esp")
  [ "$n" -eq 2 ] || lab_fail "$1 has $n ESP states, not one pair (old SAs left behind?)"
  ip -n "$1" xfrm state | grep -Eq "spi 0x$2[ (]" || lab_fail "$1 has no ESP state with SPI 0x$2"
  ip -n "$1" xfrm state | grep -Eq "spi 0x$3[ (]" || lab_fail "$1 has no ESP state with SPI 0x$3"
}

# strongSwan (NAME) has one IKE SA, sedge's current one, and one CHILD_SA, sedge's current one
# seen from the other side (its "in" is sedge's outbound SPI).
rekey_expect_strongswan() {
  echo "\$ swanctl --list-sas   # $1 (strongSwan)"
  lab_swanctl "$1" --list-sas | tee "$LAB_DIR/list-sas.txt"
  [ "$(grep -c ESTABLISHED "$LAB_DIR/list-sas.txt")" -eq 1 ] || lab_fail "strongSwan does not have exactly one IKE SA"
  [ "$(grep -c INSTALLED "$LAB_DIR/list-sas.txt")" -eq 1 ] || lab_fail "strongSwan does not have exactly one CHILD_SA"
  spi_i=${ike_spis%%_i*}
  spi_r=$(printf '%s' "$ike_spis" | sed 's/.* \([0-9a-f]*\)_r/\1/')
  grep -q "${spi_i}_i.* ${spi_r}_r" "$LAB_DIR/list-sas.txt" || lab_fail "strongSwan's IKE SA is not sedge's $ike_spis"
  grep -Eq "in  *$child_out" "$LAB_DIR/list-sas.txt" || lab_fail "strongSwan's inbound SA is not sedge's outbound 0x$child_out"
  grep -Eq "out  *$child_in" "$LAB_DIR/list-sas.txt" || lab_fail "strongSwan's outbound SA is not sedge's inbound 0x$child_in"
}
