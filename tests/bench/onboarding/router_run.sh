#!/bin/sh
# router_run.sh CTL SEDGED CFGDIR [own-bus]: one router as an appliance runs it - sedged with
# CFGDIR's configuration, which onboards by itself, and `sedgectl onboard run` following it until
# the management channel is up; the output is sedgectl's, sedged's log goes to CFGDIR/../sedged.log.
# With own-bus, sedged and sedgectl talk on a session bus of their own (many routers at once;
# each sedged owns org.sedge.Agent1 on its bus), else on the session bus in the environment.
# SIGTERM stops all of it.
ctl=$1 sedged_bin=$2 cfg=$3
bus_pid="" sedged="" follower=""
# Stops sedgectl and sedged; `wait` also waits for sedged to finish (it closes the management
# channel first, which may take a while), the signal trap does not.
stop() {
  for p in $follower $sedged; do kill "$p" 2>/dev/null; done
  [ "${1:-}" = wait ] && [ -n "$sedged" ] && wait "$sedged" 2>/dev/null
  [ -n "$bus_pid" ] && kill "$bus_pid" 2>/dev/null
  return 0
}
trap 'stop; exit 143' TERM INT
if [ "${4:-}" = own-bus ]; then
  out=$(dbus-daemon --session --fork --print-address=1 --print-pid=1) || exit 1
  DBUS_SESSION_BUS_ADDRESS=$(echo "$out" | head -1); export DBUS_SESSION_BUS_ADDRESS
  bus_pid=$(echo "$out" | sed -n 2p)
fi
"$sedged_bin" --user-bus --config-dir "$cfg" > "$cfg/../sedged.log" 2>&1 &
sedged=$!
for _ in $(seq 200); do "$ctl" --user-bus describe > /dev/null 2>&1 && break; sleep 0.05; done
"$ctl" --user-bus onboard run &
follower=$!
wait "$follower"
rc=$?
follower=""
stop wait
exit "$rc"
