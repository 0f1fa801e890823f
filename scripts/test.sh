#!/usr/bin/env bash
# Installs dependencies, builds sedge and runs every test label but bench: unit, netns, lab
# (User-Mode Linux) and fuzz (clang libFuzzer build). Run as root on Debian 12.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
jobs=$(nproc)

run_ctest() {  # preset: a skip counts as a failure, since this script installs every prerequisite
  local log
  log=$(mktemp)
  local rc=0
  ctest --preset "$1" -j"$jobs" 2>&1 | tee "$log" || rc=$?
  if grep -qE '\*\*\*Skipped|Not Run' "$log"; then
    echo "test.sh: tests were skipped; every prerequisite is installed here, so that is a failure" >&2
    rc=1
  fi
  rm -f "$log"
  return "$rc"
}

cmake --preset dev >/dev/null
cmake --build --preset dev
run_ctest dev

cmake --preset fuzz >/dev/null
cmake --build --preset fuzz
run_ctest fuzz
