#!/bin/sh
# sedge's initiator at the site to sedge's responder at pop1, both from sedge configurations,
# with the seed's profile; a LAN host pings the server behind pop1 through kernel ESP. The
# initiator starts first, while nothing listens at the POP: it must retransmit (through the ICMP
# port-unreachable errors) until the responder is there.
# LAB_CERT_KIND=ec or rsa: both authenticate with certificates of a lab CA made with openssl
# (cert_lib.sh), RFC 7427 ECDSA P-256 or RSASSA-PSS. LAB_NAT=wan0: the site is behind a
# masquerading NAT; the responder must see it in NAT_DETECTION_SOURCE_IP, follow the initiator
# to UDP 4500 and install ESP-in-UDP SAs.
. "$SEDGE_SOURCE_DIR/tests/lab/lib/lab.sh"
. "$SEDGE_SOURCE_DIR/tests/lab/pops/seed_peers.sh"
. "$SEDGE_SOURCE_DIR/tests/lab/ike/cert_lib.sh"
kind=${LAB_CERT_KIND:-}
if [ "${LAB_NAT:-}" = wan0 ]; then lab_topology nat=wan0; else lab_topology; fi
site_extra="" pop_extra=""
if [ -n "$kind" ]; then
  cert_pki "$kind"
  site_extra=$(cert_sedge_lines site) pop_extra=$(cert_sedge_lines pop)
fi
site_sedge "$site_extra"
sleep 2.5
pop1_sedge "$pop_extra"
wait_for_line "$LAB_DIR/connect.log" "tunnel site1-primary up:" || { cat "$LAB_DIR/connect.log"; lab_fail "sedge's initiator did not come up"; }
wait_for_line "$LAB_DIR/respond.log" "tunnel site1 up:" || { cat "$LAB_DIR/respond.log"; lab_fail "sedge's responder did not come up"; }
cat "$LAB_DIR/connect.log" "$LAB_DIR/respond.log"
if [ -n "$kind" ]; then
  grep -q "authenticating with certificate .*CN=site1" "$LAB_DIR/connect.log" || lab_fail "the initiator did not use its certificate"
  grep -q "authenticating with certificate .*CN=$POP1_ID" "$LAB_DIR/respond.log" || lab_fail "the responder did not use its certificate"
fi
ping_through_tunnel
if [ "${LAB_NAT:-}" = wan0 ]; then
  expect_natt site "$LAB_DIR/connect.log"
  expect_natt pop1 "$LAB_DIR/respond.log"
fi
echo PASS
