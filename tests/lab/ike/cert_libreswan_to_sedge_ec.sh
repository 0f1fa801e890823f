#!/bin/sh
# libreswan_to_sedge.sh with certificates: ECDSA P-256 (authby=ecdsa).
export LAB_CERT_KIND=ec
exec "$SEDGE_SOURCE_DIR/tests/lab/ike/libreswan_to_sedge.sh"
