# Helpers of the IKE benchmarks in the lab (sourced after tests/lab/lib/lab.sh): the load
# generator's namespace gen (10.77.0.1), the responder's resp (10.77.0.2), one PSK for all.
bin=$SEDGE_BUILD_DIR/tests/bench/ike
psk="sedge ike benchmark pre-shared key"
hz=$(getconf CLK_TCK)
bench_topology() {
  lab_ns gen
  lab_ns resp
  lab_link gen eth0 10.77.0.1/24 resp eth0 10.77.0.2/24
}

cpu_ticks() { sed 's/^.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'; }  # utime + stime, after "(comm)"
rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
group_name() { case $1 in 14) echo modp2048 ;; 19) echo ecp256 ;; 31) echo curve25519 ;; esac; }
# cpu_seconds PID: utime + stime of all its threads so far.
cpu_seconds() { awk -v t="$(cpu_ticks "$1")" -v hz="$hz" 'BEGIN { printf "%.3f", t / hz }'; }

# start_sedge GROUP: sedge's IKE engine (ike-responder) in resp, installing each CHILD_SA into
# the kernel; sets sedge_pid.
start_sedge() {
  ip netns exec resp "$bin/ike-responder" 10.77.0.2 "$1" > "$LAB_DIR/sedge-$1.log" 2>&1 &
  sedge_pid=$!
  for _ in $(seq 50); do grep -q listening "$LAB_DIR/sedge-$1.log" && break; sleep 0.1; done
  grep -q listening "$LAB_DIR/sedge-$1.log" || { cat "$LAB_DIR/sedge-$1.log"; lab_fail "ike-responder did not start"; }
}

# start_charon GROUP: Debian's charon as the responder in resp (swanctl: same PSK and proposals as
# sedge's, any initiator identity, CHILD_SAs installed into the kernel); sets charon_pid.
start_charon() {  # GROUP
  d=$LAB_DIR/charon-$1
  mkdir -p "$d"
  cat > "$d/strongswan.conf" <<EOC
charon {
  load_modular = no
  load = random nonce aes sha1 sha2 hmac kdf gcm curve25519 openssl kernel-netlink socket-default vici
  install_routes = no
  cookie_threshold = 100000
  cookie_threshold_ip = 100000
  block_threshold = 100000
  ikesa_table_size = 1024
  ikesa_table_segments = 16
  filelog { log { path = $d/charon.log
      default = 0 } }
  plugins { vici { socket = unix://$d/charon.vici } }
}
EOC
  ( umask 077; cat > "$d/swanctl.conf" <<EOC
connections {
  bench {
    local_addrs = 10.77.0.2
    version = 2
    proposals = aes128gcm16-prfsha256-$(group_name "$1")
    unique = never
    local { auth = psk
      id = pop.example.net }
    remote { auth = psk
      id = %any }
    children { c { local_ts = 10.201.0.0/24
        remote_ts = 10.99.99.0/24
        esp_proposals = aes128gcm16 } }
  }
}
secrets { ike-bench { secret = "$psk" } }
EOC
  )
  ip netns exec resp unshare -m sh -c "mount -t tmpfs tmpfs /run; exec env STRONGSWAN_CONF=$d/strongswan.conf /usr/lib/ipsec/charon" \
    > "$d/charon-stdout.log" 2>&1 &
  charon_pid=$!
  for _ in $(seq 100); do [ -S "$d/charon.vici" ] && break; sleep 0.1; done
  [ -S "$d/charon.vici" ] || lab_fail "charon did not start (see $d/charon-stdout.log)"
  [ "$(cat "/proc/$charon_pid/comm")" = charon ] || lab_fail "pid $charon_pid is not charon"
  ip netns exec resp swanctl --load-all --file "$d/swanctl.conf" --uri "unix://$d/charon.vici" > "$d/load.log" 2>&1 ||
    { cat "$d/load.log"; lab_fail "swanctl could not load the benchmark's connection"; }
}

# stop PID: stops a responder and empties resp's kernel SAD and SPD.
stop() {
  kill "$1" 2>/dev/null || true
  for _ in $(seq 100); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
  ip -n resp xfrm state flush
  ip -n resp xfrm policy flush
}

