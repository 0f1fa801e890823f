#!/bin/sh
# libreswan-package.sh DIR: unpacks Debian's libreswan package into DIR once (it conflicts with
# strongSwan's packages, so it is never installed); scenarios run its pluto from there.
set -eu
dir=$1
[ -x "$dir/usr/libexec/ipsec/pluto" ] && exit 0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && apt-get download libreswan > /dev/null) ||
  { echo "libreswan-package: apt-get download libreswan failed (run apt-get update?)" >&2; exit 1; }
mkdir -p "$dir"
dpkg-deb -x "$tmp"/libreswan_*.deb "$dir"
echo "libreswan $(dpkg-deb -f "$tmp"/libreswan_*.deb Version) unpacked into $dir"
