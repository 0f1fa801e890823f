#!/bin/sh
# The same exchange with the site behind a NAT (see sedge_to_strongswan.sh).
LAB_NAT=1 exec "$SEDGE_SOURCE_DIR/tests/lab/ike/sedge_to_strongswan.sh"
