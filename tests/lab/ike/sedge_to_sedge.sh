#!/bin/sh
# sedge's initiator at the site to sedge's responder at pop1, both from sedge configurations,
# with the seed's profile; a LAN host pings the server behind pop1 through kernel ESP. The
# initiator starts first, while nothing listens at the POP: it must retransmit (through the ICMP
# port-unreachable errors) until the responder is there.
. "$SEDGE_SOURCE_DIR/tests/lab/lib/lab.sh"
. "$SEDGE_SOURCE_DIR/tests/lab/pops/site_swanctl.sh"
. "$SEDGE_SOURCE_DIR/tests/lab/ike/sedge_pop.sh"
lab_topology
mkdir -p "$LAB_DIR/site-etc"
( umask 077; printf 'Juniper!1' > "$LAB_DIR/site-etc/site1.psk" )
cat > "$LAB_DIR/site-etc/sedge.conf" <<EOC
[Interface wan0]
Role=wan
[Connector site1-to-sdcloud]
Provider=juniper-secure-edge
LocalId=site1@example.com
PresharedKeyFile=$LAB_DIR/site-etc/site1.psk
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
ip netns exec site "$SEDGE_BUILD_DIR/agent/connector/sedge-connect" --config-dir "$LAB_DIR/site-etc" site1-primary 60 \
  > "$LAB_DIR/connect.log" 2>&1 &
sleep 2.5
sedge_pop_responder
for _ in $(seq 100); do grep -q "up:" "$LAB_DIR/respond.log" && grep -q "up:" "$LAB_DIR/connect.log" && break; sleep 0.1; done
cat "$LAB_DIR/connect.log" "$LAB_DIR/respond.log"
grep -q "tunnel site1-primary up:" "$LAB_DIR/connect.log" || lab_fail "sedge's initiator did not come up"
grep -q "tunnel site1 up:" "$LAB_DIR/respond.log" || lab_fail "sedge's responder did not come up"
ping_through_tunnel
lab_expect_esp pop1 192.0.2.2 198.51.100.2 5
echo PASS
