#!/bin/sh
# build_load_tester.sh DIR: strongSwan's charon with the load-tester plugin, built once into
# DIR/prefix from Debian's own source package of the strongSwan version installed here (Debian's
# binary packages leave the plugin out). A deb-src entry for the same Debian suites is added if
# none exists, then `apt-get build-dep` and `apt-get source`; the build configures only what
# lab.ike_pairs_bench needs and installs into the private prefix, never over the system's
# strongSwan. A rerun with DIR/prefix complete does nothing.
set -eu
dir=$(realpath -m "$1")
prefix=$dir/prefix
stamp=$prefix/.sedge-built
if [ -f "$stamp" ] && [ -x "$prefix/libexec/ipsec/charon" ]; then
  echo "strongSwan with load-tester: $(cat "$stamp") in $prefix (cached)"
  exit 0
fi
. /etc/os-release
suite=$VERSION_CODENAME
list=/etc/apt/sources.list.d/sedge-deb-src.sources
if ! grep -rqs '^Types:.*deb-src\|^deb-src' /etc/apt/sources.list /etc/apt/sources.list.d/; then
  cat > "$list" <<EOS
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: $suite $suite-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb-src
URIs: http://deb.debian.org/debian-security
Suites: $suite-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOS
  echo "added deb-src entries for $suite in $list"
fi
apt-get update -q > /dev/null
mkdir -p "$dir"
# The source of the installed charon's version when the mirror has it, so both sides run the same
# code; otherwise the nearest version the deb-src entries offer (newest first), named in the output.
installed=$(dpkg-query -W -f '${Version}' strongswan-charon 2> /dev/null || true)
versions=$(apt-cache showsrc strongswan | sed -n 's/^Version: //p' | sort -r -V | grep -vx "$installed" || true)
spec=
for v in $installed $versions; do
  rm -rf "$dir/src"
  mkdir -p "$dir/src"
  if (cd "$dir/src" && apt-get source -q "strongswan=$v" > ../source.log 2>&1); then
    spec=strongswan=$v
    break
  fi
  echo "build_load_tester: apt-get source strongswan=$v failed: $(grep '^E:' "$dir/source.log" | head -1)" >&2
done
[ -n "$spec" ] || { echo "build_load_tester: no source package of strongswan could be fetched" >&2; exit 1; }
DEBIAN_FRONTEND=noninteractive apt-get build-dep -y -q "$spec" > "$dir/build-dep.log" 2>&1 ||
  { tail -20 "$dir/build-dep.log"; echo "build_load_tester: apt-get build-dep $spec failed" >&2; exit 1; }
src=$(find "$dir/src" -mindepth 1 -maxdepth 1 -type d -name 'strongswan-*' | head -1)
[ -n "$src" ] || { echo "build_load_tester: no source tree unpacked in $dir/src" >&2; exit 1; }
cd "$src"
# Only the benchmark's needs: IKEv2, the load tester, PSK, the bench's proposals (AES-GCM, MODP and
# ECP through OpenSSL, X25519), the kernel's XFRM, the default socket and swanctl over vici.
./configure --prefix="$prefix" --sysconfdir="$prefix/etc" --disable-defaults \
  --enable-charon --enable-ikev2 --enable-swanctl --enable-vici --enable-load-tester \
  --enable-openssl --enable-random --enable-nonce --enable-aes --enable-sha1 --enable-sha2 \
  --enable-hmac --enable-gcm --enable-kdf --enable-curve25519 --enable-pem --enable-pkcs1 \
  --enable-x509 --enable-pubkey --enable-kernel-netlink --enable-socket-default \
  --disable-systemd > "$dir/configure.log" 2>&1 ||
  { tail -30 "$dir/configure.log"; echo "build_load_tester: configure failed" >&2; exit 1; }
make -j2 > "$dir/make.log" 2>&1 || { tail -30 "$dir/make.log"; echo "build_load_tester: make failed" >&2; exit 1; }
make install > "$dir/install.log" 2>&1 || { tail -30 "$dir/install.log"; echo "build_load_tester: make install failed" >&2; exit 1; }
[ -f "$prefix/lib/ipsec/plugins/libstrongswan-load-tester.so" ] ||
  { echo "build_load_tester: the load-tester plugin was not installed" >&2; exit 1; }
echo "${src##*/} ($spec; installed charon: ${installed:-none})" > "$stamp"
echo "strongSwan with load-tester: ${src##*/} built into $prefix"
