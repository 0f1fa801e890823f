#!/bin/sh
# libreswan_to_sedge.sh with certificates: RSA-2048, RSASSA-PSS (authby=rsa-sha2).
export LAB_CERT_KIND=rsa
exec "$SEDGE_SOURCE_DIR/tests/lab/ike/libreswan_to_sedge.sh"
