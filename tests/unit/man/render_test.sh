#!/usr/bin/env bash
# Each built manual page renders: groff (-man -z -ww, every warning on) prints nothing, and
# man -l formats it with its NAME section. Usage: render_test.sh BUILT_DIR PAGE...
set -euo pipefail
dir=$1
shift
for tool in man groff; do
  if ! command -v "$tool" >/dev/null; then
    echo "SKIP: $tool is not installed (scripts/install-deps.sh installs it)"
    exit 77
  fi
done
export LC_ALL=C.UTF-8 MANWIDTH=80
failed=0
for page in "$@"; do
  file=$dir/$page
  if [ ! -s "$file" ]; then
    echo "FAIL $page: $file was not built (cmake --build builds the pages)"
    failed=1
    continue
  fi
  warnings=$(groff -man -z -ww -Tutf8 "$file" 2>&1 >/dev/null)
  if [ -n "$warnings" ]; then
    echo "FAIL $page: groff warns:"
    echo "$warnings"
    failed=1
  fi
  rendered=$(man -l "$file" 2>&1 >/dev/null <&- | grep -v '^$' || true)
  text=$(man -l "$file" 2>/dev/null <&-)
  name=${page%.*}
  if [ -n "$rendered" ]; then
    echo "FAIL $page: man -l says:"
    echo "$rendered"
    failed=1
  elif ! grep -q "^NAME" <<<"$text" || ! grep -qE "^ +$name - " <<<"$text"; then
    echo "FAIL $page: man -l shows no 'NAME' section with '$name - ...'"
    failed=1
  else
    echo "ok $page ($(wc -l <<<"$text") lines)"
  fi
done
exit $failed
