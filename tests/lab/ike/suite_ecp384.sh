#!/bin/sh
# sedge's initiator to strongSwan with ECP-384 (group 20, RFC 5903), AES-256-GCM-16 and PRF
# HMAC-SHA2-384 for IKE, and ESP AES-128-CBC with HMAC-SHA2-256-128 (no ESN): strongSwan must
# report that suite, and sedge's kernel SAs must carry cbc(aes) and hmac(sha256) truncated to
# 128 bits; ping through them.
export SEED_IKE=aes256gcm16-prfsha384-ecp384 SEED_ESP=aes128-sha256 \
  LAB_EXPECT_SUITE="AES_GCM_16-256/PRF_HMAC_SHA2_384/ECP_384" \
  LAB_EXPECT_ESP="ESP:AES_CBC-128/HMAC_SHA2_256_128" \
  LAB_EXPECT_XFRM="enc cbc\(aes\);auth-trunc hmac\(sha256\) \(key\) 128"
exec "$SEDGE_SOURCE_DIR/tests/lab/ike/sedge_to_strongswan.sh"
