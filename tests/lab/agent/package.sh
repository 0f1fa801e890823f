#!/bin/sh
# The Debian packages in a disposable machine: dpkg -i of sedge and sedge-conductor (built by the
# fixture lab.package_build into $SEDGE_BUILD_DIR/deb), sedged started from the packaged unit as
# the user sedge with exactly its four ambient capabilities and its bpffs pin directory, sedgectl
# over the system bus as root, as an ordinary user (reading only) and as a member of sedge-admin
# (changing too), reload, /run/sedge kept across a restart, the exposure, then dpkg -r and
# dpkg --purge leaving nothing but what Debian policy keeps (the users).
set -eu
. "$SEDGE_SOURCE_DIR/tests/lab/agent/install.sh"

deb_dir=$SEDGE_BUILD_DIR/deb
sedge_deb=$(ls "$deb_dir"/sedge_*.deb 2>/dev/null | head -1)
conductor_deb=$(ls "$deb_dir"/sedge-conductor_*.deb 2>/dev/null | head -1)
[ -n "$sedge_deb" ] && [ -n "$conductor_deb" ] || fail "no packages in $deb_dir (fixture lab.package_build)"

# Every path with "sedge" in its name where a package or the service could leave one.
sedge_paths() {
  find /etc /usr/bin /usr/sbin /usr/lib/systemd /usr/lib/sysusers.d /usr/lib/tmpfiles.d \
    /usr/share/dbus-1 /usr/share/doc /usr/share/man /usr/share/bash-completion /var/lib /run \
    /sys/fs/bpf -path /var/lib/lab-host -prune -o -name '*sedge*' -print 2>/dev/null | sort
}
before=$(sedge_paths)
[ -z "$before" ] || fail "the machine has sedge files before the packages: $before"

mount_bpffs
# The machine's root comes with a policy-rc.d that forbids maintainer scripts to start or stop
# services (a container image's); an appliance has none, and both are part of what is tested.
rm -f /usr/sbin/policy-rc.d
# man-db's trigger would rebuild its whole index in the machine, for minutes: not what is tested.
echo "man-db man-db/auto-update boolean false" | debconf-set-selections
echo "== dpkg -i $(basename "$sedge_deb") $(basename "$conductor_deb")"
dpkg -i "$sedge_deb" "$conductor_deb" || fail "dpkg -i failed"
dpkg-query -W -f '${Package} ${Version} ${Status}\n' sedge sedge-conductor
sedge_files=$(dpkg -L sedge sedge-conductor | while read -r f; do [ -d "$f" ] || echo "$f"; done)
conffiles=$(dpkg-query -W -f '${Conffiles}\n' sedge | awk 'NF { print $1 }')
echo "conffiles: $conffiles"
[ "$conffiles" = /etc/iproute2/rt_protos.d/sedge.conf ] || fail "unexpected conffiles: $conffiles"
ip route show proto sedge > /dev/null || fail "iproute2 does not know the protocol name sedge"
getent passwd sedge || fail "no user sedge"
getent group sedge-admin || fail "no group sedge-admin"
id -nG sedge | tr ' ' '\n' | grep -qx tss || fail "sedge is not in the group tss: $(id -nG sedge)"
getent passwd sedge-conductor || fail "no user sedge-conductor"
[ "$(systemctl is-enabled sedged)" = enabled ] || fail "sedged is not enabled"
# Started by the package, but without a configuration its condition keeps it inactive.
[ "$(systemctl is-active sedged)" = inactive ] || fail "sedged is $(systemctl is-active sedged) without a configuration"
[ "$(show ConditionResult)" = no ] || fail "sedged's start was not tried on installation, or its condition passed"
[ "$(show NRestarts)" = 0 ] || fail "sedged restarted $(show NRestarts) times without a configuration"
echo "sedged after installation: inactive, condition: $(show ConditionResult)"
[ "$(systemctl is-enabled sedge-conductor)" = disabled ] || fail "sedge-conductor should be installed disabled"
[ "$(systemctl is-active sedge-conductor)" = inactive ] || fail "sedge-conductor should not be started"
systemd-analyze verify /lib/systemd/system/sedged.service /lib/systemd/system/sedge-conductor.service ||
  fail "the packaged units do not verify"

echo "== configure the example site, start"
configure_site
systemctl restart sedged || fail "sedged did not start"
[ "$(show ActiveState)" = active ] || fail "not active"
pid=$(show MainPID)
status=/proc/$pid/status
uid=$(id -u sedge)
echo "sedged: pid $pid, $(grep -E '^(Uid|Gid|Groups|CapInh|CapPrm|CapEff|CapBnd|CapAmb):' "$status" | tr '\t\n' '  ')"
grep -q "^Uid:	$uid	$uid	$uid	$uid$" "$status" || fail "sedged does not run as sedge ($uid)"
grep -q "^Gid:	$(id -g sedge)	" "$status" || fail "sedged's group is not sedge"
grep "^Groups:" "$status" | tr '\t ' '\n\n' | grep -qx "$(getent group tss | cut -d: -f3)" || fail "sedged is not in the group tss"
# CAP_NET_BIND_SERVICE (10), CAP_NET_ADMIN (12), CAP_PERFMON (38), CAP_BPF (39) and nothing else.
caps=000000c000001400
for set in CapAmb CapPrm CapEff CapBnd; do
  grep -q "^$set:	$caps$" "$status" || fail "$set is $(sed -n "s/^$set:\t//p" "$status"), not $caps"
done
sedgectl status > /dev/null || fail "sedgectl status as root"
echo "== the classifier loaded as sedge, its maps pinned in its bpffs directory"
journalctl -u sedged --no-pager | grep "no steering" && fail "sedged could not load the steering classifier"
ls -ln /sys/fs/bpf/sedge
[ "$(stat -c %U /sys/fs/bpf/sedge)" = sedge ] || fail "/sys/fs/bpf/sedge is not sedge's"
[ -n "$(find /sys/fs/bpf/sedge -mindepth 1 -user sedge)" ] || fail "no map pinned by sedge in /sys/fs/bpf/sedge"
[ -z "$(find /sys/fs/bpf/sedge -mindepth 1 ! -user sedge)" ] || fail "pins not owned by sedge in /sys/fs/bpf/sedge"

echo "== D-Bus: reading for everyone, changing for root and sedge-admin"
useradd --no-create-home --shell /usr/sbin/nologin labuser
useradd --no-create-home --shell /usr/sbin/nologin --groups sedge-admin labadmin
runuser -u labuser -- sedgectl status || fail "an ordinary user cannot read the status"
runuser -u labuser -- sedgectl describe > /dev/null || fail "an ordinary user cannot call Describe"
runuser -u labuser -- sedgectl metrics > /dev/null || fail "an ordinary user cannot read the metrics"
if out=$(runuser -u labuser -- sedgectl down site1-primary 2>&1); then fail "an ordinary user took a tunnel down: $out"; fi
echo "labuser: $out"
echo "$out" | grep -q "permission denied" || fail "the refusal does not say why: $out"
if out=$(runuser -u labuser -- sedgectl reload 2>&1); then fail "an ordinary user reloaded: $out"; fi
out=$(runuser -u labadmin -- sedgectl down site1-primary 2>&1) || fail "a sedge-admin member cannot take a tunnel down: $out"
echo "labadmin: $out"
echo "$out" | grep -q "taken down" || fail "unexpected answer: $out"
runuser -u labadmin -- sedgectl up site1-primary || fail "a sedge-admin member cannot bring a tunnel up"
sedgectl down site1-primary || fail "root cannot take a tunnel down"
sedgectl up site1-primary || fail "root cannot bring a tunnel up"

echo "== reload (ExecReload=sedgectl reload, as sedge)"
systemctl reload sedged || fail "systemctl reload failed"
journalctl -u sedged --no-pager | grep -q "reloaded:" || fail "no reload in the journal"

echo "== /run/sedge survives a restart"
mkdir -p /run/sedge/sedge.conf.d
printf '[Application dns]\nProtocol=udp\nPort=53\n' > /run/sedge/sedge.conf.d/40-dns.conf
systemctl restart sedged || fail "restart failed"
[ -f /run/sedge/sedge.conf.d/40-dns.conf ] || fail "/run/sedge was emptied by the restart"
sedgectl describe | grep -q '"name": "dns"' || fail "the configuration in /run/sedge was not read"
systemctl stop sedged
[ -f /run/sedge/sedge.conf.d/40-dns.conf ] || fail "/run/sedge was emptied by the stop"
systemctl start sedged || fail "start after stop failed"

echo "== systemd-analyze security (exposure at most 2.0)"
check_exposure

echo "== sedge-conductor.service: its own user, ports 930 and 933"
systemctl start sedge-conductor || fail "sedge-conductor did not start"
for i in $(seq 60); do
  [ "$(ss -Hltn 'sport = :930 or sport = :933' | wc -l)" -ge 2 ] && break
  sleep 0.5
done
ss -Hltnp 'sport = :930 or sport = :933'
[ "$(ss -Hltn 'sport = :930 or sport = :933' | wc -l)" -ge 2 ] || fail "the conductor does not listen on 930 and 933"
cpid=$(systemctl show -P MainPID sedge-conductor)
[ "$(stat -c %U /proc/"$cpid")" = sedge-conductor ] || fail "the conductor does not run as sedge-conductor"
grep -q "^CapAmb:	0000000000000400$" /proc/"$cpid"/status || fail "the conductor's ambient capabilities: $(grep CapAmb /proc/"$cpid"/status)"
systemd-analyze security sedge-conductor.service --no-pager | tail -1
systemctl stop sedge-conductor

echo "== dpkg -r"
stops=$(journalctl -u sedged --no-pager | grep -c "sedged stopped")
dpkg -r sedge sedge-conductor || fail "dpkg -r failed"
[ "$(systemctl is-active sedged)" = inactive ] || fail "sedged is $(systemctl is-active sedged) after dpkg -r, not stopped"
[ "$(journalctl -u sedged --no-pager | grep -c "sedged stopped")" -gt "$stops" ] || fail "dpkg -r did not stop sedged cleanly"
for f in $sedge_files; do
  case $f in /etc/iproute2/rt_protos.d/sedge.conf) [ -f "$f" ] || fail "the conffile $f went with dpkg -r" ;;
    *) [ -e "$f" ] && fail "$f is left after dpkg -r" ;; esac
done
echo "left after dpkg -r: $(sedge_paths | tr '\n' ' ')"
# The administrator's own files go by hand (dpkg never removes them); the rest is the purge's.
rm -rf /etc/sedge/sedge.conf.d /etc/sedge/site1-to-sdcloud.psk /etc/systemd/system/sedged.service.d \
  /run/sedge/sedge.conf.d

echo "== dpkg --purge"
dpkg --purge sedge sedge-conductor || fail "dpkg --purge failed"
systemctl daemon-reload
left=$(sedge_paths)
echo "left after dpkg --purge: ${left:-nothing}"
[ -z "$left" ] || fail "files left after the purge: $left"
[ -z "$(systemctl list-unit-files --no-legend 'sedge*')" ] || fail "units left: $(systemctl list-unit-files --no-legend 'sedge*')"
dpkg-query -W sedge 2> /dev/null | grep -q . && dpkg-query -W -f '${Status}\n' sedge | grep -qv "not-installed" &&
  fail "dpkg still knows sedge: $(dpkg-query -W -f '${Status}' sedge)"
# Debian policy keeps system users and groups after a purge (files may still belong to them).
kept=$(getent passwd sedge sedge-conductor | cut -d: -f1 | tr '\n' ' ')
echo "kept (policy): users $kept, groups $(getent group sedge sedge-admin sedge-conductor | cut -d: -f1 | tr '\n' ' ')"
[ "$kept" = "sedge sedge-conductor " ] || fail "unexpected users after the purge: $kept"
echo "PASS"
