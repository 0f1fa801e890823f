#!/bin/sh
# strongSwan at the site initiates IKEv2 (the seed's Secure Edge profile) to sedge's responder
# (sedge-connect --respond, from sedge's configuration) at pop1; the CHILD_SA goes into the
# kernel through sedge's netlink layer; a LAN host pings the server behind pop1 through ESP.
# LAB_NAT=pop1: sedge's responder sits behind a CPE that forwards UDP 500 and 4500 to it
# (DNAT, lab_topology nat=pop1): sedge must see from strongSwan's NAT_DETECTION_DESTINATION_IP
# that a NAT is in front of it, answer on UDP 4500 and install ESP-in-UDP SAs, as strongSwan does.
. "$SEDGE_SOURCE_DIR/tests/lab/lib/lab.sh"
. "$SEDGE_SOURCE_DIR/tests/lab/pops/seed_peers.sh"
if [ "${LAB_NAT:-}" = pop1 ]; then lab_topology nat=pop1; else lab_topology; fi
pop1_sedge
site_strongswan
lab_swanctl site --initiate --child c --timeout 30 > "$LAB_DIR/site/initiate.log" 2>&1 ||
  { cat "$LAB_DIR/site/initiate.log" "$LAB_DIR/respond.log"; lab_fail "strongSwan could not establish with sedge"; }
wait_for_line "$LAB_DIR/respond.log" "tunnel site1 up:" || { cat "$LAB_DIR/respond.log"; lab_fail "sedge did not install the tunnel"; }
cat "$LAB_DIR/respond.log"
lab_swanctl site --list-sas | grep -E "ESTABLISHED|INSTALLED|AES_GCM|192.0.2.2"
ping_through_tunnel
if [ "${LAB_NAT:-}" = pop1 ]; then
  expect_natt pop1 "$LAB_DIR/respond.log"
  expect_natt site
  grep -q "remote host is behind NAT" "$LAB_DIR/site/charon.log" || lab_fail "strongSwan did not see the NAT in front of sedge"
  lab_swanctl site --list-sas | grep -q "192.0.2.2\[4500\]" || lab_fail "strongSwan did not float to UDP 4500"
fi
expect_suite site pop1
echo PASS
