#!/bin/sh
# sedge's initiator to strongSwan with AES-256-CBC, HMAC-SHA2-384-192 and PRF HMAC-SHA2-384 over
# MODP-3072 (group 15) for IKE, and ESP AES-256-CBC with HMAC-SHA2-512-256 and extended sequence
# numbers: strongSwan must report that suite, and sedge's kernel SAs must carry cbc(aes),
# hmac(sha512) truncated to 256 bits and the ESN flag; ping through them.
export SEED_IKE=aes256-sha384-modp3072 SEED_ESP=aes256-sha512-esn \
  LAB_EXPECT_SUITE="AES_CBC-256/HMAC_SHA2_384_192/PRF_HMAC_SHA2_384/MODP_3072" \
  LAB_EXPECT_ESP="ESP:AES_CBC-256/HMAC_SHA2_512_256/ESN" \
  LAB_EXPECT_XFRM="enc cbc\(aes\);auth-trunc hmac\(sha512\) \(key\) 256;flag .*esn"
exec "$SEDGE_SOURCE_DIR/tests/lab/ike/sedge_to_strongswan.sh"
