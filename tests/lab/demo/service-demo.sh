#!/bin/sh
# Demo step 1, in a disposable systemd machine: sedged installed as a service with the seed's
# Juniper Secure Edge site (spoke1-site), started, and asked what it loaded.
set -eu
. "$SEDGE_SOURCE_DIR/tests/lab/agent/install.sh"
install_sedge
echo "\$ ls /etc/sedge/sedge.conf.d/"
ls /etc/sedge/sedge.conf.d/
echo
echo "\$ systemctl start sedged"
systemctl start sedged || fail "sedged did not start"
echo "\$ systemctl status sedged"
systemctl status sedged --no-pager | sed -n '1,4p;/Status:/p'
echo
echo "\$ sedgectl status"
sedgectl status
echo
echo "\$ sedged --check-config   # the effective configuration, secrets masked"
systemd-run --quiet --wait --pipe -p LoadCredential=site1-to-sdcloud.psk:/etc/sedge/site1-to-sdcloud.psk \
  /usr/sbin/sedged --check-config | sed -n '/\[Connector/,/^\[SteeringProfile/p'
echo "\$ journalctl -u sedged"
journalctl -u sedged --no-pager -o cat | tail -3
