#!/bin/sh
# libreswan (pluto) at the site initiates IKEv2 with the seed's profile to sedge's responder at
# pop1; a LAN host pings the server behind pop1 through kernel ESP. LAB_CERT_KIND=ec or rsa:
# both authenticate with certificates of a lab CA made with openssl (cert_lib.sh; libreswan's
# from its NSS database) and RFC 7427 signatures, ECDSA P-256 (authby=ecdsa) or RSA-2048 with
# RSASSA-PSS (authby=rsa-sha2).
. "$SEDGE_SOURCE_DIR/tests/lab/lib/lab.sh"
. "$SEDGE_SOURCE_DIR/tests/lab/pops/seed_peers.sh"
. "$SEDGE_SOURCE_DIR/tests/lab/ike/cert_lib.sh"
kind=${LAB_CERT_KIND:-}
lab_topology
if [ -n "$kind" ]; then
  cert_pki "$kind"
  [ "${LAB_IKE_CAPTURE:-0}" = 1 ] && ike_capture_start pop1
  cert_pop1_sedge pop "$(ike_capture_keylog_lines)"
  cert_libreswan_nss site site
  site_libreswan "$(cert_libreswan_lines "$kind" site)"
else
  pop1_sedge
  site_libreswan
fi
lab_whack site --initiate --name sec > "$LAB_DIR/site/initiate.log" 2>&1 || true
wait_for_line "$LAB_DIR/respond.log" "tunnel site1 up:" || { cat "$LAB_DIR/site/initiate.log" "$LAB_DIR/respond.log"; lab_fail "libreswan could not establish with sedge"; }
cat "$LAB_DIR/respond.log"
lab_whack site --trafficstatus
[ -z "$kind" ] || { cert_libreswan_expect site "$kind"; ike_capture_keep; }
ping_through_tunnel
echo PASS
