#!/bin/sh
# sedge's own IKEv2 initiator (sedge-connect) to a libreswan responder (pluto from Debian's
# package) at pop1, with the seed's Secure Edge profile; a LAN host pings the server behind pop1
# through kernel ESP.
. "$SEDGE_SOURCE_DIR/tests/lab/lib/lab.sh"
. "$SEDGE_SOURCE_DIR/tests/lab/pops/site_swanctl.sh"
lab_topology
mkdir -p "$LAB_DIR/pop1" "$LAB_DIR/etc"
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
	esp=aes_gcm128-null
	leftupdown=$LAB_LIBRESWAN/usr/libexec/ipsec/_updown
	auto=add
EOC
echo "@$POP1_ID site1@example.com : PSK \"Juniper!1\"" > "$LAB_DIR/pop1/ipsec.secrets"
lab_libreswan pop1 pop1
( umask 077; printf 'Juniper!1' > "$LAB_DIR/etc/site1.psk" )
cat > "$LAB_DIR/etc/sedge.conf" <<EOC
[Interface wan0]
Role=wan
[Connector site1-to-sdcloud]
Provider=juniper-secure-edge
LocalId=site1@example.com
PresharedKeyFile=$LAB_DIR/etc/site1.psk
[Tunnel site1-primary]
Connector=site1-to-sdcloud
Wan=wan0
Remote=192.0.2.2
RemoteId=$POP1_ID
Routing=policy-based
LocalTrafficSelector=10.99.99.0/24
RemoteTrafficSelector=10.201.0.0/24
RemoteNetwork=10.201.0.0/24
EOC
ip netns exec site "$SEDGE_BUILD_DIR/agent/connector/sedge-connect" --config-dir "$LAB_DIR/etc" site1-primary 60 \
  > "$LAB_DIR/connect.log" 2>&1 &
for _ in $(seq 100); do grep -q "up:" "$LAB_DIR/connect.log" && break; sleep 0.1; done
cat "$LAB_DIR/connect.log"
grep -q "tunnel site1-primary up:" "$LAB_DIR/connect.log" || lab_fail "sedge did not bring the tunnel up"
echo "\$ whack --trafficstatus   # at pop1 (libreswan)"
lab_whack pop1 --trafficstatus | grep -q "site1@example.com" || lab_fail "libreswan shows no CHILD SA for site1@example.com"
lab_whack pop1 --trafficstatus
ping_through_tunnel
lab_expect_esp pop1 192.0.2.2 198.51.100.2 5
echo PASS
