#!/usr/bin/env bash
# Installs every Debian 12 package sedge needs to build, run and test (scripts/deps/*.txt).
# Idempotent: prints nothing and runs no apt-get when everything is already installed.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
[ "$(id -u)" = 0 ] || { echo "install-deps: run as root (apt-get)" >&2; exit 1; }
mapfile -t wanted < <(sed -e 's/#.*//' -e 's/[[:space:]]//g' "$here"/deps/*.txt | grep -v '^$' | sort -u)
missing=()
for p in "${wanted[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "install-deps: installing ${#missing[@]} packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# UML loads modules from /lib/modules, which must exist to be a bind-mount target.
mkdir -p /lib/modules
