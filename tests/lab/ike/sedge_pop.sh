# Sourced by the scenarios where sedge responds at pop1: its configuration (the POP side of the
# seed's tunnel) and the responder started in the background (log: $LAB_DIR/respond.log).
sedge_pop_responder() {
  mkdir -p "$LAB_DIR/etc"
  ( umask 077; printf 'Juniper!1' > "$LAB_DIR/etc/pop.psk" )
  cat > "$LAB_DIR/etc/sedge.conf" <<EOC
[Interface wan]
Role=wan
[Connector sites]
LocalId=$POP1_ID
PresharedKeyFile=$LAB_DIR/etc/pop.psk
[Tunnel site1]
Connector=sites
Wan=wan
Remote=198.51.100.2
RemoteId=site1@example.com
IkeProposal=aes128gcm16-prfsha256-modp2048
EspProposal=aes128gcm16
Routing=policy-based
LocalTrafficSelector=10.201.0.0/24
RemoteTrafficSelector=10.99.99.0/24
RemoteNetwork=10.99.99.0/24
EOC
  ip netns exec pop1 "$SEDGE_BUILD_DIR/agent/connector/sedge-connect" --config-dir "$LAB_DIR/etc" --respond site1 60 \
    > "$LAB_DIR/respond.log" 2>&1 &
  for _ in $(seq 50); do grep -q "listening" "$LAB_DIR/respond.log" && break; sleep 0.1; done
}
