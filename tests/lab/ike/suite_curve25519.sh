#!/bin/sh
# strongSwan's initiator to sedge's responder with Curve25519 and AES-256-GCM for IKE and ESP:
# the scenario of strongswan_to_sedge.sh, and strongSwan must report that suite.
export SEED_IKE=aes256gcm16-prfsha256-curve25519 SEED_ESP=aes256gcm16 LAB_EXPECT_SUITE="AES_GCM_16-256/PRF_HMAC_SHA2_256/CURVE_25519"
exec "$SEDGE_SOURCE_DIR/tests/lab/ike/strongswan_to_sedge.sh"
