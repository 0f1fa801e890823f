// The conductor's check of a TPM quote, in pure software: TPMS_ATTEST and TPMT_SIGNATURE
// (TPM 2.0 Part 2, 10.12 and 11.3) parsed from attacker-supplied bytes, the signature checked
// with OpenSSL against the attestation key's public area, and the nonce compared.
#pragma once

#include <vector>

#include "common/result.h"
#include "onboarding/tpm_wire.h"

namespace sedge::onboarding {

inline constexpr uint32_t kTpmGeneratedValue = 0xff544347;  // TPM_GENERATED_VALUE ("\xffTCG")
inline constexpr uint16_t kStAttestQuote = 0x8018;          // TPM_ST_ATTEST_QUOTE

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
// Parses a TPMT_SIGNATURE making up all of `bytes`.
Result<Signature> parse_signature(ByteView bytes);
// The pcrSelect bit map of PCR numbers (at least 3 bytes, as TPMs expect).
Bytes pcr_select_bits(const PcrSelection& sel);

// Verifies a quote: the AK passes check_ak_attributes; the signature is the AK's scheme and
// hash and verifies over `attest` with the AK's public key; `attest` is a well-formed quote
// from a TPM (magic) whose extraData equals `nonce`. Returns the parsed quote, whose PCR
// selection and digest the caller compares with what it expects (pcr_composite_digest).
Result<Attest> verify_quote(const PublicArea& ak, ByteView attest, ByteView signature, ByteView nonce);

// The pcrDigest a quote over these PCR values (in selection order) carries.
Result<Bytes> pcr_composite_digest(uint16_t hash_alg, const std::vector<Bytes>& pcr_values);

}  // namespace sedge::onboarding
