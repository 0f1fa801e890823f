# Sourced by the scenarios that run sedged in the network lab (after lib/lab.sh), with B (the
# build tree), etc (the configuration directory) and creds (the credentials directory) set:
# sedged as its unit runs it, in the foreground in the site's namespace, on a D-Bus bus of the
# scenario's own, with a bpffs of the scenario's bind-mounted at /sys/fs/bpf, its log with the
# time of each line (ms since the epoch) in front; sedgectl on that bus; what the site's kernel
# holds of sedge's, counted.

# sedged_lab_init: a bus of the scenario's own, on a path socket (an abstract one would stay in
# the namespace it was made in), and sedged's bpffs: the scenario's own (ip netns exec mounts a
# fresh /sys, without one), bind-mounted at /sys/fs/bpf where sedged pins its maps
# (/sys/fs/bpf/sedge); seen here under $BPFFS/sedge. What the scenario started goes with it (on
# the host kernel nothing else would end it).
BPFFS=/run/lab-sedge-bpf
run=0 sedged="" log=/dev/null
sedged_lab_init() {
  dbus-daemon --session --fork --address="unix:path=/run/lab-sedge-bus" --print-address=1 --print-pid=3 \
    > "$LAB_DIR/bus.addr" 3> "$LAB_DIR/bus.pid"
  DBUS_SESSION_BUS_ADDRESS=$(head -1 "$LAB_DIR/bus.addr"); export DBUS_SESSION_BUS_ADDRESS
  mkdir -p $BPFFS && mount -t bpf bpf $BPFFS
  trap cleanup EXIT
}
cleanup() {
  [ -z "$sedged" ] || kill "$sedged" 2>/dev/null || true
  kill "$(cat "$LAB_DIR/bus.pid")" 2>/dev/null || true
  lab_collect
}
ctl() { "$B/agent/ctl/sedgectl" --user-bus "$@"; }

start_sedged() {  # log $LAB_DIR/sedged-<run>.log
  run=$((run + 1))
  log=$LAB_DIR/sedged-$run.log
  # Each line of the log gets the time it was written (ms since the epoch) in front.
  rm -f "$log.fifo"; mkfifo "$log.fifo"
  python3 -uc 'import sys, time
for line in sys.stdin: sys.stdout.write("%d %s" % (time.time() * 1000, line))' < "$log.fifo" > "$log" &
  ip netns exec site env CREDENTIALS_DIRECTORY="$creds" sh -c "mount --bind $BPFFS /sys/fs/bpf && exec \"\$0\" \"\$@\"" \
    "$B/agent/daemon/sedged" --user-bus --config-dir "$etc" > "$log.fifo" 2>&1 &
  sedged=$!
  echo "== sedged started (run $run, pid $sedged)"
}
fail() {
  echo "--- sedged (run $run) log:" >&2
  tail -40 "$log" >&2 || true
  lab_fail "$@"
}

tunnel() {  # TUNNEL FIELD: the field of the tunnel in Describe (empty when sedged does not answer)
  ctl describe 2>/dev/null | jq -r --arg t "$1" --arg f "$2" '.connectors[].tunnels[] | select(.name == $t) | .[$f] // empty' 2>/dev/null || true
}
stop_sedged() {  # SIGNAL: sedged exits within 20 s; prints its exit status
  kill "-$1" "$sedged"
  for _ in $(seq 200); do kill -0 "$sedged" 2>/dev/null || break; sleep 0.1; done
  ! kill -0 "$sedged" 2>/dev/null || fail "sedged did not exit within 20 s of SIG$1"
  rc=0; wait "$sedged" || rc=$?
  echo "sedged (run $run) exited with status $rc on SIG$1"
}

# What the site's kernel holds of sedge's: XFRM states and policies (the site has no others),
# sec-* links and routes of protocol 83 (sedge's host routes to the peers).
n_states() { ip -n site xfrm state | grep -c '^src' || true; }
n_policies() { ip -n site xfrm policy | grep -c '^src' || true; }
n_links() { ip -n site -o link show | grep -c ': sec-' || true; }
n_routes() { ip -n site route show table main proto 83 | grep -c . || true; }
n_marked() { ip -n site xfrm state | grep -c "mark $1/" || true; }
# The steering's objects are shown, not checked: sedged leaves its fwmark rules and the classifier
# at lan0 behind on SIGTERM (a restart removes the rules and attaches the classifier again).
n_rules() { ip -n site rule | grep -c 'fwmark' || true; }
n_classifiers() { ip netns exec site bpftool net show dev lan0 2>/dev/null | grep -c 'sedge' || true; }
kernel_summary() {
  echo "site: $(n_states) SAs, $(n_policies) policies, $(n_links) sec-* links, $(n_routes) sedge routes;" \
    "steering: $(n_rules) fwmark rules, $(n_classifiers) classifier(s) at lan0"
}

now_ms() { date +%s%3N; }

# The longest time without an echo reply in a `ping -D` log, in ms.
longest_gap() {
  awk -F'[][]' '/bytes from/ { t = $2 * 1000; if (last && t - last > gap) gap = t - last; last = t }
    END { printf "%.0f\n", gap }' "$1"
}

