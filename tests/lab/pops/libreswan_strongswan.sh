#!/bin/sh
# strongSwan at the site initiates to a libreswan POP (pluto from the Debian package) with the
# seed's profile; a LAN host pings the server behind the POP through kernel ESP.
. "$SEDGE_SOURCE_DIR/tests/lab/lib/lab.sh"
. "$SEDGE_SOURCE_DIR/tests/lab/pops/site_swanctl.sh"
lab_topology
mkdir -p "$LAB_DIR/pop1"
cat > "$LAB_DIR/pop1/ipsec.conf" <<EOC
config setup
	logfile=$LAB_DIR/pop1/pluto.log
conn sec
	ikev2=insist
	authby=secret
	left=192.0.2.2
	leftid=@$POP1_ID
	leftsubnet=10.201.0.0/24
	right=%any
	rightid=site1@example.com
	rightsubnet=10.99.99.0/24
	ike=aes_gcm128-sha2_256-modp2048
	esp=aes_gcm128-null-modp2048
	leftupdown=$LAB_LIBRESWAN/usr/libexec/ipsec/_updown
	auto=add
EOC
echo "@$POP1_ID site1@example.com : PSK \"Juniper!1\"" > "$LAB_DIR/pop1/ipsec.secrets"
lab_libreswan pop1 pop1
site_swanctl
lab_strongswan site site
lab_swanctl site --initiate --child c --timeout 30 > "$LAB_DIR/site/initiate.log" 2>&1 || { cat "$LAB_DIR/site/initiate.log"; lab_fail "IKE with libreswan did not come up"; }
lab_whack pop1 --trafficstatus
# libreswan installs no route for the remote subnet: the POP returns traffic by its default route.
ping_through_tunnel
lab_expect_esp pop1 192.0.2.2 198.51.100.2 5
echo PASS
