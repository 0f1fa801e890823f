#!/bin/sh
# strongswan_to_sedge.sh with sedge's responder behind a CPE forwarding UDP 500 and 4500 to it.
LAB_NAT=pop1 exec "$SEDGE_SOURCE_DIR/tests/lab/ike/strongswan_to_sedge.sh"
