# Two CHILD_SAs in one IKE SA (RFC 7296 1.3.1) between the site and pop1 (source after lab.sh
# and seed_peers.sh): the seed's CHILD_SA c (LAN 10.99.99.0/24 <=> 10.201.0.0/24, lanhost0's) and
# a second one, d: lanhost1's LAN 10.88.88.0/24 <=> srv1 alone. Their selectors differ on both
# sides, so each has its own policies and SAs (sedge gives each CHILD_SA its own reqid).
CHILD_D_SITE=10.88.88.0/24 CHILD_D_POP=10.201.0.10/32

# children_swanctl_d NAME LOCAL_TS REMOTE_TS: child d beside c in the swanctl.conf of the running
# charon NAME (site_strongswan or pop1_strongswan), loaded again.
children_swanctl_d() {
  sed -i "s|esp_proposals = $SEED_ESP } }|esp_proposals = $SEED_ESP }\n      d { local_ts = $2\n        remote_ts = $3\n        esp_proposals = $SEED_ESP } }|" \
    "$LAB_DIR/$1/swanctl.conf"
  grep -q "d { local_ts = $2" "$LAB_DIR/$1/swanctl.conf" || lab_fail "could not add child d to $1's swanctl.conf"
  lab_swanctl "$1" --load-all --file "$LAB_DIR/$1/swanctl.conf" > "$LAB_DIR/$1/load-d.log" 2>&1 ||
    { cat "$LAB_DIR/$1/load-d.log"; lab_fail "swanctl could not load child d into $1"; }
}

# Each LAN host pings srv1, lanhost0 through c and lanhost1 through d.
children_ping() {
  ip netns exec lanhost0 ping -c 5 -i 0.2 -W 2 10.201.0.10 || lab_fail "no ping from lanhost0 to srv1 through CHILD_SA c"
  ip netns exec lanhost1 ping -c 5 -i 0.2 -W 2 10.201.0.10 || lab_fail "no ping from lanhost1 to srv1 through CHILD_SA d"
}

# children_expect_esp NS: NS's kernel (sedge's side) holds two ESP pairs under two reqids, and each
# of the four SAs carried at least the 5 echoes or replies of its host's ping.
children_expect_esp() {
  echo "\$ ip -n $1 -s xfrm state   # reqid, direction, SPI, packets"
  ip -n "$1" -s xfrm state | awk '
    /^src/ { dir = $2 " > " $4 }
    /proto esp/ { spi = $4; sub(/\(.*/, "", spi); reqid = $6; sub(/\(.*/, "", reqid) }
    /^[ \t]+[0-9]+\(bytes\), [0-9]+\(packets\)/ { n = $2; sub(/\(.*/, "", n); print "reqid " reqid ": " dir " spi " spi " " n " packets" }' |
    tee "$LAB_DIR/esp-$1.txt"
  [ "$(wc -l < "$LAB_DIR/esp-$1.txt")" -eq 4 ] || lab_fail "$1 does not hold exactly two ESP pairs"
  [ "$(cut -d: -f1 "$LAB_DIR/esp-$1.txt" | sort -u | wc -l)" -eq 2 ] || lab_fail "the two ESP pairs in $1 do not have a reqid each"
  while read -r _ _ _ _ _ _ _ packets _; do
    [ "$packets" -ge 5 ] || lab_fail "an ESP SA in $1 carried $packets packets, fewer than its ping's 5"
  done < "$LAB_DIR/esp-$1.txt"
}

# children_expect_lifetimes NS SOFT HARD: every ESP SA in NS expires SOFT seconds after it was
# added (soft: the kernel's rekey event) and is deleted after HARD seconds, agent or not.
children_expect_lifetimes() {
  echo "\$ ip -n $1 -s xfrm state | grep 'expire add'"
  ip -n "$1" -s xfrm state | grep "expire add" | tee "$LAB_DIR/expire-$1.txt"
  [ "$(grep -c "expire add: soft $2(sec), hard $3(sec)" "$LAB_DIR/expire-$1.txt")" -eq "$(ip -n "$1" xfrm state | grep -c "proto esp")" ] ||
    lab_fail "not every ESP SA in $1 has soft $2 s and hard $3 s time limits"
}

# children_expect_two NAME: strongSwan NAME lists one IKE SA with both CHILD_SAs installed.
children_expect_two() {
  lab_swanctl "$1" --list-sas | tee "$LAB_DIR/list-sas.txt" | grep -E "ESTABLISHED|INSTALLED|===="
  [ "$(grep -c ESTABLISHED "$LAB_DIR/list-sas.txt")" -eq 1 ] || lab_fail "strongSwan $1 does not have exactly one IKE SA"
  [ "$(grep -c INSTALLED "$LAB_DIR/list-sas.txt")" -eq 2 ] || lab_fail "strongSwan $1 does not have two CHILD_SAs installed"
  grep -Eq "^ *c: .*INSTALLED" "$LAB_DIR/list-sas.txt" && grep -Eq "^ *d: .*INSTALLED" "$LAB_DIR/list-sas.txt" ||
    lab_fail "strongSwan $1's CHILD_SAs are not c and d"
}

# children_expect_installed SEDGE_NS STRONGSWAN_NAME POLICY: sedge's kernel in SEDGE_NS holds child
# d's policy (POLICY, "src A dst B"), both children carry their pings through their own ESP pairs
# with the time limits of a 100 s CHILD_SA lifetime (soft 90 s, hard 110 s), and strongSwan lists
# both children.
children_expect_installed() {
  echo "\$ ip -n $1 xfrm policy | grep src"; ip -n "$1" xfrm policy | grep "^src"
  ip -n "$1" xfrm policy | grep -q "$3" || lab_fail "sedge did not install CHILD_SA d's policies ($3)"
  children_ping
  children_expect_esp "$1"
  children_expect_lifetimes "$1" 90 110
  children_expect_two "$2"
}
