# Sourced by machine scenarios: installs the build into the disposable machine and configures
# the Juniper Secure Edge example site (spoke1-site) with its key as a systemd credential.
install_sedge() {
  cmake --install "$SEDGE_BUILD_DIR" --prefix /usr > /dev/null
  # What the package's maintainer scripts do: the users and groups, the bpffs pin directory and
  # /run/sedge, and the D-Bus policy read before sedged claims its name.
  mount_bpffs
  systemd-sysusers /usr/lib/sysusers.d/sedge.conf
  systemd-tmpfiles --create /usr/lib/tmpfiles.d/sedge.conf
  systemctl daemon-reload
  systemctl reload dbus
  configure_site
}

# bpffs at /sys/fs/bpf, as systemd mounts it at boot on an appliance. Not here: the machine
# counts as a container to systemd (it sees the host's container marker), and systemd mounts no
# bpffs in containers.
mount_bpffs() {
  mountpoint -q /sys/fs/bpf || mount -t bpf -o nosuid,nodev,noexec,mode=0700 bpf /sys/fs/bpf
}

# The example site's configuration and its key, as an administrator writes them.
configure_site() {
  mkdir -p /etc/sedge/sedge.conf.d /etc/systemd/system/sedged.service.d
  cp "$SEDGE_SOURCE_DIR"/systemd/examples/juniper-secure-edge/sedge.conf.d/*.conf /etc/sedge/sedge.conf.d/
  ( umask 077; printf 'Juniper!1' > /etc/sedge/site1-to-sdcloud.psk )
  cat > /etc/systemd/system/sedged.service.d/credentials.conf <<EOC
[Service]
LoadCredential=site1-to-sdcloud.psk:/etc/sedge/site1-to-sdcloud.psk
EOC
  systemctl daemon-reload
}

show() { systemctl show -P "$1" sedged; }

# The exposure systemd-analyze gives sedged.service (e.g. 1.7), checked against at most 2.0.
check_exposure() {
  local line score
  line=$(systemd-analyze security sedged.service --no-pager | tail -1)
  echo "$line"
  score=$(echo "$line" | sed -n 's/.*sedged.service: \([0-9.]*\).*/\1/p')
  [ -n "$score" ] || fail "no exposure level in: $line"
  awk -v s="$score" 'BEGIN { exit !(s <= 2.0) }' || fail "exposure $score is above 2.0"
}

fail() {
  echo "FAIL: $*"
  systemctl status sedged --no-pager -l || true
  journalctl -u sedged --no-pager -n 40 || true
  cp -f /var/log/journal/*/* "$LAB_LOG_DIR"/ 2>/dev/null || true
  exit 1
}
