#!/bin/sh
# sedge's initiator at the site with a [Child] section beside its tunnel: after IKE_AUTH (CHILD_SA
# c) sedge-connect creates CHILD_SA d with CREATE_CHILD_SA (PFS group 14) at strongSwan's
# responder at pop1, whose swanctl connection has both children. Both LAN hosts' pings to srv1
# pass, each through its own CHILD_SA in the kernel; strongSwan lists two CHILD_SAs. Every ESP
# SA of sedge's carries the kernel time limits of a 100 s CHILD_SA lifetime (soft 90 s, hard 110 s).
. "$SEDGE_SOURCE_DIR/tests/lab/lib/lab.sh"
. "$SEDGE_SOURCE_DIR/tests/lab/pops/seed_peers.sh"
. "$SEDGE_SOURCE_DIR/tests/lab/ike/children_lib.sh"
lab_topology
pop1_strongswan
children_swanctl_d pop1 "$CHILD_D_POP" "$CHILD_D_SITE"
SEDGE_CONNECT_OPTS="--child-lifetime 100" SEDGE_CONNECT_SECONDS=120 site_sedge "[Child lan1]
Tunnel=site1-primary
LocalTrafficSelector=$CHILD_D_SITE
RemoteTrafficSelector=$CHILD_D_POP"
wait_for_line "$LAB_DIR/connect.log" "up:" || { cat "$LAB_DIR/connect.log"; lab_fail "sedge did not bring the tunnel up"; }
wait_for_line "$LAB_DIR/connect.log" "created CHILD_SA 1" || { cat "$LAB_DIR/connect.log"; lab_fail "sedge did not create CHILD_SA d"; }
grep -E "up:|CHILD_SA" "$LAB_DIR/connect.log"
grep -q "creating CHILD_SA 1 with PFS group 14" "$LAB_DIR/connect.log" || lab_fail "CHILD_SA d was not created with PFS group 14"
children_expect_installed site pop1 "src 10.88.88.0/24 dst 10.201.0.10/32"
cp "$LAB_DIR/connect.log" "$LAB_LOG_DIR/connect.log"
echo PASS
