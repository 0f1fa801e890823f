# The peers of the seed's Secure Edge tunnel, for lab scenarios (source after lib/lab.sh): the
# site (site1@example.com, LAN 10.99.99.0/24, wan0) and the POP pop1 (an FQDN identity, server
# network 10.201.0.0/24), with the seed's profile: IKEv2 PSK, aes128gcm16-prfsha256-modp2048, ESP
# aes128gcm16 with PFS group 14. Each function writes one peer's configuration (key included,
# files made 0600) and, for daemons, starts it.
POP1_ID=4c011f96-ece7-4e78-8c19-8ddd14402ecb.jsec-gen.juniper.net
SEED_PSK='Juniper!1'
# Other suites for the same peers: SEED_IKE / SEED_ESP in strongSwan's syntax.
SEED_IKE=${SEED_IKE:-aes128gcm16-prfsha256-modp2048}
SEED_ESP=${SEED_ESP:-aes128gcm16-modp2048}
if [ "$SEED_IKE" = aes128gcm16-prfsha256-modp2048 ]; then SITE_PROVIDER=juniper-secure-edge; else SITE_PROVIDER=custom; fi
LIBRESWAN_IKE=${LIBRESWAN_IKE:-aes_gcm128-sha2_256-modp2048}  # the same suite in libreswan's syntax

swanctl_conf() {  # NAME LOCAL_ID REMOTE_ID LOCAL_TS REMOTE_TS [remote_addrs line]
  mkdir -p "$LAB_DIR/$1"
  cat > "$LAB_DIR/$1/swanctl.conf" <<EOC
connections {
  sec {
    ${6:-}
    proposals = $SEED_IKE
    local { auth = psk
      id = $2 }
    remote { auth = psk
      id = $3 }
    children { c { local_ts = $4
        remote_ts = $5
        esp_proposals = $SEED_ESP } }
  }
}
secrets { ike-1 { id-1 = site1@example.com
    id-2 = $POP1_ID
    secret = "$SEED_PSK" } }
EOC
}

# strongSwan at the site, initiating to pop1 (lab_swanctl site --initiate --child c ...).
site_strongswan() {
  swanctl_conf site site1@example.com "$POP1_ID" 10.99.99.0/24 10.201.0.0/24 "remote_addrs = 192.0.2.2"
  lab_strongswan site site
}

# strongSwan at pop1, responding.
pop1_strongswan() {
  swanctl_conf pop1 "$POP1_ID" site1@example.com 10.201.0.0/24 10.99.99.0/24
  lab_strongswan pop1 pop1
}

# libreswan_conf NAME LEFT LEFT_ID LEFT_NET RIGHT RIGHT_ID RIGHT_NET [AUTH]: AUTH is the
# connection's authentication lines (default authby=secret; certificates: cert_libreswan_lines).
libreswan_conf() {
  mkdir -p "$LAB_DIR/$1"
  cat > "$LAB_DIR/$1/ipsec.conf" <<EOC
config setup
	logfile=$LAB_DIR/$1/pluto.log
conn sec
	ikev2=insist
	${8:-authby=secret}
	left=$2
	leftid=$3
	leftsubnet=$4
	right=$5
	rightid=$6
	rightsubnet=$7
	ike=$LIBRESWAN_IKE
	esp=aes_gcm128-null
	leftupdown=$LAB_LIBRESWAN/usr/libexec/ipsec/_updown
	auto=add
EOC
  echo "$3 $6 : PSK \"$SEED_PSK\"" > "$LAB_DIR/$1/ipsec.secrets"
  lab_libreswan "$1" "$1"
}

# libreswan at pop1, responding; libreswan at the site (lab_whack site --initiate --name sec);
# an optional argument replaces the PSK's authby line.
pop1_libreswan() { libreswan_conf pop1 192.0.2.2 "@$POP1_ID" 10.201.0.0/24 %any site1@example.com 10.99.99.0/24 "${1:-}"; }
site_libreswan() { libreswan_conf site 198.51.100.2 site1@example.com 10.99.99.0/24 192.0.2.2 "@$POP1_ID" 10.201.0.0/24 "${1:-}"; }

# sedge at the site: its configuration of the seed's tunnel (plus the lines in $1, if any) in
# $LAB_DIR/site-etc, and sedge-connect started as initiator ($connector, log $LAB_DIR/connect.log),
# with the options in $SEDGE_CONNECT_OPTS, for $SEDGE_CONNECT_SECONDS (60).
site_sedge() {
  mkdir -p "$LAB_DIR/site-etc"
  ( umask 077; printf '%s' "$SEED_PSK" > "$LAB_DIR/site-etc/site1.psk" )
  cat > "$LAB_DIR/site-etc/sedge.conf" <<EOC
[Interface wan0]
Role=wan
[Connector site1-to-sdcloud]
Provider=$SITE_PROVIDER
LocalId=site1@example.com
PresharedKeyFile=$LAB_DIR/site-etc/site1.psk
[Tunnel site1-primary]
Connector=site1-to-sdcloud
Wan=wan0
Remote=192.0.2.2
RemoteId=$POP1_ID
IkeProposal=$SEED_IKE
EspProposal=$SEED_ESP
Routing=policy-based
LocalTrafficSelector=10.99.99.0/24
RemoteTrafficSelector=10.201.0.0/24
RemoteNetwork=10.201.0.0/24
EOC
  [ -z "${1:-}" ] || printf '%s\n' "$1" >> "$LAB_DIR/site-etc/sedge.conf"
  # shellcheck disable=SC2086
  ip netns exec site "$SEDGE_BUILD_DIR/agent/connector/sedge-connect" ${SEDGE_CONNECT_OPTS:-} --config-dir "$LAB_DIR/site-etc" \
    site1-primary "${SEDGE_CONNECT_SECONDS:-60}" \
    > "$LAB_DIR/connect.log" 2>&1 &
  connector=$!
}

# sedge at pop1: the POP side of the tunnel, sedge-connect started as responder
# (log $LAB_DIR/respond.log; $SEDGE_CONNECT_OPTS and $SEDGE_CONNECT_SECONDS as for the site;
# an optional argument is appended to its [Tunnel] section, as with site_sedge).
pop1_sedge() {
  mkdir -p "$LAB_DIR/pop1-etc"
  ( umask 077; printf '%s' "$SEED_PSK" > "$LAB_DIR/pop1-etc/pop.psk" )
  cat > "$LAB_DIR/pop1-etc/sedge.conf" <<EOC
[Interface wan]
Role=wan
[Connector sites]
LocalId=$POP1_ID
PresharedKeyFile=$LAB_DIR/pop1-etc/pop.psk
[Tunnel site1]
Connector=sites
Wan=wan
Remote=198.51.100.2
RemoteId=site1@example.com
IkeProposal=$SEED_IKE
EspProposal=$SEED_ESP
Routing=policy-based
LocalTrafficSelector=10.201.0.0/24
RemoteTrafficSelector=10.99.99.0/24
RemoteNetwork=10.99.99.0/24
EOC
  [ -z "${1:-}" ] || printf '%s\n' "$1" >> "$LAB_DIR/pop1-etc/sedge.conf"
  # shellcheck disable=SC2086
  ip netns exec pop1 "$SEDGE_BUILD_DIR/agent/connector/sedge-connect" ${SEDGE_CONNECT_OPTS:-} --config-dir "$LAB_DIR/pop1-etc" \
    --respond site1 "${SEDGE_CONNECT_SECONDS:-60}" \
    > "$LAB_DIR/respond.log" 2>&1 &
  for _ in $(seq 50); do grep -q "listening" "$LAB_DIR/respond.log" && break; sleep 0.1; done
}

# expect_suite STRONGSWAN_NS SEDGE_NS: with LAB_EXPECT_SUITE (and LAB_EXPECT_ESP, AES-GCM-16 by
# default) strongSwan reports the negotiated suite; with LAB_EXPECT_XFRM (';'-separated regular
# expressions of ip xfrm state) sedge's kernel SAs show each in both directions.
expect_suite() {
  if [ -n "${LAB_EXPECT_SUITE:-}" ]; then
    lab_swanctl "$1" --list-sas | grep -F "$LAB_EXPECT_SUITE" || lab_fail "strongSwan does not report $LAB_EXPECT_SUITE"
    esp=${LAB_EXPECT_ESP:-ESP:AES_GCM_16-}
    lab_swanctl "$1" --list-sas | grep -F "$esp" || lab_fail "strongSwan does not report $esp"
  fi
  if [ -n "${LAB_EXPECT_XFRM:-}" ]; then
    ip -n "$2" xfrm state | sed -E 's/0x[0-9a-f]+/(key)/' > "$LAB_DIR/xfrm-state.txt"
    echo "\$ ip -n $2 xfrm state   # algorithms and flags"
    grep -E "^src|auth|enc|aead|flag|esn" "$LAB_DIR/xfrm-state.txt"
    echo "$LAB_EXPECT_XFRM" | tr ';' '\n' | while read -r want; do
      [ "$(grep -cE "$want" "$LAB_DIR/xfrm-state.txt")" -ge 2 ] || lab_fail "sedge's SAs do not show '$want' (both directions)"
    done
  fi
}

# expect_natt NS [SEDGE_LOG]: a NAT was found between the peers: the SAs in NS are ESP in UDP 4500
# (RFC 3948), both directions, and sedge's log there (if given) says it floated to UDP 4500.
expect_natt() {
  echo "\$ ip -n $1 xfrm state | grep encap"
  ip -n "$1" xfrm state | grep "encap type"
  [ "$(ip -n "$1" xfrm state | grep -c "encap type espinudp sport 4500 dport 4500")" -ge 2 ] ||
    lab_fail "the SAs in $1 are not ESP in UDP 4500 (both directions)"
  [ -z "${2:-}" ] || grep -q "up: .*behind NAT: UDP 4500" "$2" || lab_fail "sedge in $1 did not detect the NAT"
}

# ike_capture_start NS: dumpcap (Wireshark's capture engine, quicker to start in the guest than
# tshark) captures IKE (UDP 500 and 4500) on NS's wan into $LAB_DIR/ike.pcap ($capture);
# ike_capture_stop ends it once it holds MIN IKE_ messages.
ike_capture_start() {
  ip netns exec "$1" dumpcap -P -q -i wan -f "udp port 500 or udp port 4500" -w "$LAB_DIR/ike.pcap" > "$LAB_DIR/tshark.log" 2>&1 &
  capture=$!
  for _ in $(seq 300); do grep -q "Capturing on" "$LAB_DIR/tshark.log" && break; sleep 0.1; done
  grep -q "Capturing on" "$LAB_DIR/tshark.log" || lab_fail "dumpcap did not start capturing"
}
ike_capture_stop() {  # MIN
  for _ in $(seq 300); do [ "$(tshark -r "$LAB_DIR/ike.pcap" 2>/dev/null | grep -c IKE_)" -ge "$1" ] && break; sleep 0.1; done
  kill -INT "$capture"; wait "$capture" 2>/dev/null || true
}
# With LAB_IKE_CAPTURE=1 a scenario keeps its IKE exchange and sedge's keys for it in its log
# directory (ike.pcap, ikev2_decryption_table: lab keys only; ca.crt, its lab CA), from which
# tests/fuzz/ike/record_auth_corpus.py takes decrypted IKE_AUTH payloads as fuzz seeds. These are
# the [Agent] lines sedge writes its keys with (empty without LAB_IKE_CAPTURE).
ike_capture_keylog_lines() {
  [ "${LAB_IKE_CAPTURE:-0}" = 1 ] || return 0
  mkdir -p "$LAB_DIR/keys"
  printf '\n[Agent]\nKeyLogDirectory=%s/keys' "$LAB_DIR"
}
ike_capture_keep() {
  [ "${LAB_IKE_CAPTURE:-0}" = 1 ] || return 0
  ike_capture_stop 4
  cp "$LAB_DIR/ike.pcap" "$LAB_DIR/keys/ikev2_decryption_table" "$LAB_LOG_DIR/"
  [ ! -f "$LAB_DIR/pki/ca.crt" ] || cp "$LAB_DIR/pki/ca.crt" "$LAB_LOG_DIR/"  # the certificates' lab CA
}

wait_for_line() {  # FILE TEXT: up to 10 s
  for _ in $(seq 100); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done
  return 1
}

ping_through_tunnel() {
  ip netns exec lanhost0 ping -c 5 -i 0.2 -W 2 10.201.0.10 || lab_fail "no ping from the LAN host to srv1 through the tunnel"
  lab_expect_esp site "${LAB_SITE_WAN:-198.51.100.2}" 192.0.2.2 5
  lab_expect_esp pop1 "${LAB_POP1_WAN:-192.0.2.2}" 198.51.100.2 5
}

# strongSwan at a POP (NS: pop1 or pop2, with its identity LOCAL_ID), the responder of the site's
# route-based tunnel as Secure Edge runs it: 0.0.0.0/0 on both sides with the SAs and policies
# marked 42, and a VTI (vti-site, keys 42) between the POP's and the site's WAN addresses (SITE,
# default 198.51.100.2) that the site's LAN networks are routed into; the site's identity, the
# seed's key and suites. Without the mark the POP's 0.0.0.0/0 policies would take every packet it
# forwards, the server's traffic included. charon's routing rule (table 220) is removed: the POP
# routes by its VTI. Config and logs under $LAB_DIR/NS (lab_swanctl NS ...).
pop_strongswan_route_based() {  # NS LOCAL_ID [SITE]
  mkdir -p "$LAB_DIR/$1"
  cat > "$LAB_DIR/$1/swanctl.conf" <<EOC
connections {
  sec {
    proposals = $SEED_IKE
    local { auth = psk
      id = $2 }
    remote { auth = psk
      id = site1@example.com }
    children { c { local_ts = 0.0.0.0/0
        remote_ts = 0.0.0.0/0
        mark_in = 42
        mark_out = 42
        esp_proposals = $SEED_ESP } }
  }
}
secrets { ike-1 { id-1 = site1@example.com
    id-2 = $2
    secret = "$SEED_PSK" } }
EOC
  pop_wan=$(ip -n "$1" -4 -o addr show dev wan | awk '{sub(/\/.*/, "", $4); print $4}')
  ip -n "$1" link add vti-site type vti local "$pop_wan" remote "${3:-198.51.100.2}" ikey 42 okey 42
  ip netns exec "$1" sysctl -qw net.ipv4.conf.vti-site.disable_policy=1
  ip -n "$1" link set vti-site up
  ip -n "$1" route add 10.99.99.0/24 dev vti-site
  ip -n "$1" route add 10.88.88.0/24 dev vti-site
  lab_strongswan "$1" "$1"
  ip -n "$1" rule del pref 220 2>/dev/null || true
}

# pop_restart NS: the POP restarts: its charon killed (no Delete sent), its kernel's SAs and
# policies gone, charon started again with the same configuration (a route-based POP's VTI stays,
# and charon's own routing rule goes again).
pop_restart() {
  for p in $(ip netns pids "$1"); do [ "$(cat /proc/"$p"/comm 2>/dev/null)" = charon ] && kill -9 "$p"; done
  ip -n "$1" xfrm state flush
  ip -n "$1" xfrm policy flush
  lab_strongswan "$1" "$1"
  ip -n "$1" rule del pref 220 2>/dev/null || true
}
