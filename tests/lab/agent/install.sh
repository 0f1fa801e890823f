# Sourced by machine scenarios: installs the build into the disposable machine and configures
# the Juniper Secure Edge example site (spoke1-site) with its key as a systemd credential.
install_sedge() {
  cmake --install "$SEDGE_BUILD_DIR" --prefix /usr > /dev/null
  mkdir -p /etc/sedge/sedge.conf.d /etc/systemd/system/sedged.service.d
  cp "$SEDGE_SOURCE_DIR"/systemd/examples/juniper-secure-edge/sedge.conf.d/*.conf /etc/sedge/sedge.conf.d/
  ( umask 077; printf 'Juniper!1' > /etc/sedge/site1-to-sdcloud.psk )
  cat > /etc/systemd/system/sedged.service.d/credentials.conf <<EOC
[Service]
LoadCredential=site1-to-sdcloud.psk:/etc/sedge/site1-to-sdcloud.psk
EOC
  systemctl daemon-reload
  systemctl reload dbus  # picks up the installed D-Bus policy
}

show() { systemctl show -P "$1" sedged; }

fail() {
  echo "FAIL: $*"
  systemctl status sedged --no-pager -l || true
  journalctl -u sedged --no-pager -n 40 || true
  cp -f /var/log/journal/*/* "$LAB_LOG_DIR"/ 2>/dev/null || true
  exit 1
}
