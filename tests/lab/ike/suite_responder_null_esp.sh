#!/bin/sh
# strongSwan's initiator to sedge's responder with AES-256-CBC, HMAC-SHA2-512-256 and PRF
# HMAC-SHA2-512 over ECP-521 (group 21) for IKE, and ESP ENCR_NULL with HMAC-SHA2-256-128:
# sedge chooses that suite among strongSwan's proposal, strongSwan reports it, sedge's kernel SAs
# carry ecb(cipher_null) and hmac(sha256) truncated to 128 bits; ping through them.
export SEED_IKE=aes256-sha512-ecp521 SEED_ESP=null-sha256 \
  LAB_EXPECT_SUITE="AES_CBC-256/HMAC_SHA2_512_256/PRF_HMAC_SHA2_512/ECP_521" \
  LAB_EXPECT_ESP="ESP:NULL/HMAC_SHA2_256_128" \
  LAB_EXPECT_XFRM="enc ecb\(cipher_null\);auth-trunc hmac\(sha256\) \(key\) 128"
exec "$SEDGE_SOURCE_DIR/tests/lab/ike/strongswan_to_sedge.sh"
