// The conductor's check of a TPM quote and of a TPM2_Certify, in pure software: TPMS_ATTEST and
// TPMT_SIGNATURE (TPM 2.0 Part 2, 10.12 and 11.3) parsed from attacker-supplied bytes, the
// signature checked with OpenSSL against the signer's public key, and the nonce compared.
#pragma once

#include <vector>

#include "common/result.h"
#include "onboarding/tpm_wire.h"

namespace sedge::onboarding {

inline constexpr uint32_t kTpmGeneratedValue = 0xff544347;  // TPM_GENERATED_VALUE ("\xffTCG")
inline constexpr uint16_t kStAttestQuote = 0x8018;          // TPM_ST_ATTEST_QUOTE
inline constexpr uint16_t kStAttestCertify = 0x8017;        // TPM_ST_ATTEST_CERTIFY

// PCRs of one bank (TPMS_PCR_SELECTION), e.g. {alg::kSha256, {0, 1, 7}}.
struct PcrSelection {
  uint16_t hash = alg::kSha256;
  std::vector<unsigned> pcrs;  // ascending
};

// A quote's TPMS_ATTEST.
struct Attest {
  uint32_t magic = 0;
  uint16_t type = 0;
  Bytes qualified_signer;  // TPM2B_NAME content
  Bytes extra_data;        // the nonce the verifier gave
  uint64_t clock = 0;
  uint32_t reset_count = 0;
  uint32_t restart_count = 0;
  bool safe = false;
  uint64_t firmware_version = 0;
  std::vector<PcrSelection> pcr_select;
  Bytes pcr_digest;  // H_AK-scheme-hash(concatenated PCR values, selection order)
};

// A TPM2_Certify's TPMS_ATTEST: the header fields of Attest (no PCRs) and TPMS_CERTIFY_INFO.
struct CertifyAttest {
  Attest header;         // magic, type, qualified_signer, extra_data, clock, firmware_version
  Bytes name;            // the certified object's TPM name
  Bytes qualified_name;  // its qualified name
};

// TPMT_SIGNATURE, RSASSA/RSAPSS or ECDSA.
struct Signature {
  uint16_t sig_alg = 0;
  uint16_t hash = 0;
  Bytes rsa;   // RSA signature
  Bytes r, s;  // ECDSA
};

// Parses a TPMS_ATTEST of type quote (the TPM2B_ATTEST's content) making up all of `bytes`;
// any other type, a wrong magic, oversized fields or trailing bytes are refused.
Result<Attest> parse_attest(ByteView bytes);
// Parses a TPMS_ATTEST of type certify making up all of `bytes`, refused as parse_attest does.
Result<CertifyAttest> parse_certify(ByteView bytes);
// Parses a TPMT_SIGNATURE making up all of `bytes`.
Result<Signature> parse_signature(ByteView bytes);
// The pcrSelect bit map of PCR numbers (at least 3 bytes, as TPMs expect).
Bytes pcr_select_bits(const PcrSelection& sel);

// Verifies a quote: the AK passes check_ak_attributes; the signature is the AK's scheme and
// hash and verifies over `attest` with the AK's public key; `attest` is a well-formed quote
// from a TPM (magic) whose extraData equals `nonce`. Returns the parsed quote, whose PCR
// selection and digest the caller compares with what it expects (pcr_composite_digest).
Result<Attest> verify_quote(const PublicArea& ak, ByteView attest, ByteView signature, ByteView nonce);

// Verifies a TPM2_Certify made by a signing key outside the attestation key hierarchy (the
// IDevID key, whose public key comes from its certificate): the signature verifies over
// `attest` with `signer` (an RSA or ECC key; RSASSA, RSAPSS or ECDSA with SHA-256 or
// stronger), `attest` is a well-formed certify from a TPM (magic) whose extraData equals
// `qualifying` and whose certified name equals `object_name`. The caller then checks the
// certified object's public area (its name is `object_name`) itself.
Result<CertifyAttest> verify_certify(EVP_PKEY* signer, ByteView attest, ByteView signature,
                                     ByteView qualifying, ByteView object_name);

// Checks a parsed TPMT_SIGNATURE over `signed_bytes` with `key`: RSASSA and RSAPSS with an RSA
// key, ECDSA with an EC key, the signature's own hash.
Status verify_tpm_signature(EVP_PKEY* key, const Signature& sig, ByteView signed_bytes);

// The pcrDigest a quote over these PCR values (in selection order) carries.
Result<Bytes> pcr_composite_digest(uint16_t hash_alg, const std::vector<Bytes>& pcr_values);

}  // namespace sedge::onboarding
