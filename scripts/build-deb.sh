#!/usr/bin/env bash
# build-deb.sh [OUT]: the Debian packages sedge and sedge-conductor from this checkout, into OUT
# (default build/deb), checked by lintian (an error fails the build; warnings are printed).
# dpkg-buildpackage -b runs in a copy of the tree, OUT/src, so the checkout gets no obj-*
# directory and its parent no .deb files. The copy and its build directory are kept: the next
# build compiles only what changed. A tree whose files have not changed since the last build is
# not built again (OUT/tree-id). The build dependencies come from scripts/install-deps.sh when
# run as root.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=$(realpath -m "${1:-$root/build/deb}")
if [ "$(id -u)" = 0 ]; then
  "$root"/scripts/install-deps.sh
fi

# The tree as git sees it (tracked and untracked, not ignored), files that exist.
tree_files() {
  git -C "$root" ls-files -z --cached --others --exclude-standard |
    while IFS= read -r -d '' f; do [ -f "$root/$f" ] && printf '%s\0' "$f"; done
}
version=$(cd "$root" && dpkg-parsechangelog -S Version)
tree_id=$(cd "$root" && tree_files | xargs -0 sha256sum | sha256sum | cut -d' ' -f1)
debs=("$out/sedge_${version}_"*.deb "$out/sedge-conductor_${version}_"*.deb)
if [ "$(cat "$out/tree-id" 2>/dev/null)" = "$tree_id" ] && [ -f "${debs[0]}" ] && [ -f "${debs[1]}" ]; then
  echo "build-deb: ${debs[*]} (up to date)"
  exit 0
fi

# The copy: every file of the tree (tar keeps their times, so unchanged files stay older than
# their objects), and none that the tree no longer has.
src=$out/src/sedge-$version
mkdir -p "$src"
rm -f "$out/tree-id"
(cd "$root" && tree_files | tar --null -T - -cf -) | tar -xf - -C "$src"
(cd "$root" && tree_files | tr '\0' '\n' | sort) > "$out/tree-files"
(cd "$src" && find . -path ./obj-\* -prune -o -path ./debian -prune -o -type f -print | sed 's|^\./||' | sort) |
  comm -23 - "$out/tree-files" | (cd "$src" && xargs -r rm -f)
(cd "$src" && find debian -maxdepth 1 -type f | sort) | comm -23 - <(grep '^debian/[^/]*$' "$out/tree-files" || true) |
  { grep -v -e '^debian/debhelper-build-stamp$' -e '\.debhelper\.log$' -e '\.substvars$' -e '^debian/files$' || true; } |
  (cd "$src" && xargs -r rm -f)
export DEB_BUILD_OPTIONS="parallel=$(nproc) ${DEB_BUILD_OPTIONS:-}"
# dh_clean instead of dpkg-buildpackage's clean (-nc), which would remove the build directory.
(cd "$src" && dh_clean && dpkg-buildpackage -b -us -uc -nc) > "$out/build.log" 2>&1 ||
  { tail -40 "$out/build.log"; echo "build-deb: dpkg-buildpackage failed (log: $out/build.log)" >&2; exit 1; }
rm -f "$out"/*.deb "$out"/*.changes "$out"/*.buildinfo
mv "$out"/src/*.deb "$out"/src/*.changes "$out"/src/*.buildinfo "$out"/
changes=$(ls "$out"/sedge_"${version}"_*.changes)
echo "== lintian $changes"
lintian --fail-on error --display-info "$changes" | tee "$out/lintian.log" ||
  { echo "build-deb: lintian found errors" >&2; exit 1; }
echo "$tree_id" > "$out/tree-id"
ls -1 "$out"/*.deb
