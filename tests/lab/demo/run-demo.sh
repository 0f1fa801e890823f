#!/usr/bin/env bash
# The sedge demo, in the User-Mode Linux lab (this kernel may lack ESP and VTI): what sedge does
# end to end so far, step by step. Run by scripts/demo.sh after the build.
set -euo pipefail
src=$(cd "$(dirname "$0")/../../.." && pwd)
export SEDGE_SOURCE_DIR=$src SEDGE_BUILD_DIR=${SEDGE_BUILD_DIR:-$src/build/dev}
run=$src/tests/lab/harness/lab-run

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "1. sedged as a systemd service, configured with the Juniper Secure Edge site spoke1-site"
LAB_TIMEOUT=180 "$run" machine "$src/tests/lab/demo/service-demo.sh" demo-service

step "2. sedge's netlink layer programs route-based ESP over VTI; a ping crosses kernel ESP"
LAB_TIMEOUT=180 "$run" uml "$src/tests/lab/demo/datapath-demo.sh" demo-datapath

step "Done. Logs: $SEDGE_BUILD_DIR/lab-logs/demo-*"
