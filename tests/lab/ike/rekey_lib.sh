# Checks shared by the rekey scenarios (source after lab.sh and seed_peers.sh): a continuous ping
# through the tunnel, the SAs sedge reports as current, and the kernel's ESP states.

# strongSwan at pop1 or at the site with rekey times in its swanctl.conf: NAME NETNS
# IKE_REKEY CHILD_REKEY RAND (strongSwan durations, e.g. 25s 15s 0s) and the arguments of
# swanctl_conf after the name. The hard limits are generous (CHILD_SA life_time
# $REKEY_CHILD_LIFE or 30 s, IKE SA over_time 20 s) rather than strongSwan's 10% over the rekey
# time, so that a rekey delayed on a loaded machine still replaces the SA before it expires.
rekey_strongswan() {
  name=$1 netns=$2 ike=$3 child=$4 rand=$5
  shift 5
  swanctl_conf "$name" "$@"
  sed -i -e "s/^\(    proposals = .*\)$/\1\n    rekey_time = $ike\n    rand_time = $rand\n    over_time = 20s/" \
    -e "s/^\(        esp_proposals = [^ }]*\)/\1\n        rekey_time = $child\n        rand_time = $rand\n        life_time = ${REKEY_CHILD_LIFE:-30s}/" "$LAB_DIR/$name/swanctl.conf"
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

# The first CHILD_SA, from the "tunnel ... up:" line of sedge's log FILE, as the site sees it
# (IN: sedge's inbound if sedge is at the site): sets first_in and first_out.
rekey_first() {
  pair=$(grep -m1 "tunnel .* up:" "$1" | sed -n 's/.*ESP in 0x\([0-9a-f]*\) out 0x\([0-9a-f]*\).*/\1 \2/p')
  if [ "$2" = site ]; then first_in=${pair% *} first_out=${pair#* }; else first_in=${pair#* } first_out=${pair% *}; fi
}

# ESP SPIs (8 hex digits) of NS's states towards DST.
rekey_spis_to() {
  ip -n "$1" xfrm state | awk -v dst="$2" '/^src/ { d = $4 } /proto esp/ && d == dst { sub(/^0x/, "", $4); sub(/\(.*/, "", $4); print $4 }'
}

# One look at both ends: sedge's log (FILE) for its current IKE SA, both kernels, and strongSwan
# (NAME, at SIDE site or pop1). Sets why and returns 1 if they do not agree on one IKE SA and
# one ESP pair, other than the first (FIRST_IN FIRST_OUT as the site sees them).
rekey_check_once() {
  log=$1 first_in=$2 first_out=$3 swan=$4 side=$5
  line=$(grep -E "tunnel .* up:|rekeyed the IKE SA" "$log" | tail -1)
  case $line in
    *"rekeyed the IKE SA"*) ike_spis=$(printf '%s' "$line" | sed -n 's/.*: new \([0-9a-f]*_i [0-9a-f]*_r\).*/\1/p') ;;
    *) ike_spis=$(printf '%s' "$line" | sed -n 's/.*IKE SA \([0-9a-f]*_i\) \([0-9a-f]*_r\).*/\1 \2/p') ;;
  esac
  lab_swanctl "$swan" --list-sas > "$LAB_DIR/list-sas.txt"
  site_in=$(rekey_spis_to site 198.51.100.2) site_out=$(rekey_spis_to site 192.0.2.2)
  pop_in=$(rekey_spis_to pop1 192.0.2.2) pop_out=$(rekey_spis_to pop1 198.51.100.2)
  for v in "$site_in" "$site_out" "$pop_in" "$pop_out"; do
    [ -n "$v" ] && [ "$(printf '%s\n' "$v" | wc -l)" -eq 1 ] || { why="not exactly one ESP pair in each kernel (old SAs left behind?)"; return 1; }
  done
  [ "$site_in" = "$pop_out" ] && [ "$site_out" = "$pop_in" ] || { why="the site's pair $site_in/$site_out is not pop1's $pop_out/$pop_in"; return 1; }
  [ "$site_in" != "$first_in" ] && [ "$site_out" != "$first_out" ] || { why="the site still has the first CHILD_SA"; return 1; }
  [ "$(grep -c ESTABLISHED "$LAB_DIR/list-sas.txt")" -eq 1 ] || { why="strongSwan does not have exactly one IKE SA"; return 1; }
  [ "$(grep -c INSTALLED "$LAB_DIR/list-sas.txt")" -eq 1 ] || { why="strongSwan does not have exactly one CHILD_SA"; return 1; }
  spi_i=${ike_spis%%_i*}
  spi_r=$(printf '%s' "$ike_spis" | sed 's/.* \([0-9a-f]*\)_r/\1/')
  grep -q "${spi_i}_i.* ${spi_r}_r" "$LAB_DIR/list-sas.txt" || { why="strongSwan's IKE SA is not sedge's $ike_spis"; return 1; }
  if [ "$side" = site ]; then swan_in=$site_in swan_out=$site_out; else swan_in=$pop_in swan_out=$pop_out; fi
  grep -Eq "in  *$swan_in" "$LAB_DIR/list-sas.txt" && grep -Eq "out  *$swan_out" "$LAB_DIR/list-sas.txt" ||
    { why="strongSwan's CHILD_SA is not $swan_in/$swan_out"; return 1; }
  return 0
}

# rekey_check_once until it holds (a rekey may be under way at the first look), for up to 10 s.
rekey_expect_settled() {
  for _ in $(seq 10); do
    if rekey_check_once "$@"; then
      echo "current: IKE SA $ike_spis; ESP at the site in 0x$site_in out 0x$site_out, the same pair at pop1, the old SAs gone"
      echo "\$ ip -n site xfrm state"; ip -n site xfrm state | grep -E "^src|proto esp"
      echo "\$ ip -n pop1 xfrm state"; ip -n pop1 xfrm state | grep -E "^src|proto esp"
      echo "\$ swanctl --list-sas   # $4 (strongSwan)"; cat "$LAB_DIR/list-sas.txt"
      return 0
    fi
    sleep 1
  done
  cat "$LAB_DIR/list-sas.txt"
  lab_fail "$why"
}
