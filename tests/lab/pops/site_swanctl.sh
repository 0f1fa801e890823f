# Writes the site's strongSwan configuration (the seed's Juniper Secure Edge profile: IKEv2 PSK,
# aes128gcm16-prfsha256-modp2048, ESP aes128gcm16 with PFS group 14, e-mail local ID, FQDN
# remote ID) into $LAB_DIR/site/swanctl.conf, initiating to pop1.
POP1_ID=4c011f96-ece7-4e78-8c19-8ddd14402ecb.jsec-gen.juniper.net
site_swanctl() {
  mkdir -p "$LAB_DIR/site"
  cat > "$LAB_DIR/site/swanctl.conf" <<EOC
connections {
  sec {
    remote_addrs = 192.0.2.2
    proposals = aes128gcm16-prfsha256-modp2048
    rekey_time = 86400s
    local { auth = psk
      id = site1@example.com }
    remote { auth = psk
      id = $POP1_ID }
    children { c { local_ts = 10.99.99.0/24
        remote_ts = 10.201.0.0/24
        esp_proposals = aes128gcm16-modp2048
        rekey_time = 3600s } }
  }
}
secrets { ike-1 { id-1 = site1@example.com
    id-2 = $POP1_ID
    secret = "Juniper!1" } }
EOC
}

ping_through_tunnel() {
  ip netns exec lanhost0 ping -c 5 -i 0.2 -W 2 10.201.0.10 || lab_fail "no ping from the LAN host to srv1 through the tunnel"
  lab_expect_esp site 198.51.100.2 192.0.2.2 5
}
