#!/usr/bin/env bash
# The demo: builds sedge, then runs the seed's Juniper Secure Edge site end to end (see README).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cmake --preset dev >/dev/null
cmake --build --preset dev
exec tests/lab/demo/run-demo.sh
