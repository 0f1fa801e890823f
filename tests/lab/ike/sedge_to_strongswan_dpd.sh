#!/bin/sh
# sedge detects a dead POP by its liveness checks (see sedge_to_strongswan.sh).
LAB_DPD=1 exec "$SEDGE_SOURCE_DIR/tests/lab/ike/sedge_to_strongswan.sh"
