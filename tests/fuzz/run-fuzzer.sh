#!/usr/bin/env bash
# run-fuzzer.sh BINARY CORPUS SECONDS: runs a libFuzzer target over a scratch copy of its seed
# corpus for SECONDS; any crash, leak or sanitizer report fails the test.
set -euo pipefail
bin=$1 corpus=$2 seconds=$3
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp -r "$corpus"/. "$work/"
exec "$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
  -artifact_prefix="${SEDGE_BUILD_DIR:-.}/" "$work"
