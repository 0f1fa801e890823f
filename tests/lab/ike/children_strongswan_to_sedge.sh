#!/bin/sh
# strongSwan at the site brings up two CHILD_SAs with sedge's responder at pop1 (RFC 7296 1.3.1):
# c in IKE_AUTH, then d with CREATE_CHILD_SA (swanctl --initiate --child d; PFS group 14 as the
# seed's ESP proposal asks). sedge narrows d to its configured selectors (a second
# RemoteTrafficSelector= on its [Tunnel]) and installs it through the same path as c, with its
# own reqid; each LAN host's pings to srv1 go through their own CHILD_SA in the kernel. Every
# ESP SA of sedge's carries the kernel time limits of a 100 s CHILD_SA lifetime (soft at the
# rekey, 90 s; hard 110 s). When strongSwan deletes d, sedge removes its SAs and policies and c
# carries on.
. "$SEDGE_SOURCE_DIR/tests/lab/lib/lab.sh"
. "$SEDGE_SOURCE_DIR/tests/lab/pops/seed_peers.sh"
. "$SEDGE_SOURCE_DIR/tests/lab/ike/children_lib.sh"
lab_topology
SEDGE_CONNECT_OPTS="--child-lifetime 100" SEDGE_CONNECT_SECONDS=120 pop1_sedge "RemoteTrafficSelector=$CHILD_D_SITE"
site_strongswan
children_swanctl_d site "$CHILD_D_SITE" "$CHILD_D_POP"
lab_swanctl site --initiate --child c --timeout 30 > "$LAB_DIR/site/initiate.log" 2>&1 ||
  { cat "$LAB_DIR/site/initiate.log" "$LAB_DIR/respond.log"; lab_fail "strongSwan could not establish with sedge"; }
wait_for_line "$LAB_DIR/respond.log" "tunnel site1 up:" || { cat "$LAB_DIR/respond.log"; lab_fail "sedge did not install the tunnel"; }
lab_swanctl site --initiate --child d --timeout 30 > "$LAB_DIR/site/initiate-d.log" 2>&1 ||
  { cat "$LAB_DIR/site/initiate-d.log" "$LAB_DIR/respond.log"; lab_fail "strongSwan could not create CHILD_SA d"; }
wait_for_line "$LAB_DIR/respond.log" "the peer created CHILD_SA 1" || { cat "$LAB_DIR/respond.log"; lab_fail "sedge did not install CHILD_SA d"; }
grep -E "up:|CHILD_SA" "$LAB_DIR/respond.log"
grep -q "the peer created CHILD_SA 1 .*(PFS group 14)" "$LAB_DIR/respond.log" || lab_fail "CHILD_SA d was not created with PFS group 14"
children_expect_installed pop1 site "src 10.201.0.10/32 dst 10.88.88.0/24"
# strongSwan deletes d (swanctl --terminate --child d): sedge removes d's SAs and policies, c stays.
lab_swanctl site --terminate --child d --timeout 30 > "$LAB_DIR/site/terminate-d.log" 2>&1 ||
  { cat "$LAB_DIR/site/terminate-d.log"; lab_fail "strongSwan could not delete CHILD_SA d"; }
for _ in $(seq 50); do [ "$(ip -n pop1 xfrm state | grep -c "proto esp")" -eq 2 ] && break; sleep 0.2; done
echo "\$ ip -n pop1 xfrm policy | grep src   # after d's Delete"; ip -n pop1 xfrm policy | grep "^src"
[ "$(ip -n pop1 xfrm state | grep -c "proto esp")" -eq 2 ] || lab_fail "sedge did not remove CHILD_SA d's SAs when strongSwan deleted it"
! ip -n pop1 xfrm policy | grep -q "10.88.88.0/24" || lab_fail "sedge did not remove CHILD_SA d's policies when strongSwan deleted it"
ip netns exec lanhost0 ping -c 3 -i 0.2 -W 2 10.201.0.10 || lab_fail "CHILD_SA c no longer carries lanhost0's ping after d's Delete"
cp "$LAB_DIR/respond.log" "$LAB_LOG_DIR/respond.log"
echo PASS
