#!/bin/sh
# sedged as a real systemd service in a disposable machine: installed unit verified, started
# (Type=notify, STATUS=), reloaded with a good and a bad drop-in, restarted by the watchdog
# when hung, structured journal fields, started with one bad tunnel (the rest runs), clean stop.
set -eu
. "$SEDGE_SOURCE_DIR/tests/lab/agent/install.sh"
install_sedge

echo "== systemd-analyze verify"
systemd-analyze verify /usr/lib/systemd/system/sedged.service || fail "the unit does not verify"
echo "== systemd-analyze security (exposure at most 2.0)"
check_exposure

echo "== start"
systemctl start sedged || fail "sedged did not start"
[ "$(show ActiveState)" = active ] || fail "not active"
status=$(show StatusText)
echo "STATUS=$status"
case $status in *"of 2 tunnels up"*) ;; *) fail "unexpected STATUS= '$status'" ;; esac
sedgectl status

echo "== reload with a good drop-in"
printf '[Application dns]\nProtocol=udp\nPort=53\n' > /etc/sedge/sedge.conf.d/40-dns.conf
pid=$(show MainPID)
systemctl reload sedged || fail "a good reload failed"
sedgectl describe | grep -q '"name": "dns"' || fail "the reloaded application is not in Describe()"
[ "$(show MainPID)" = "$pid" ] || fail "reload restarted the daemon"

echo "== reload with a bad drop-in: refused, the running configuration stays"
printf '[Tunnel site1-primary]\nDpdIntervalSec=ten\n' > /etc/sedge/sedge.conf.d/90-bad.conf
if systemctl reload sedged; then fail "a bad reload was accepted"; fi
[ "$(show ActiveState)" = active ] || fail "a bad reload stopped the daemon"
[ "$(show MainPID)" = "$pid" ] || fail "a bad reload restarted the daemon"
sedgectl status | grep -q "site1-primary" || fail "the running tunnel was lost"
journalctl -u sedged --no-pager | grep "reload refused" | grep -q "90-bad.conf:2" || fail "the journal does not say why (file:line)"
journalctl -u sedged --no-pager | grep "reload refused" | tail -1
rm /etc/sedge/sedge.conf.d/90-bad.conf

echo "== structured journal fields"
journalctl -u sedged -o json --no-pager | grep -q '"SEDGE_CONFIG_CHANGE":"added"' || fail "no SEDGE_CONFIG_CHANGE field"
journalctl -u sedged -o json --no-pager | grep -q '"SEDGE_RELOAD":"refused"' || fail "no SEDGE_RELOAD field"
journalctl -u sedged -o verbose --no-pager | grep -m3 "SEDGE_"

echo "== MESSAGE_IDs, explained by the catalog (journalctl -x)"
journalctl --update-catalog || fail "journalctl --update-catalog failed"
journalctl --catalog --no-pager | grep -q "Configuration reload refused" || fail "sedge.catalog is not in the journal's catalog"
journalctl -u sedged --no-pager -o cat MESSAGE_ID=220e05b7ab594da2a55649d426248421 | grep -q "reload refused" ||
  fail "the refused reload has no MESSAGE_ID"
journalctl -u sedged --no-pager -o cat MESSAGE_ID=c381d74e6b35422abad776aa31125378 | grep -q "reloaded: " ||
  fail "the applied reload has no MESSAGE_ID"
journalctl -x -u sedged --no-pager MESSAGE_ID=220e05b7ab594da2a55649d426248421 | grep "Subject: " | tail -1
journalctl -x -u sedged --no-pager MESSAGE_ID=220e05b7ab594da2a55649d426248421 | grep -q "Subject: Configuration reload refused" ||
  fail "journalctl -x does not explain the refused reload"

# (promtool itself, a Go program, crashes in the machine: unit.metrics_promtool and
# lab.onboarding_conductor run it on the host.)
echo "== metrics (sedgectl metrics)"
sedgectl metrics > /tmp/sedge.prom || fail "sedgectl metrics failed"
grep '^sedge_tunnels_' /tmp/sedge.prom
grep -q '^sedge_tunnels_configured 2$' /tmp/sedge.prom || fail "the metrics do not count 2 tunnels configured"
grep -q '^sedge_config_last_reload_refused 1$' /tmp/sedge.prom || fail "the metrics do not say the last reload was refused"
grep -q '^# TYPE sedge_tunnel_sa_bytes_total counter$' /tmp/sedge.prom || fail "no SA byte counters in the metrics"

echo "== the watchdog restarts a hung daemon"
printf '[Service]\nWatchdogSec=2s\n' > /etc/systemd/system/sedged.service.d/watchdog.conf
systemctl daemon-reload
systemctl restart sedged
pid=$(show MainPID)
kill -STOP "$pid"
for i in $(seq 40); do
  new=$(show MainPID)
  [ "$new" != "$pid" ] && [ "$new" != 0 ] && [ "$(show ActiveState)" = active ] && break
  sleep 0.5
done
[ "$(show MainPID)" != "$pid" ] || fail "the hung daemon was not restarted"
[ "$(show NRestarts)" -ge 1 ] || fail "NRestarts did not move"
journalctl -u sedged --no-pager | grep -i "watchdog timeout" | tail -1
echo "restarted: pid $pid -> $(show MainPID), NRestarts=$(show NRestarts)"

echo "== a tunnel with a bad value at start: left out, the rest starts (ExecStartPre= passes)"
printf '[Tunnel site1-secondary]\nDpdIntervalSec=ten\n' > /etc/sedge/sedge.conf.d/90-bad.conf
systemctl restart sedged || fail "one bad tunnel kept the service from starting"
[ "$(show ActiveState)" = active ] || fail "not active with one bad tunnel"
sedgectl status | grep -q "site1-primary" || fail "the good tunnel is not running"
sedgectl status | grep -q "site1-secondary" && fail "the bad tunnel was not left out"
journalctl -u sedged --no-pager | grep "90-bad.conf:2" | tail -1
journalctl -u sedged --no-pager | grep -q "90-bad.conf:2" || fail "the journal does not name the bad file and line"
rm /etc/sedge/sedge.conf.d/90-bad.conf

echo "== stop"
systemctl stop sedged
[ "$(show ActiveState)" = inactive ] || fail "not inactive after stop"
[ "$(show Result)" = success ] || fail "stop left Result=$(show Result)"
journalctl -u sedged --no-pager | grep -q "sedged stopped" || fail "no clean stop in the journal"
echo "PASS"
