#!/bin/sh
# sedge_to_sedge.sh with the site behind a masquerading NAT (sedge's responder sees it).
LAB_NAT=wan0 exec "$SEDGE_SOURCE_DIR/tests/lab/ike/sedge_to_sedge.sh"
