#!/bin/sh
# kill -9 and restart: the sedge side (nl-driver daemon) is killed and started again; its
# start-up reconcile adopts what the spec still names, removes sedge leftovers, leaves other
# programs' objects alone: exactly one set remains and traffic keeps flowing. Then bad input:
# an SPI collision (rolled back, nothing half-installed), a missing device, no CAP_NET_ADMIN,
# and ALLOCSPI from sedge's range.
. "$(dirname "$0")/lib.sh"
pair c
lan c-l lan0 10.7.0.1/24
lan c-r lan0 10.8.0.1/24
ip -n c-l route add default via 192.0.2.2
R=0x5ed00020

spec() { # SPI_OUT SPI_IN KEY_OUT KEY_IN
  cat <<EOS
{"links": [{"kind": "vti", "name": "sec-c4", "local": "192.0.2.1", "remote": "192.0.2.2",
            "ikey": 50, "okey": 50, "address": "169.254.50.1/32"}],
 "sas": [
  {"src": "192.0.2.1", "dst": "192.0.2.2", "spi": "$1", "reqid": "$R", "mark": {"value": 50},
   "aead": {"name": "rfc4106(gcm(aes))", "key": "$3"}},
  {"src": "192.0.2.2", "dst": "192.0.2.1", "spi": "$2", "reqid": "$R", "mark": {"value": 50},
   "aead": {"name": "rfc4106(gcm(aes))", "key": "$4"}}],
 "policies": [
  {"src": "0.0.0.0/0", "dst": "0.0.0.0/0", "dir": "out", "mark": {"value": 50}, "tmpl": [{"src": "192.0.2.1", "dst": "192.0.2.2", "reqid": "$R"}]},
  {"src": "0.0.0.0/0", "dst": "0.0.0.0/0", "dir": "in", "mark": {"value": 50}, "tmpl": [{"src": "192.0.2.2", "dst": "192.0.2.1", "reqid": "$R"}]},
  {"src": "0.0.0.0/0", "dst": "0.0.0.0/0", "dir": "fwd", "mark": {"value": 50}, "tmpl": [{"src": "192.0.2.2", "dst": "192.0.2.1", "reqid": "$R"}]}],
 "routes": [{"dst": "10.8.0.0/24", "table": "$R", "dev": "sec-c4"}],
 "rules": [{"family": 4, "priority": 10020, "fwmark": "0x200", "table": "$R"}]}
EOS
}
peer() { # SPI_OUT SPI_IN KEY_OUT KEY_IN: the peer's SAs (replacing earlier ones) and policies
  {
    echo "xfrm state flush"
    echo "xfrm state add src 192.0.2.1 dst 192.0.2.2 proto esp spi $1 reqid 1 mode tunnel aead rfc4106(gcm(aes)) 0x$3 128"
    echo "xfrm state add src 192.0.2.2 dst 192.0.2.1 proto esp spi $2 reqid 1 mode tunnel aead rfc4106(gcm(aes)) 0x$4 128"
    if [ -z "${peer_done:-}" ]; then
      echo "xfrm policy add src 10.8.0.0/24 dst 10.7.0.0/24 dir out tmpl src 192.0.2.2 dst 192.0.2.1 proto esp mode tunnel reqid 1"
      echo "xfrm policy add src 10.7.0.0/24 dst 10.8.0.0/24 dir in tmpl src 192.0.2.1 dst 192.0.2.2 proto esp mode tunnel reqid 1"
      echo "route add 10.7.0.0/24 dev c-wr src 10.8.0.1"
    fi
  } > "$work/right.batch"
  right c-r
  peer_done=1
}
start() { # starts the daemon with the spec in $work/spec (keys: removed once read)
  : > "$work/daemon"
  driver c-l daemon < "$work/spec" > "$work/daemon" 2>&1 &
  daemon=$!
  wait_line "$work/daemon" ready 30 || { cat "$work/daemon"; fail "daemon did not start"; }
  rm -f "$work/spec"
  head -1 "$work/daemon"
}
snapshot() { # what the kernel holds that an engineer would count
  ip -n c-l xfrm state | grep '^\s*proto esp' | sed 's/ reqid.*//' | sort
  ip -n c-l xfrm policy | grep -c '^src'
  ip -n c-l -br link | awk '{print $1}' | grep -c '^sec-'
  ip -n c-l route show table all | grep -c 'proto 83'
  ip -n c-l rule | grep -c 'proto 83'
}
ping_through() { ip netns exec c-l ping -q -c 2 -i 0.2 -W 2 -m 512 -I 10.7.0.1 10.8.0.1 >/dev/null || fail "ping $1"; }

# Leftovers of a crashed sedge (an SA and a device in sedge's ranges) and objects of another
# program (an SA with reqid 7, a device not named sec-*).
cat > "$work/right.batch" <<EOB
xfrm state add src 192.0.2.1 dst 192.0.2.9 proto esp spi 0xc0000099 reqid $R mode tunnel aead rfc4106(gcm(aes)) 0x$(key 20) 128
xfrm state add src 192.0.2.1 dst 192.0.2.9 proto esp spi 0x00007777 reqid 7 mode tunnel aead rfc4106(gcm(aes)) 0x$(key 20) 128
link add sec-old type dummy
link add other0 type dummy
EOB
right c-l

k1=$(key 20); k2=$(key 20)
spec 0xc0000031 0xc0000032 "$k1" "$k2" > "$work/spec"; start
peer 0xc0000031 0xc0000032 "$k1" "$k2"
grep -q '"sas_removed":1' "$work/daemon" || fail "the stale SA was not removed"
grep -q '"links_removed":1' "$work/daemon" || fail "the stale device was not removed"
ip -n c-l xfrm state | grep -q 'spi 0x00007777' || fail "another program's SA was touched"
ip -n c-l link show other0 >/dev/null || fail "another program's device was touched"
ping_through "before the crash"
snapshot > "$work/first"

kill -9 "$daemon"; wait "$daemon" 2>/dev/null || true
spec 0xc0000031 0xc0000032 "$k1" "$k2" > "$work/spec"; start
grep -q '"sas_adopted":2,"sas_removed":0' "$work/daemon" || fail "SAs not adopted after kill -9"
grep -q '"links_adopted":1,"links_removed":0' "$work/daemon" || fail "VTI not adopted"
grep -q '"policies_adopted":3,"policies_removed":0' "$work/daemon" || fail "policies not adopted"
snapshot > "$work/second"
diff "$work/first" "$work/second" || fail "kill -9 and restart changed the set"
ping_through "after restart"

# Restart with new SAs (renegotiated): the old ones go, still exactly one set.
kill -9 "$daemon"; wait "$daemon" 2>/dev/null || true
k3=$(key 20); k4=$(key 20)
spec 0xc0000033 0xc0000034 "$k3" "$k4" > "$work/spec"; start
peer 0xc0000033 0xc0000034 "$k3" "$k4"
grep -q '"sas_adopted":0,"sas_removed":2' "$work/daemon" || fail "old SAs not removed"
snapshot > "$work/third"
sed 's/0xc0000033/0xc0000031/; s/0xc0000034/0xc0000032/' "$work/third" | diff "$work/first" - \
  || fail "restart with new SAs left a different set"
ping_through "after restart with new SAs"
cat "$work/third"
kill -9 "$daemon"; wait "$daemon" 2>/dev/null || true
echo "kill -9 and restart: ok"

# ---- Bad input: each a clear error naming the object, nothing half-installed ----
pair d
echo "xfrm state add src 192.0.2.1 dst 192.0.2.2 proto esp spi 0xc0000041 reqid 7 mode tunnel aead rfc4106(gcm(aes)) 0x$(key 20) 128" > "$work/right.batch"
right d-l
bad() { # EXPECTED-TEXT: applies the spec on stdin in d-l, which must fail with that text
  if ip netns exec d-l "$NL_DRIVER" apply > "$work/bad" 2>&1; then fail "accepted: $1"; fi
  grep -qF "$1" "$work/bad" || { cat "$work/bad"; fail "expected: $1"; }
  echo "refused: $(cat "$work/bad")"
}
sa_json() { echo "{\"src\": \"192.0.2.1\", \"dst\": \"192.0.2.2\", \"spi\": \"$1\", \"reqid\": \"0x5ed00040\", \"aead\": {\"name\": \"$2\", \"key\": \"$3\"}}"; }
echo "{\"sas\": [$(sa_json 0xc0000040 'rfc4106(gcm(aes))' "$(key 20)"), $(sa_json 0xc0000041 'rfc4106(gcm(aes))' "$(key 20)")]}" |
  bad "adding SA spi 0xc0000041 192.0.2.1->192.0.2.2: File exists (EEXIST)"
ip -n d-l xfrm state | grep -q 'spi 0xc0000040' && fail "half-installed: SA 0xc0000040 left after the batch failed"
echo "{\"sas\": [$(sa_json 0xc0000042 'rfc4106(gcm(aes))' "$(key 16)")]}" |
  bad "rfc4106(gcm(aes)) key is 16 bytes, expected 20, 28, 36"
echo "{\"sas\": [$(sa_json 0xc0000043 'gcm(aes)' "$(key 20)")]}" | bad "unknown AEAD algorithm 'gcm(aes)'"
echo '{"links": [{"kind": "vti", "name": "sec-d4", "local": "192.0.2.1", "remote": "192.0.2.2", "ikey": 1, "okey": 1, "underlay": "nope0"}]}' |
  bad "adding VTI sec-d4 192.0.2.1->192.0.2.2 key 1: device nope0 not found (ENODEV)"
ip -n d-l link show sec-d4 >/dev/null 2>&1 && fail "half-installed: sec-d4 exists"
if ip netns exec d-l setpriv --reuid=65534 --regid=65534 --clear-groups "$NL_DRIVER" apply > "$work/bad" 2>&1 <<EOS
{}
EOS
then fail "accepted without CAP_NET_ADMIN"; fi
grep -qF "Operation not permitted (EPERM); sedge needs CAP_NET_ADMIN" "$work/bad" || { cat "$work/bad"; fail "EPERM wording"; }
echo "refused: $(cat "$work/bad")"
[ "$(count_states d-l)" = 1 ] || { ip -n d-l xfrm state; fail "state changed by refused requests"; }

spi=$(driver d-l allocspi 192.0.2.2 192.0.2.1 0x5ed00041) || fail "ALLOCSPI"
[ $((spi)) -ge $((0xc0000000)) ] && [ $((spi)) -le $((0xcfffffff)) ] || fail "SPI $spi outside sedge's range"
ip -n d-l xfrm state | grep -q "spi $spi reqid $((0x5ed00041))" || { ip -n d-l xfrm state; fail "larval SA $spi"; }
echo "ALLOCSPI: $spi"
echo "bad input: ok"
