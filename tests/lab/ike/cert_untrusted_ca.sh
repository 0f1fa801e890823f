#!/bin/sh
# cert_sedge_to_strongswan.sh where pop1's certificate comes from another CA of the same name:
# sedge refuses it with AUTHENTICATION_FAILED, logs why, and leaves no SA or policy behind.
export LAB_CERT_ROGUE=1
exec "$SEDGE_SOURCE_DIR/tests/lab/ike/cert_sedge_to_strongswan.sh"
