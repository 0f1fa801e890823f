# lab.sh: the shell library of lab scenarios (POSIX sh). Source it first:
#   . "$SEDGE_SOURCE_DIR/tests/lab/lib/lab.sh"
# It builds the standard topology (README.md), runs independent IKE peers as fixtures, and
# checks the kernel datapath. Every fixture keeps its files under $LAB_DIR/<name> and its
# logs are copied to $LAB_LOG_DIR when the scenario exits.
set -eu
: "${LAB_DIR:?lab.sh runs inside a lab scenario (LAB_DIR)}"
LAB_LOG_DIR=${LAB_LOG_DIR:-$LAB_DIR}

lab_collect() {
  for f in "$LAB_DIR"/*/*.log; do [ -f "$f" ] && cp -f "$f" "$LAB_LOG_DIR/$(basename "$(dirname "$f")")-$(basename "$f")"; done
  return 0
}
trap lab_collect EXIT

lab_fail() {
  echo "FAIL: $*" >&2
  for ns in $(ip netns list | cut -d' ' -f1); do
    echo "--- $ns" >&2
    ip -n "$ns" -s xfrm state 2>/dev/null | grep -E "^src|proto|packets" >&2 || true
    ip -n "$ns" xfrm policy 2>/dev/null | grep -E "^src|dir" >&2 || true
  done
  exit 1
}

# lab_link NS_A IF_A ADDR_A NS_B IF_B ADDR_B: a veth pair between two namespaces, addressed and up.
lab_link() {
  ip link add "lab-$$-a" type veth peer name "lab-$$-b"
  ip link set "lab-$$-a" netns "$1" name "$2"
  ip link set "lab-$$-b" netns "$4" name "$5"
  ip -n "$1" addr add "$3" dev "$2"; ip -n "$1" link set "$2" up
  ip -n "$4" addr add "$6" dev "$5"; ip -n "$4" link set "$5" up
}

lab_ns() {  # lab_ns NAME [router]: a namespace with lo up; routers forward
  ip netns add "$1"
  ip -n "$1" link set lo up
  if [ "${2:-}" = router ]; then
    ip netns exec "$1" sysctl -qw net.ipv4.ip_forward=1 net.ipv4.conf.all.rp_filter=2 net.ipv4.conf.default.rp_filter=2
  fi
}

# lab_topology [nat=wan0] [nat=pop1]: the standard topology (see tests/lab/README.md). Sets
# LAB_SITE_WAN and LAB_POP1_WAN, the addresses the site's wan0 and pop1's wan hold themselves.
lab_topology() {
  nat="" pop1_nat=""
  for arg in "$@"; do
    case $arg in nat=wan0) nat=wan0 ;; nat=pop1) pop1_nat=1 ;; *) echo "lab_topology: unknown $arg" >&2; return 2 ;; esac
  done
  LAB_SITE_WAN=198.51.100.2 LAB_POP1_WAN=192.0.2.2
  for ns in site inet pop1 pop2; do lab_ns "$ns" router; done
  for ns in lanhost0 lanhost1 srv1 srv2 web; do lab_ns "$ns"; done
  # LAN side: hosts behind the site's LAN interfaces, so their traffic enters lan0/lan1.
  lab_link site lan0 10.99.99.1/24 lanhost0 eth0 10.99.99.10/24
  lab_link site lan1 10.88.88.1/24 lanhost1 eth0 10.88.88.10/24
  ip -n lanhost0 route add default via 10.99.99.1
  ip -n lanhost1 route add default via 10.88.88.1
  # WAN side: two links to the Internet router, wan0 optionally behind a NAT.
  if [ -n "$nat" ]; then
    lab_ns nat0 router
    lab_link site wan0 100.64.0.2/24 nat0 in0 100.64.0.1/24
    lab_link nat0 out0 198.51.100.2/24 inet isp0 198.51.100.1/24
    ip -n nat0 route add default via 198.51.100.1
    ip netns exec nat0 iptables-legacy -t nat -A POSTROUTING -o "out0" -j MASQUERADE
    ip -n site route add default via 100.64.0.1 dev wan0 metric 100
    LAB_SITE_WAN=100.64.0.2
  else
    lab_link site wan0 198.51.100.2/24 inet isp0 198.51.100.1/24
    ip -n site route add default via 198.51.100.1 dev wan0 metric 100
  fi
  lab_link site wan1 203.0.113.2/24 inet isp1 203.0.113.1/24
  ip -n site route add default via 203.0.113.1 dev wan1 metric 200
  # Two SEC points of presence, each with a server behind it, and a breakout host.
  if [ -n "$pop1_nat" ]; then lab_pop1_behind_cpe; else lab_link inet pop1 192.0.2.1/28 pop1 wan 192.0.2.2/28; fi
  lab_link inet pop2 192.0.2.17/28 pop2 wan 192.0.2.18/28
  lab_link inet web 192.0.2.33/28 web eth0 192.0.2.34/28
  for p in 1 2; do
    if [ "$p" = 1 ] && [ -n "$pop1_nat" ]; then ip -n pop1 route add default via 172.16.1.1; else
      ip -n "pop$p" route add default via "192.0.2.$(( (p - 1) * 16 + 1 ))"
    fi
    lab_link "pop$p" srv "10.20$p.0.1/24" "srv$p" eth0 "10.20$p.0.10/24"
    ip -n "srv$p" route add default via "10.20$p.0.1"
  done
  ip -n web route add default via 192.0.2.33
}

# pop1 behind a CPE (namespace cpe1, as an appliance behind a customer's router): cpe1 holds
# 192.0.2.2 towards the Internet and forwards UDP 500 and 4500 to pop1's wan, 172.16.1.2/24
# (DNAT), masquerading the rest. iptables as for nat0: the lab kernel has no nftables NAT.
lab_pop1_behind_cpe() {
  lab_ns cpe1 router
  lab_link inet pop1 192.0.2.1/28 cpe1 out 192.0.2.2/28
  lab_link cpe1 in 172.16.1.1/24 pop1 wan 172.16.1.2/24
  ip -n cpe1 route add default via 192.0.2.1
  for port in 500 4500; do
    ip netns exec cpe1 iptables-legacy -t nat -A PREROUTING -i out -p udp --dport "$port" -j DNAT --to-destination 172.16.1.2
  done
  ip netns exec cpe1 iptables-legacy -t nat -A POSTROUTING -o out -j MASQUERADE
  LAB_POP1_WAN=172.16.1.2
}

# lab_topology_ipv6: IPv6 beside IPv4 on the standard topology (call it after a plain
# lab_topology, no nat=): documentation prefixes (RFC 3849) on the site's wan0 (2001:db8:100::2/64,
# inet's isp0 ::1), pop1's wan (2001:db8:2::2/64, inet's pop1 ::1), the site's lan0 (2001:db8:99::1/64,
# lanhost0 ::10) and pop1's srv (2001:db8:201::1/64, srv1 ::10), default routes through inet and the
# routers forwarding IPv6. Addresses skip duplicate address detection: usable at once. Sets
# LAB_SITE_WAN6 and LAB_POP1_WAN6.
lab_topology_ipv6() {
  for ns in nat0 cpe1; do
    ! ip netns list | grep -qw "$ns" || { echo "lab_topology_ipv6: not with lab_topology nat=" >&2; return 2; }
  done
  LAB_SITE_WAN6=2001:db8:100::2 LAB_POP1_WAN6=2001:db8:2::2
  for ns in site inet pop1; do ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.forwarding=1; done
  for ns in site inet pop1 lanhost0 srv1; do ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=0; done
  while read -r ns dev addr; do
    ip netns exec "$ns" sysctl -qw "net.ipv6.conf.$dev.disable_ipv6=0"
    ip -n "$ns" -6 addr add "$addr" dev "$dev" nodad
  done <<EOA
site wan0 2001:db8:100::2/64
inet isp0 2001:db8:100::1/64
inet pop1 2001:db8:2::1/64
pop1 wan 2001:db8:2::2/64
site lan0 2001:db8:99::1/64
lanhost0 eth0 2001:db8:99::10/64
pop1 srv 2001:db8:201::1/64
srv1 eth0 2001:db8:201::10/64
EOA
  ip -n site -6 route add default via 2001:db8:100::1 dev wan0
  ip -n pop1 -6 route add default via 2001:db8:2::1 dev wan
  ip -n lanhost0 -6 route add default via 2001:db8:99::1 dev eth0
  ip -n srv1 -6 route add default via 2001:db8:201::1 dev eth0
}

# ---- strongSwan (charon + swanctl), one per namespace, each with a private /run ----

# lab_strongswan NAME NS: starts charon in NS with $LAB_DIR/NAME/swanctl.conf (written by the
# caller, secrets included, mode 0600) and loads it. LAB_CHARON_LOG, if set, replaces the log
# levels of charon.log (strongswan.conf lines, e.g. "ike = 4" to see the derived keys).
# charon.log is written line by line (flush_line): scenarios read it while charon runs, and a
# buffered line would reach them late by an amount that depends on load.
lab_strongswan() {
  d=$LAB_DIR/$1
  mkdir -p "$d"; rm -f "$d/charon.vici"
  levels=${LAB_CHARON_LOG:-"ike = 2
      cfg = 2"}
  cat > "$d/strongswan.conf" <<EOC
charon {
  load_modular = no
  load = random nonce aes sha1 sha2 hmac kdf gcm curve25519 openssl pem pkcs1 x509 kernel-netlink socket-default vici
  filelog { log { path = $d/charon.log
      flush_line = yes
      default = 1
      $levels } }
  plugins { vici { socket = unix://$d/charon.vici } }
}
EOC
  chmod 600 "$d/swanctl.conf"
  ip netns exec "$2" unshare -m sh -c "mount -t tmpfs tmpfs /run; exec env STRONGSWAN_CONF=$d/strongswan.conf /usr/lib/ipsec/charon" \
    > "$d/charon-stdout.log" 2>&1 &
  for _ in $(seq 100); do [ -S "$d/charon.vici" ] && break; sleep 0.1; done
  [ -S "$d/charon.vici" ] || lab_fail "charon $1 did not start (see $d/charon-stdout.log)"
  echo "$2" > "$d/netns"
  lab_swanctl "$1" --load-all --file "$d/swanctl.conf" > "$d/load.log" 2>&1 || { cat "$d/load.log"; lab_fail "swanctl could not load $1"; }
}

lab_swanctl() {  # lab_swanctl NAME ARGS...: swanctl against that charon
  n=$1; shift
  ip netns exec "$(cat "$LAB_DIR/$n/netns")" swanctl "$@" --uri "unix://$LAB_DIR/$n/charon.vici"
}

# ---- libreswan (pluto), unpacked from its Debian package into the build tree ----

LAB_LIBRESWAN=${LAB_LIBRESWAN:-$SEDGE_BUILD_DIR/lab-libreswan}

# lab_libreswan NAME NS: starts pluto in NS with $LAB_DIR/NAME/ipsec.conf and ipsec.secrets
# (written by the caller) and adds every connection in it.
lab_libreswan() {
  d=$LAB_DIR/$1
  [ -x "$LAB_LIBRESWAN/usr/libexec/ipsec/pluto" ] || lab_fail "libreswan is not unpacked in $LAB_LIBRESWAN (ctest runs lab.libreswan_package first)"
  mkdir -p "$d/nss" "$d/run"
  chmod 600 "$d/ipsec.secrets"
  # A database the caller filled (certificates: lab_libreswan_nss) is kept.
  [ -f "$d/nss/cert9.db" ] || certutil -N -d "sql:$d/nss" --empty-password
  # pluto runs /usr/libexec/ipsec/addconn itself: its private copy is bind-mounted there in
  # pluto's own mount namespace only.
  ip netns exec "$2" unshare -m --propagation private sh -c \
    "mount --bind $LAB_LIBRESWAN/usr/libexec /usr/libexec && exec /usr/libexec/ipsec/pluto \"\$@\"" pluto \
    --config "$d/ipsec.conf" --nssdir "$d/nss" --rundir "$d/run" --secretsfile "$d/ipsec.secrets" --logfile "$d/pluto.log"
  for _ in $(seq 100); do [ -S "$d/run/pluto.ctl" ] && break; sleep 0.1; done
  [ -S "$d/run/pluto.ctl" ] || lab_fail "pluto $1 did not start (see $d/pluto.log)"
  echo "$2" > "$d/netns"
  lab_whack "$1" --listen > /dev/null  # interface discovery, as libreswan's own start-up does
  for conn in $(awk '/^conn /{print $2}' "$d/ipsec.conf"); do
    ip netns exec "$2" "$LAB_LIBRESWAN/usr/libexec/ipsec/addconn" --config "$d/ipsec.conf" --ctlsocket "$d/run/pluto.ctl" "$conn"
  done
  lab_whack "$1" --rereadsecrets
}

lab_whack() {  # lab_whack NAME ARGS...
  n=$1; shift
  ip netns exec "$(cat "$LAB_DIR/$n/netns")" "$LAB_LIBRESWAN/usr/libexec/ipsec/whack" --ctlsocket "$LAB_DIR/$n/run/pluto.ctl" "$@"
}

# ---- swtpm: a software TPM 2.0 with an EK certificate, on TCP ----

# lab_swtpm DIR PORT: prints the TCTI string (swtpm:host=127.0.0.1,port=PORT). The EK
# certificate is issued by a local CA of its own, $DIR/localca/issuercert.pem (not the
# system-wide swtpm-localca state).
lab_swtpm() {
  mkdir -p "$1/state" "$1/localca"
  printf 'create_certs_tool = /usr/bin/swtpm_localca\ncreate_certs_tool_config = %s\ncreate_certs_tool_options = %s\n' \
    "$1/swtpm-localca.conf" "$1/swtpm-localca.options" > "$1/swtpm_setup.conf"
  printf 'statedir = %s\nsigningkey = %s\nissuercert = %s\ncertserial = %s\n' \
    "$1/localca" "$1/localca/signkey.pem" "$1/localca/issuercert.pem" "$1/localca/certserial" > "$1/swtpm-localca.conf"
  printf -- '--platform-manufacturer sedge\n--platform-version 2.1\n--platform-model lab\n' > "$1/swtpm-localca.options"
  swtpm_setup --tpm2 --tpmstate "$1/state" --config "$1/swtpm_setup.conf" --create-ek-cert --create-platform-cert \
    --lock-nvram --overwrite > "$1/setup.log" 2>&1 || { cat "$1/setup.log" >&2; lab_fail "swtpm_setup failed"; }
  swtpm socket --tpm2 --tpmstate "dir=$1/state" --server "type=tcp,port=$2,bindaddr=127.0.0.1" \
    --ctrl "type=tcp,port=$(($2 + 1)),bindaddr=127.0.0.1" --flags startup-clear --daemon --pid "file=$1/swtpm.pid" \
    --log "file=$1/swtpm.log"
  for _ in $(seq 50); do [ -s "$1/swtpm.pid" ] && break; sleep 0.1; done
  echo "swtpm:host=127.0.0.1,port=$2"
}

# lab_tpm_resource_manager DIR TCTI: puts tpm2-abrmd (on a private D-Bus session bus) in front
# of a TPM, as the kernel's /dev/tpmrm0 is on an appliance: it swaps transient objects in and
# out, so a client may hold more than the TPM's three slots (OpenSSL's tpm2 provider does while
# it signs). Sets LAB_TPM_RM_TCTI for clients and exports the bus address they need.
lab_tpm_resource_manager() {
  dbus-daemon --session --fork --print-address=1 --print-pid=3 > "$1/bus.addr" 3> "$1/bus.pid"
  DBUS_SESSION_BUS_ADDRESS=$(head -1 "$1/bus.addr"); export DBUS_SESSION_BUS_ADDRESS
  tpm2-abrmd --session --allow-root --tcti "$2" > "$1/abrmd.log" 2>&1 &
  echo $! > "$1/abrmd.pid"
  LAB_TPM_RM_TCTI="tabrmd:bus_type=session"
  for _ in $(seq 50); do TPM2TOOLS_TCTI=$LAB_TPM_RM_TCTI tpm2_getcap handles-persistent > /dev/null 2>&1 && return 0; sleep 0.1; done
  lab_fail "tpm2-abrmd did not start: $(cat "$1/abrmd.log")"
}

lab_tpm_resource_manager_stop() {
  [ -s "$1/abrmd.pid" ] && kill "$(cat "$1/abrmd.pid")" 2>/dev/null
  [ -s "$1/bus.pid" ] && kill "$(cat "$1/bus.pid")" 2>/dev/null
  rm -f "$1/abrmd.pid" "$1/bus.pid"
}

lab_swtpm_stop() { [ -s "$1/swtpm.pid" ] && kill "$(cat "$1/swtpm.pid")" 2>/dev/null; rm -f "$1/swtpm.pid"; }

# ---- The datapath ----

# lab_esp_packets NS DST: packets counted by the ESP states towards DST in NS (the kernel's
# own counters, `ip -s xfrm state`).
lab_esp_packets() {
  ip -n "$1" -s xfrm state | awk -v dst="$2" '
    /^src/ { mine = ($4 == dst) }
    /^[ \t]+[0-9]+\(bytes\), [0-9]+\(packets\)/ && mine { gsub(/[^0-9,]/, "", $0); split($0, a, ","); n += a[2] }
    END { print n + 0 }'
}

# lab_expect_esp NS LOCAL REMOTE MIN: both directions of the tunnel carried at least MIN packets.
lab_expect_esp() {
  out=$(lab_esp_packets "$1" "$3"); in=$(lab_esp_packets "$1" "$2")
  echo "ESP in $1: $out packets out (to $3), $in packets in (to $2)"
  [ "$out" -ge "$4" ] && [ "$in" -ge "$4" ] || lab_fail "ESP counters in $1 did not move: out=$out in=$in (want >= $4)"
}
