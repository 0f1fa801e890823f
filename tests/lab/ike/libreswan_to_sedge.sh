#!/bin/sh
# libreswan (pluto) at the site initiates IKEv2 with the seed's profile to sedge's responder at
# pop1; a LAN host pings the server behind pop1 through kernel ESP.
. "$SEDGE_SOURCE_DIR/tests/lab/lib/lab.sh"
. "$SEDGE_SOURCE_DIR/tests/lab/pops/site_swanctl.sh"
. "$SEDGE_SOURCE_DIR/tests/lab/ike/sedge_pop.sh"
lab_topology
sedge_pop_responder
mkdir -p "$LAB_DIR/site"
cat > "$LAB_DIR/site/ipsec.conf" <<EOC
config setup
	logfile=$LAB_DIR/site/pluto.log
conn sec
	ikev2=insist
	authby=secret
	left=198.51.100.2
	leftid=site1@example.com
	leftsubnet=10.99.99.0/24
	right=192.0.2.2
	rightid=@$POP1_ID
	rightsubnet=10.201.0.0/24
	ike=aes_gcm128-sha2_256-modp2048
	esp=aes_gcm128-null
	leftupdown=$LAB_LIBRESWAN/usr/libexec/ipsec/_updown
	auto=add
EOC
echo "site1@example.com @$POP1_ID : PSK \"Juniper!1\"" > "$LAB_DIR/site/ipsec.secrets"
lab_libreswan site site
lab_whack site --initiate --name sec > "$LAB_DIR/site/initiate.log" 2>&1 || true
for _ in $(seq 100); do grep -q "up:" "$LAB_DIR/respond.log" && break; sleep 0.1; done
cat "$LAB_DIR/respond.log"
grep -q "tunnel site1 up:" "$LAB_DIR/respond.log" || { cat "$LAB_DIR/site/initiate.log"; lab_fail "libreswan could not establish with sedge"; }
lab_whack site --trafficstatus
ping_through_tunnel
lab_expect_esp pop1 192.0.2.2 198.51.100.2 5
echo PASS
