# IKE fragmentation in the lab (source after lib/lab.sh, pops/seed_peers.sh and cert_lib.sh).
#   fragment_drop_ip_fragments   inet, the router between the site and the POPs, drops every IP
#                                fragment (before any reassembly), and a large ping shows it
#                                does: only RFC 7383's own fragments can carry an IKE message
#                                larger than the path's MTU.
#   fragment_expect PEER LOG     strongSwan PEER's charon.log and sedge's LOG both say they split
#                                a message into IKE fragments and reassembled the other's.

fragment_drop_ip_fragments() {
  # The lab kernel's nf_tables has only the bridge family (no ip or inet tables: EOPNOTSUPP), so
  # the rule is iptables' (legacy) in the raw table, before any reassembly: u32 matches the MF
  # flag or a fragment offset, i.e. every fragment, the first included.
  ip netns exec inet iptables-legacy -t raw -A PREROUTING -m u32 --u32 "4&0x3FFF=1:0x3FFF" -j DROP ||
    lab_fail "iptables could not add the rule dropping IP fragments"
  ip netns exec site ping -c 1 -W 2 -s 100 192.0.2.2 > /dev/null || lab_fail "no small ping from the site to pop1"
  ip netns exec site ping -c 1 -W 2 -s 3000 192.0.2.2 > /dev/null 2>&1 && lab_fail "a fragmented ping crossed inet"
  echo "\$ iptables -t raw -L PREROUTING -v   # at inet: a 3000-byte ping did not cross"
  ip netns exec inet iptables-legacy -t raw -L PREROUTING -v -n -x | tail -n +3
  ip netns exec inet iptables-legacy -t raw -L PREROUTING -v -n -x | awk 'NR > 2 && $1 > 0 { found = 1 } END { exit !found }' ||
    lab_fail "the rule dropped no IP fragment"
}

fragment_expect() {  # PEER LOG
  # charon flushes each line; still allow it 10 s to write them under load.
  for _ in $(seq 100); do
    grep -q "splitting IKE message .* into [0-9]* fragments" "$LAB_DIR/$1/charon.log" &&
      grep -q "received fragment #.*reassembled fragmented IKE message" "$LAB_DIR/$1/charon.log" && break
    sleep 0.1
  done
  echo "\$ grep fragment $1/charon.log"
  grep -E "fragment" "$LAB_DIR/$1/charon.log" | sed 's/^.*\] //' | head -12
  grep -q "splitting IKE message .* into [0-9]* fragments" "$LAB_DIR/$1/charon.log" ||
    lab_fail "strongSwan did not send its IKE_AUTH in fragments"
  grep -q "received fragment #.*reassembled fragmented IKE message" "$LAB_DIR/$1/charon.log" ||
    lab_fail "strongSwan did not receive sedge's IKE_AUTH in fragments"
  echo "\$ grep 'IKE fragments' $(basename "$2")"
  grep "IKE fragments" "$2" | head -6
  grep -q "sending the IKE_AUTH .* in [0-9]* IKE fragments" "$2" || lab_fail "sedge did not send its IKE_AUTH in fragments"
  grep -q "received the IKE_AUTH .* in [0-9]* IKE fragments (RFC 7383), reassembled" "$2" ||
    lab_fail "sedge did not reassemble the peer's IKE_AUTH from fragments"
}
