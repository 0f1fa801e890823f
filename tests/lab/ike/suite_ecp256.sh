#!/bin/sh
# sedge's initiator to libreswan (NSS, independent of OpenSSL) with an ECP-256 suite
# (aes128gcm16-prfsha256-ecp256); libreswan must report group DH19.
export SEED_IKE=aes128gcm16-prfsha256-ecp256 SEED_ESP=aes128gcm16 LIBRESWAN_IKE=aes_gcm128-sha2_256-dh19 LAB_EXPECT_SUITE="group=DH19"
exec "$SEDGE_SOURCE_DIR/tests/lab/ike/sedge_to_libreswan.sh"
