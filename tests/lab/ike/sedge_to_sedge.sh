#!/bin/sh
# sedge's initiator at the site to sedge's responder at pop1, both from sedge configurations,
# with the seed's profile; a LAN host pings the server behind pop1 through kernel ESP. The
# initiator starts first, while nothing listens at the POP: it must retransmit (through the ICMP
# port-unreachable errors) until the responder is there.
. "$SEDGE_SOURCE_DIR/tests/lab/lib/lab.sh"
. "$SEDGE_SOURCE_DIR/tests/lab/pops/seed_peers.sh"
lab_topology
site_sedge
sleep 2.5
pop1_sedge
wait_for_line "$LAB_DIR/connect.log" "tunnel site1-primary up:" || { cat "$LAB_DIR/connect.log"; lab_fail "sedge's initiator did not come up"; }
wait_for_line "$LAB_DIR/respond.log" "tunnel site1 up:" || { cat "$LAB_DIR/respond.log"; lab_fail "sedge's responder did not come up"; }
cat "$LAB_DIR/connect.log" "$LAB_DIR/respond.log"
ping_through_tunnel
echo PASS
