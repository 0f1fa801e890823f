#!/bin/sh
# Proves the harness: strongSwan at the site initiates IKEv2 to a strongSwan POP with the seed's
# Secure Edge profile; a LAN host pings the server behind the POP through kernel ESP.
. "$SEDGE_SOURCE_DIR/tests/lab/lib/lab.sh"
. "$SEDGE_SOURCE_DIR/tests/lab/pops/site_swanctl.sh"
lab_topology
mkdir -p "$LAB_DIR/pop1"
cat > "$LAB_DIR/pop1/swanctl.conf" <<EOC
connections {
  sec {
    proposals = aes128gcm16-prfsha256-modp2048
    local { auth = psk
      id = $POP1_ID }
    remote { auth = psk
      id = site1@example.com }
    children { c { local_ts = 10.201.0.0/24
        remote_ts = 10.99.99.0/24
        esp_proposals = aes128gcm16-modp2048 } }
  }
}
secrets { ike-1 { id-1 = site1@example.com
    id-2 = $POP1_ID
    secret = "Juniper!1" } }
EOC
lab_strongswan pop1 pop1
site_swanctl
lab_strongswan site site
lab_swanctl site --initiate --child c --timeout 30 > "$LAB_DIR/site/initiate.log" 2>&1 || { cat "$LAB_DIR/site/initiate.log"; lab_fail "IKE did not come up"; }
lab_swanctl site --list-sas | grep -E "ESTABLISHED|INSTALLED|AES_GCM"
ping_through_tunnel
lab_expect_esp pop1 192.0.2.2 198.51.100.2 5
echo PASS
