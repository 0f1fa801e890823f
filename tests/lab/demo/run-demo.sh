#!/usr/bin/env bash
# The sedge demo, in the User-Mode Linux lab (this kernel may lack ESP and VTI): the main job end
# to end, step by step. Run by scripts/demo.sh after the build; logs in $SEDGE_BUILD_DIR/lab-logs.
set -euo pipefail
src=$(cd "$(dirname "$0")/../../.." && pwd)
export SEDGE_SOURCE_DIR=$src SEDGE_BUILD_DIR=${SEDGE_BUILD_DIR:-$src/build/dev}
run=$src/tests/lab/harness/lab-run

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "1. sedged as a systemd service, configured with the Juniper Secure Edge site spoke1-site"
LAB_TIMEOUT=180 "$run" machine "$src/tests/lab/demo/service-demo.sh" demo-service

step "2. sedged runs the same site in the lab: primary and secondary to two strongSwan SEC POPs, eBPF steering of the LAN's Internet traffic, failover and return"
# tests/lab/agent/connectors.sh with LAB_DEMO=1: sedged alone (IKEv2, kernel ESP over route-based
# VTIs, the classifier at lan0) from the example's drop-ins; at each step sedgectl status, sa and
# steering, the site's SAs (keys hidden), the active-path map and the ESP counters.
LAB_DEMO=1 LAB_TIMEOUT=300 "$run" uml "$src/tests/lab/agent/connectors.sh" demo-sedged | grep -vE '^(libbpf:|64 bytes|PING )'

step "Done. Logs: $SEDGE_BUILD_DIR/lab-logs/demo-*"
