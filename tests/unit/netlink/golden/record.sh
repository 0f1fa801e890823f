#!/bin/sh
# Records the netlink bytes iproute2 sends for each `ip xfrm` command in cases.txt, so the
# unit tests compare sedge's message builders with an independent implementation.
# Run as root (it creates and removes a scratch network namespace): golden/record.sh
# Each case becomes <name>.hex: the first message iproute2 sent on its netlink socket.
# The keys in cases.txt are public test values, not secrets.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
ns=snl-golden-$$
ip netns add "$ns"
trap 'ip netns del "$ns"' EXIT
grep -v '^#' "$here/cases.txt" | grep -v '^$' | while IFS='|' read -r name cmd; do
  name=$(echo "$name" | tr -d ' ')
  # eval: the arguments are quoted as in a shell (algorithm names, the empty null key).
  eval "ip netns exec \"\$ns\" strace -qq -e trace=sendmsg -e write=3,4,5 \
    -o \"\$here/\$name.trace\" ip $cmd" >/dev/null 2>&1 || true
  # strace prints " | 00000  28 01 00 00 ...  text |" lines for the first sendmsg's data;
  # the hex dump is columns 11-59.
  awk '/^ \| [0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f]  /{ h = substr($0, 11, 49); gsub(" ", "", h); printf "%s", h }
       /^sendmsg/{ if (n++) exit }' "$here/$name.trace" > "$here/$name.hex"
  rm -f "$here/$name.trace"
  echo >> "$here/$name.hex"
  echo "$name: $(($(wc -c < "$here/$name.hex") / 2)) bytes"
done
