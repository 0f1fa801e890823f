#!/bin/sh
# sedge over a lossy WAN: one packet in three (33 %) is dropped on the site's WAN link in each
# direction (at inet, the router on the site's wan0), the same packets every run.
# sedge's initiator brings the tunnel up to strongSwan at pop1 through the loss and rekeys it
# itself with short lifetimes: the CHILD_SA twice, then the IKE SA once. Its retransmission
# (strongSwan's schedule: sends 0, 4, 11.2, 24.2, 47.5 and 89.5 s after the first, given up at
# 165 s) must carry every exchange. Checked: sedge logs retransmissions; it and strongSwan each
# count the same rekeys (no exchange done twice); once they are done both ends agree on one IKE
# SA and one ESP pair (strongSwan: ESTABLISHED, INSTALLED; one pair in each kernel). Then the
# loss is removed and a LAN host pings srv1 through the tunnel without losing an echo.
#
# The timings are chosen so that no check depends on how the dice fall, only on each exchange
# getting through within its six sends (one exception below):
# - Lifetimes: CHILD_SA 190 s, IKE SA 500 s, both rekeyed at half their lifetime without jitter
#   (--rekey-at 0.5 --rekey-jitter 0): a rekey has 95 s before the lifetime runs out, room for
#   all six sends (the sixth at 89.5 s). The CHILD_SA is rekeyed at 95 s and again 95 s after the
#   first rekey completed; the IKE SA at 250 s, after the second CHILD_SA rekey unless the first
#   needed its sixth send. The IKE SA goes last because the Delete of the replaced IKE SA holds
#   sedge's one request window for the whole schedule (165 s) when strongSwan deleted that SA
#   but its answer was lost (it cannot answer again), and a CHILD_SA rekey due meanwhile waits
#   and may run out of lifetime: the exception, in about 1 run in 200 (the sixth send, 1.7 %,
#   then a lost answer, 30 %).
# - DpdIntervalSec=0, DpdTimeoutSec=3600: no liveness checks, and the retransmission schedule,
#   not DpdTimeoutSec= (30 s by default), decides when the peer is dead.
# - The very first IKE_SA_INIT is dropped (iptables, nth packet) besides the random loss, so at
#   least one retransmission is certain rather than likely.
# - ARP on the lossy link is replaced by permanent neighbour entries: lost ARP would add loss of
#   its own on top of the loss.
# - strongSwan drops a half-open IKE SA after 30 s (charon.half_open_timeout); under this loss
#   IKE_SA_INIT and IKE_AUTH together often need longer, and sedge would start over only after
#   its whole schedule. pop1's strongSwan gets 200 s, longer than that schedule.
# - Every wait is a bounded poll, its bound the schedule or the lifetime within which sedge
#   itself must have succeeded or failed the tunnel, cut to the scenario's time limit; a sedge
#   that gives up ends the wait at once with its reason.
# No two packets of one direction are lost in a row, so a request and its answer get through
# within the first three sends; a run that gives the peer up is a sedge fault, and says so.
. "$SEDGE_SOURCE_DIR/tests/lab/lib/lab.sh"
. "$SEDGE_SOURCE_DIR/tests/lab/pops/seed_peers.sh"
. "$SEDGE_SOURCE_DIR/tests/lab/ike/rekey_lib.sh"

CHILD_LIFE=190 IKE_LIFE=500   # seconds; rekeyed at half
LAST_SEND=90                  # the sixth and last send of a request, 89.5 s after the first
SCHEDULE=165                  # a request is given up 165 s after its first send
started=$(date +%s)
deadline=$((started + ${LAB_TIMEOUT:-600} - 45))  # room to collect the logs and halt

log=$LAB_DIR/connect.log
now() { date +%s; }
count() { grep -c -- "$1" "$log" 2>/dev/null || true; }

# sedge-connect exited (it does when it gives the tunnel up): fail with its reason.
sedge_gone() {
  cp "$log" "$LAB_LOG_DIR/connect.log"
  echo "--- sedge's log (last lines)"; tail -n 25 "$log"
  why=$(grep -m1 "its SAs and policies were removed" "$log" | sed 's/^error: //')
  case $why in
    *"is dead: no answer"*)
      lab_fail "$1: sedge gave the tunnel up: $why" ;;
    *) lab_fail "$1: sedge-connect exited: ${why:-see connect.log}" ;;
  esac
}

# wait_until WHAT SECONDS CMD...: polls CMD every half second for up to SECONDS (cut to the time
# limit); fails naming WHAT if sedge exits or the time runs out.
wait_until() {
  what=$1 bound=$2
  shift 2
  until_s=$(($(now) + bound))
  limited=""
  if [ "$until_s" -gt "$deadline" ]; then until_s=$deadline limited=" (cut to the scenario's time limit)"; fi
  while :; do
    if "$@"; then return 0; fi
    kill -0 "$connector" 2>/dev/null || sedge_gone "$what"
    if [ "$(now)" -ge "$until_s" ]; then
      cp "$log" "$LAB_LOG_DIR/connect.log"
      grep -E "retransmitting|rekey|deleted|refused|error|warning" "$log" | tail -n 20
      lab_fail "$what did not happen within ${bound} s$limited: sedge rekeyed the CHILD_SA $(count "rekeyed the CHILD_SA") times, the IKE SA $(count "rekeyed the IKE SA") times, after $(count "retransmitting the") retransmissions"
    fi
    sleep 0.5
  done
}

# ---- The lossy WAN ----
lab_topology
site_mac=$(ip -n site -br link show wan0 | awk '{print $3}')
isp_mac=$(ip -n inet -br link show isp0 | awk '{print $3}')
ip -n site neigh replace 198.51.100.1 lladdr "$isp_mac" dev wan0 nud permanent
ip -n inet neigh replace 198.51.100.2 lladdr "$site_mac" dev isp0 nud permanent

# One packet in three is dropped in each direction (iptables' nth statistic at inet, the
# router in front of the site's wan0): the same loss every run, never two packets in a row of
# one direction, so every exchange gets through within its schedule by construction, not by
# the dice (netem's random loss made about one run in eleven fail on a lost exchange).
LOSS_RULE="-m statistic --mode nth --every 3 --packet 0 -j DROP"
loss_on() {
  for dir in -i -o; do
    # shellcheck disable=SC2086
    ip netns exec inet iptables-legacy -I FORWARD $dir isp0 $LOSS_RULE || lab_fail "iptables could not add the loss ($dir isp0)"
  done
}
loss_report() {
  ip netns exec inet iptables-legacy -L FORWARD -v -n -x | awk '/every 3 packet 0/ { print "loss rule " $6 " " $7 ": " $1 " packets dropped" }'
}
loss_off() {
  loss_report
  for dir in -i -o; do
    # shellcheck disable=SC2086
    ip netns exec inet iptables-legacy -D FORWARD $dir isp0 $LOSS_RULE || lab_fail "the loss rule ($dir isp0) could not be removed"
  done
  ! ip netns exec inet iptables-legacy -L FORWARD -n | grep -q "every 3 packet 0" || lab_fail "a loss rule is still there"
}
loss_on
ip netns exec inet iptables-legacy -A FORWARD -s 198.51.100.2 -d 192.0.2.2 -p udp --dport 500 \
  -m statistic --mode nth --every 1000000 --packet 0 -j DROP || lab_fail "iptables could not drop the first IKE_SA_INIT"
echo "the WAN: one packet in three (33 %) lost each way on the site's wan0 link, the first IKE_SA_INIT dropped"

# ---- The peers ----
# pop1 as pop1_strongswan has it, with its log written line by line (read below) and
# unique = replace: should IKE_AUTH be answered but every answer be lost, sedge starts over and
# strongSwan replaces the SA it established then rather than keep both.
swanctl_conf pop1 "$POP1_ID" site1@example.com 10.201.0.0/24 10.99.99.0/24 "unique = replace"
lab_strongswan pop1 pop1
sed -i 's/^charon {$/charon {\n  half_open_timeout = 200/' "$LAB_DIR/pop1/strongswan.conf"
grep -q "half_open_timeout = 200" "$LAB_DIR/pop1/strongswan.conf" || lab_fail "could not set strongSwan's half_open_timeout"
lab_swanctl pop1 --reload-settings > /dev/null || lab_fail "strongSwan at pop1 did not reload its settings"
SEDGE_CONNECT_OPTS="--child-lifetime $CHILD_LIFE --ike-lifetime $IKE_LIFE --rekey-at 0.5 --rekey-jitter 0" \
  SEDGE_CONNECT_SECONDS=900 site_sedge "DpdIntervalSec=0
DpdTimeoutSec=3600"

# ---- Up under loss ----
# IKE_SA_INIT and IKE_AUTH each get through by their sixth send (90 s), or the attempt is given
# up at 165 s and sedge-connect tries again 5 s later.
up() { grep -q "up:" "$log"; }
wait_until "the tunnel coming up" $((2 * LAST_SEND + SCHEDULE + 5)) up
up_at=$(now)
grep "up:" "$log"
echo "up $((up_at - started)) s into the scenario, after $(count "retransmitting the") retransmissions"
rekey_first "$log" site

# ---- The rekeys under loss ----
# Each rekey completes before the lifetime of what it replaces runs out, or sedge fails the
# tunnel itself: the first CHILD_SA rekey within CHILD_LIFE of coming up, the second within
# CHILD_LIFE of the first, the IKE SA's within IKE_LIFE; a CHILD_SA's Delete within the schedule.
children() { [ "$(count "rekeyed the CHILD_SA")" -ge "$1" ]; }
wait_until "the first CHILD_SA rekey" $((CHILD_LIFE + 5)) children 1
echo "CHILD_SA rekeyed $(($(now) - up_at)) s after coming up"
wait_until "the second CHILD_SA rekey" $((CHILD_LIFE + 5)) children 2
echo "CHILD_SA rekeyed again $(($(now) - up_at)) s after coming up"
ike_rekeyed() { [ "$(count "rekeyed the IKE SA")" -ge 1 ]; }
wait_until "the IKE SA rekey" $((IKE_LIFE - ($(now) - up_at) + 5)) ike_rekeyed
echo "IKE SA rekeyed $(($(now) - up_at)) s after coming up"
deletes_done() { [ "$(count "the CHILD_SA 0x.* is deleted")" -ge "$(count "rekeyed the CHILD_SA")" ]; }
wait_until "the Delete of the replaced CHILD_SA" $((SCHEDULE + 5)) deletes_done

# ---- Both ends agree, still under loss ----
# At once, before the next CHILD_SA rekey falls due (95 s after the last); if one is under way
# after all, it and its Delete get their schedule.
agreed() {
  rekey_check_once "$log" "$first_in" "$first_out" pop1 pop1 || return 1
  [ "$(ip -n site xfrm state | grep -c "proto esp")" -eq 2 ] || { why="sedge's kernel does not hold exactly two ESP SAs"; return 1; }
  # strongSwan installed one inbound SA per CHILD_SA rekey and rekeyed the IKE SA as often as
  # sedge did: no exchange was done twice for a retransmission.
  swan_children=$(grep -c "inbound CHILD_SA .* established" "$LAB_DIR/pop1/charon.log" || true)
  swan_ike=$(grep -c "IKE_SA .* rekeyed between" "$LAB_DIR/pop1/charon.log" || true)
  [ "$swan_children" -eq "$(count "rekeyed the CHILD_SA")" ] && [ "$swan_ike" -eq "$(count "rekeyed the IKE SA")" ] ||
    { why="strongSwan rekeyed the CHILD_SA $swan_children times and the IKE SA $swan_ike times, sedge $(count "rekeyed the CHILD_SA") and $(count "rekeyed the IKE SA")"; return 1; }
}
why=""
agree_s=$((2 * LAST_SEND + 10))
until_s=$(($(now) + agree_s))
until agreed; do
  kill -0 "$connector" 2>/dev/null || sedge_gone "both ends agreeing on the rekeyed SAs"
  if [ "$(now)" -ge "$until_s" ] || [ "$(now)" -ge "$deadline" ]; then
    cat "$LAB_DIR/list-sas.txt"
    lab_fail "the ends did not agree within $agree_s s of the rekeys: $why"
  fi
  sleep 0.5
done
echo "current: IKE SA $ike_spis; ESP at the site in 0x$site_in out 0x$site_out, the same pair at pop1, the old SAs gone"
echo "\$ ip -n site xfrm state"; ip -n site xfrm state | grep -E "^src|proto esp"
echo "\$ swanctl --list-sas   # pop1 (strongSwan)"; cat "$LAB_DIR/list-sas.txt"
grep -q "ESTABLISHED" "$LAB_DIR/list-sas.txt" && grep -q "INSTALLED" "$LAB_DIR/list-sas.txt" ||
  lab_fail "strongSwan does not list the rekeyed SAs as ESTABLISHED and INSTALLED"

# ---- What the loss cost ----
retransmissions=$(count "retransmitting the")
echo "sedge: $retransmissions retransmissions:"
grep -o "retransmitting the .* request" "$log" | sort | uniq -c
echo "strongSwan answered $(grep -c "received retransmit of request" "$LAB_DIR/pop1/charon.log" || true) retransmitted requests from its cache"
grep -E "rekeyed|is deleted|taken as deleted|refused" "$log" | sed 's/^/sedge: /'
[ "$retransmissions" -ge 1 ] || lab_fail "sedge logged no retransmission (the first IKE_SA_INIT at least was dropped)"
first_drop=$(ip netns exec inet iptables-legacy -L FORWARD -v -n -x | awk '/every 1000000/ { print $1 }')
[ "$first_drop" = 1 ] || lab_fail "the first-IKE_SA_INIT rule dropped $first_drop packets, not 1"

# ---- Without loss: the tunnel carries every echo ----
loss_off
ip netns exec lanhost0 ping -n -c 10 -i 0.2 -W 2 10.201.0.10 > "$LAB_DIR/ping.log" 2>&1 || true
tail -n 2 "$LAB_DIR/ping.log"
grep -q "10 packets transmitted, 10 received" "$LAB_DIR/ping.log" || lab_fail "pings through the tunnel were lost after the loss was removed"
lab_expect_esp site 198.51.100.2 192.0.2.2 10
lab_expect_esp pop1 192.0.2.2 198.51.100.2 10
kill -0 "$connector" 2>/dev/null || sedge_gone "the tunnel staying up to the end"
cp "$log" "$LAB_LOG_DIR/connect.log"
kill "$connector" 2>/dev/null || true
echo "done $(($(now) - started)) s into the scenario"
echo PASS
