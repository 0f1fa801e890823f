#!/bin/sh
# cert_sedge_to_strongswan.sh with RSA-2048 certificates: sedge signs with RSASSA-PSS (RFC 7427,
# SHA2-256, MGF1-SHA2-256, salt 32), strongSwan too (auth = rsa/pss).
export LAB_CERT_KIND=rsa
exec "$SEDGE_SOURCE_DIR/tests/lab/ike/cert_sedge_to_strongswan.sh"
