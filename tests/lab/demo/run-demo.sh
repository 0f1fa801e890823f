#!/usr/bin/env bash
# The sedge demo, in the User-Mode Linux lab (this kernel may lack ESP and VTI): the main job end
# to end, step by step. Run by scripts/demo.sh after the build; logs in $SEDGE_BUILD_DIR/lab-logs.
set -euo pipefail
src=$(cd "$(dirname "$0")/../../.." && pwd)
export SEDGE_SOURCE_DIR=$src SEDGE_BUILD_DIR=${SEDGE_BUILD_DIR:-$src/build/dev}
run=$src/tests/lab/harness/lab-run

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
show() { grep -vE '^\s+(dir |tmpl |sel |replay|lifetime|auth|enc|aead|anti-replay|flag)' || true; }

step "1. sedged as a systemd service, configured with the Juniper Secure Edge site spoke1-site"
LAB_TIMEOUT=180 "$run" machine "$src/tests/lab/demo/service-demo.sh" demo-service

step "2. sedge negotiates IKEv2 (the seed's profile) with a strongSwan SEC POP; ESP runs in the kernel"
LAB_TIMEOUT=120 "$run" uml "$src/tests/lab/ike/sedge_to_strongswan.sh" demo-ike | show

step "3. eBPF steering: an application to the active path, the rest to local breakout, failover by one map write"
LAB_TIMEOUT=150 "$run" uml "$src/tests/lab/steering/failover.sh" demo-steering | show | grep -vE '^(libbpf:|64 bytes)'

step "Done. Logs: $SEDGE_BUILD_DIR/lab-logs/demo-*"
