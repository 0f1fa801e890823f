#!/bin/sh
# strongSwan at the site initiates IKEv2 (the seed's Secure Edge profile) to sedge's responder
# (sedge-connect --respond, from sedge's configuration) at pop1; the CHILD_SA goes into the
# kernel through sedge's netlink layer; a LAN host pings the server behind pop1 through ESP.
. "$SEDGE_SOURCE_DIR/tests/lab/lib/lab.sh"
. "$SEDGE_SOURCE_DIR/tests/lab/pops/seed_peers.sh"
lab_topology
pop1_sedge
site_strongswan
lab_swanctl site --initiate --child c --timeout 30 > "$LAB_DIR/site/initiate.log" 2>&1 ||
  { cat "$LAB_DIR/site/initiate.log" "$LAB_DIR/respond.log"; lab_fail "strongSwan could not establish with sedge"; }
wait_for_line "$LAB_DIR/respond.log" "tunnel site1 up:" || { cat "$LAB_DIR/respond.log"; lab_fail "sedge did not install the tunnel"; }
cat "$LAB_DIR/respond.log"
lab_swanctl site --list-sas | grep -E "ESTABLISHED|INSTALLED|AES_GCM"
ping_through_tunnel
if [ -n "${LAB_EXPECT_SUITE:-}" ]; then
  lab_swanctl site --list-sas | grep -F "$LAB_EXPECT_SUITE" || lab_fail "strongSwan does not report $LAB_EXPECT_SUITE"
  esp=${LAB_EXPECT_ESP:-ESP:AES_GCM_16-}
  lab_swanctl site --list-sas | grep -F "$esp" || lab_fail "strongSwan does not report $esp"
fi
# What sedge put in the kernel at pop1 for the suite (';'-separated regular expressions).
if [ -n "${LAB_EXPECT_XFRM:-}" ]; then
  ip -n pop1 xfrm state | sed -E 's/0x[0-9a-f]+/(key)/' > "$LAB_DIR/xfrm-state.txt"
  echo "\$ ip -n pop1 xfrm state   # algorithms and flags"
  grep -E "^src|auth|enc|aead|flag|esn" "$LAB_DIR/xfrm-state.txt"
  echo "$LAB_EXPECT_XFRM" | tr ';' '\n' | while read -r want; do
    [ "$(grep -cE "$want" "$LAB_DIR/xfrm-state.txt")" -ge 2 ] || lab_fail "sedge's SAs do not show '$want' (both directions)"
  done
fi
echo PASS
