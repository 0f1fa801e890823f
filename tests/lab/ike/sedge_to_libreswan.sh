#!/bin/sh
# sedge's own IKEv2 initiator (sedge-connect) to a libreswan responder (pluto from Debian's
# package) at pop1, with the seed's Secure Edge profile; a LAN host pings the server behind pop1
# through kernel ESP. LAB_CERT_KIND=ec or rsa: both authenticate with certificates of a lab CA
# made with openssl (cert_lib.sh; libreswan's from its NSS database) and RFC 7427 signatures,
# ECDSA P-256 (authby=ecdsa) or RSA-2048 with RSASSA-PSS (authby=rsa-sha2). Then the site's
# kernel also keeps the larval SA of ALLOCSPI only 1 s (net.core.xfrm_acq_expires, 30 s by
# default): pluto installs its side before it answers IKE_AUTH, which took it up to 30 s in the
# guest, and sedge must then add the inbound SA itself rather than complete the larval one.
. "$SEDGE_SOURCE_DIR/tests/lab/lib/lab.sh"
. "$SEDGE_SOURCE_DIR/tests/lab/pops/seed_peers.sh"
. "$SEDGE_SOURCE_DIR/tests/lab/ike/cert_lib.sh"
kind=${LAB_CERT_KIND:-}
lab_topology
if [ -n "$kind" ]; then
  cert_pki "$kind"
  ip netns exec site sysctl -qw net.core.xfrm_acq_expires=1
  cert_libreswan_nss pop1 pop
  pop1_libreswan "$(cert_libreswan_lines "$kind" pop)"
  [ "${LAB_IKE_CAPTURE:-0}" = 1 ] && ike_capture_start pop1
  site_sedge "$(cert_sedge_lines site)$(ike_capture_keylog_lines)"
else
  pop1_libreswan
  site_sedge
fi
wait_for_line "$LAB_DIR/connect.log" "up:" || { cat "$LAB_DIR/connect.log"; lab_fail "sedge did not bring the tunnel up"; }
cat "$LAB_DIR/connect.log"
lab_whack pop1 --trafficstatus | grep -q "site1@example.com" || lab_fail "libreswan shows no CHILD SA for site1@example.com"
lab_whack pop1 --trafficstatus
[ -z "$kind" ] || { cert_libreswan_expect pop1 "$kind"; ike_capture_keep; }
if [ -n "$kind" ] && [ "$(grep -c "retransmitting IKE_MESSAGE_ID=1" "$LAB_DIR/connect.log")" -ge 2 ]; then
  # 3 s or more went by after ALLOCSPI: the larval SA was gone.
  grep -q "expired while the peer answered; adding the SA" "$LAB_DIR/connect.log" ||
    lab_fail "sedge did not add the inbound SA whose larval SA had expired"
fi
ping_through_tunnel
if [ -n "${LAB_EXPECT_SUITE:-}" ]; then
  grep -F "$LAB_EXPECT_SUITE" "$LAB_DIR/pop1/pluto.log" | tail -1 | grep . || lab_fail "libreswan does not report $LAB_EXPECT_SUITE"
fi
echo PASS
