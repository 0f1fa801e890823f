#!/bin/sh
# sedge_to_sedge.sh with ECDSA P-256 certificates of a lab CA on both sides.
export LAB_CERT_KIND=ec
exec "$SEDGE_SOURCE_DIR/tests/lab/ike/sedge_to_sedge.sh"
