# Shared by the netlink lab scenarios (run inside the UML lab kernel, as root).
# "left" namespaces are programmed by nl-driver (sedge's netlink layer only); "right" ones by
# iproute2 from a batch file (keys in a file, never in argv). Both use the same random keys.
set -eu
NL_DRIVER=${NL_DRIVER:-${LAB_NL_DRIVER:-${SEDGE_BUILD_DIR:-}/tests/lab/netlink/nl-driver}}
[ -x "$NL_DRIVER" ] || { echo "nl-driver not found at $NL_DRIVER (build target nl-driver)" >&2; exit 1; }
work=$(mktemp -d "${LAB_DIR:-/var/tmp}/.snl-lab.XXXXXX")
trap 'rm -rf "$work"' EXIT
umask 077

# The kernel cannot always load crypto templates on demand in the lab (its modprobe helper
# runs without the lab's environment): load what the scenarios use up front.
for m in ctr ghash-generic gcm seqiv echainiv cbc ecb hmac sha512_generic authenc authencesn \
         chacha20poly1305 drbg jitterentropy_rng esp4 esp6 xfrm_user ip_vti ip6_vti dummy veth; do
  modprobe -q "$m" 2>/dev/null || true
done

# On failure, show what the kernels hold (for every namespace of the scenario).
diag() {
  for ns in $(ip netns list | cut -d' ' -f1); do
    echo "=== $ns"; ip -n "$ns" -s xfrm state | grep -v '^\s*\(auth\|enc\|aead\)' ; ip -n "$ns" xfrm policy
    ip -n "$ns" -s -br link; ip -n "$ns" route show table all | grep -v 'local\|multicast\|fe80'; ip -n "$ns" rule
    ip netns exec "$ns" sh -c 'awk "\$2 != 0" /proc/net/xfrm_stat; nstat -az 2>/dev/null | awk "\$2 != 0"; sysctl net.ipv4.conf.all.rp_filter' 
  done
}
fail() { echo "FAIL: $*" >&2; diag >&2; exit 1; }
key() { od -An -tx1 -N"$1" /dev/urandom | tr -d ' \n'; }

# pair NAME V4|V6: namespaces NAME-l / NAME-r joined by a veth (wan); outer addresses
# 192.0.2.1/.2 (or 2001:db8::1/::2); lo up.
pair() {
  ip netns add "$1-l"; ip netns add "$1-r"
  ip link add "$1-wl" type veth peer name "$1-wr"
  ip link set "$1-wl" netns "$1-l"; ip link set "$1-wr" netns "$1-r"
  for side in l r; do
    ip -n "$1-$side" link set lo up
    ip -n "$1-$side" link set "$1-w$side" up
  done
  ip -n "$1-l" addr add 192.0.2.1/24 dev "$1-wl"; ip -n "$1-r" addr add 192.0.2.2/24 dev "$1-wr"
  ip -n "$1-l" addr add 2001:db8::1/64 dev "$1-wl" nodad
  ip -n "$1-r" addr add 2001:db8::2/64 dev "$1-wr" nodad
}

# lan NS DEV ADDR...: a dummy device carrying the inner (protected) addresses.
lan() {
  ns=$1; dev=$2; shift 2
  ip -n "$ns" link add "$dev" type dummy
  for a in "$@"; do ip -n "$ns" addr add "$a" dev "$dev" nodad 2>/dev/null || ip -n "$ns" addr add "$a" dev "$dev"; done
  ip -n "$ns" link set "$dev" up
}

driver() { ns=$1; shift; ip netns exec "$ns" "$NL_DRIVER" "$@"; }

# right NS: applies $work/right.batch with iproute2 (ip -batch), then removes the file.
right() { ip -n "$1" -batch "$work/right.batch"; rm -f "$work/right.batch"; }

count_states() { ip -n "$1" xfrm state | grep -c '^src' || true; }
count_policies() { ip -n "$1" xfrm policy | grep -c '^src' || true; }

# wait_line FILE TEXT SECONDS
wait_line() {
  i=0
  while ! grep -q "$2" "$1" 2>/dev/null; do
    i=$((i + 1)); [ "$i" -le $(($3 * 10)) ] || return 1; sleep 0.1
  done
}
