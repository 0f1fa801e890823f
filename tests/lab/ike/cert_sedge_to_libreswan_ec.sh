#!/bin/sh
# sedge_to_libreswan.sh with certificates: ECDSA P-256 (authby=ecdsa).
export LAB_CERT_KIND=ec
exec "$SEDGE_SOURCE_DIR/tests/lab/ike/sedge_to_libreswan.sh"
