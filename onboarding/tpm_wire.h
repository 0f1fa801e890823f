// TPM 2.0 structures in their wire form (TPM 2.0 Part 2), in pure software: the public area of
// an object (TPMT_PUBLIC / TPM2B_PUBLIC), its TPM name, the TCG standard EK templates, and the
// conversion of a public area to an OpenSSL key. Used on both sides of onboarding: the router
// (onboarding/tpm.h) and the conductor, which never has a TPM (onboarding/credential.h,
// onboarding/quote.h). The parsers read bytes an attacker may have written: every length is
// checked and anything malformed, trailing or unsupported is refused with an error that says
// which field.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "common/bytes.h"
#include "common/hex.h"
#include "common/openssl.h"
#include "common/result.h"

namespace sedge::onboarding {

using Bytes = std::vector<uint8_t>;
using ByteView = std::span<const uint8_t>;

// TPM_ALG_ID values used here (Part 2, table 9).
namespace alg {
inline constexpr uint16_t kRsa = 0x0001;
inline constexpr uint16_t kSha1 = 0x0004;
inline constexpr uint16_t kHmac = 0x0005;
inline constexpr uint16_t kAes = 0x0006;
inline constexpr uint16_t kKeyedHash = 0x0008;
inline constexpr uint16_t kSha256 = 0x000b;
inline constexpr uint16_t kSha384 = 0x000c;
inline constexpr uint16_t kSha512 = 0x000d;
inline constexpr uint16_t kNull = 0x0010;
inline constexpr uint16_t kRsassa = 0x0014;
inline constexpr uint16_t kRsaes = 0x0015;
inline constexpr uint16_t kRsapss = 0x0016;
inline constexpr uint16_t kOaep = 0x0017;
inline constexpr uint16_t kEcdsa = 0x0018;
inline constexpr uint16_t kEcdh = 0x0019;
inline constexpr uint16_t kEcdaa = 0x001a;
inline constexpr uint16_t kEcschnorr = 0x001c;
inline constexpr uint16_t kEcc = 0x0023;
inline constexpr uint16_t kCfb = 0x0043;
}  // namespace alg

// TPM_ECC_CURVE values.
inline constexpr uint16_t kCurveP256 = 0x0003;
inline constexpr uint16_t kCurveP384 = 0x0004;

// TPMA_OBJECT bits.
namespace attr {
inline constexpr uint32_t kFixedTpm = 1u << 1;
inline constexpr uint32_t kStClear = 1u << 2;
inline constexpr uint32_t kFixedParent = 1u << 4;
inline constexpr uint32_t kSensitiveDataOrigin = 1u << 5;
inline constexpr uint32_t kUserWithAuth = 1u << 6;
inline constexpr uint32_t kAdminWithPolicy = 1u << 7;
inline constexpr uint32_t kNoDa = 1u << 10;
inline constexpr uint32_t kEncryptedDuplication = 1u << 11;
inline constexpr uint32_t kRestricted = 1u << 16;
inline constexpr uint32_t kDecrypt = 1u << 17;
inline constexpr uint32_t kSign = 1u << 18;
}  // namespace attr

// An object's public area (TPMT_PUBLIC), RSA or ECC only. Fields that do not apply to the type
// stay zero/empty. Algorithms with no details (TPM_ALG_NULL) leave their sub-fields zero.
struct PublicArea {
  uint16_t type = 0;         // alg::kRsa or alg::kEcc
  uint16_t name_alg = 0;     // alg::kSha256 ...
  uint32_t attributes = 0;   // attr:: bits
  Bytes auth_policy;
  uint16_t sym_alg = alg::kNull;  // symmetric (restricted decryption keys): alg::kAes or NULL
  uint16_t sym_bits = 0;
  uint16_t sym_mode = 0;
  uint16_t scheme = alg::kNull;  // alg::kRsassa, kEcdsa, ... or NULL
  uint16_t scheme_hash = 0;
  uint16_t scheme_count = 0;     // ECDAA only
  // RSA
  uint16_t rsa_bits = 0;
  uint32_t rsa_exponent = 0;  // 0 means 65537
  Bytes rsa_modulus;
  // ECC
  uint16_t curve = 0;
  uint16_t kdf = alg::kNull;
  uint16_t kdf_hash = 0;
  Bytes ecc_x, ecc_y;
};

// Parses a TPM2B_PUBLIC (2-byte size, then exactly that many bytes of TPMT_PUBLIC) that makes
// up all of `bytes`.
Result<PublicArea> parse_public(ByteView bytes);
// Parses a bare TPMT_PUBLIC that makes up all of `bytes`.
Result<PublicArea> parse_tpmt_public(ByteView bytes);
// The TPMT_PUBLIC encoding, and the TPM2B_PUBLIC one (size-prefixed).
Bytes marshal_tpmt_public(const PublicArea& p);
Bytes marshal_public(const PublicArea& p);

// The object's TPM name: nameAlg (2 bytes) || H_nameAlg(TPMT_PUBLIC).
Result<Bytes> object_name(const PublicArea& p);

// Digest size of a TPM hash algorithm (SHA-1/256/384/512), 0 when unknown; and its OpenSSL
// name (nullptr when unknown).
size_t digest_size(uint16_t hash_alg);
const char* openssl_digest_name(uint16_t hash_alg);
// "sha256", "rsa", "ecdsa", ... or "0x...." for log messages.
std::string alg_name(uint16_t alg);

// The endorsement key profiles of the TCG EK Credential Profile for TPM 2.0 (2.4+), each with
// its template and the NV index of its certificate.
enum class EkProfile {
  kRsa2048,    // template L-1: RSA-2048, SHA-256, AES-128-CFB; certificate at 0x01c00002
  kEccP256,    // template L-2: NIST P-256, SHA-256, AES-128-CFB; certificate at 0x01c0000a
  kEccP384,    // template H-3 (high range): NIST P-384, SHA-384, AES-256-CFB, userWithAuth,
               // policy B; certificate at 0x01c00016
};
uint32_t ek_certificate_index(EkProfile profile);
const char* ek_profile_name(EkProfile profile);  // "rsa2048", "ecc-p256", "ecc-p384"
Result<EkProfile> parse_ek_profile(const std::string& name);
// The profile's template, exactly as given to TPM2_CreatePrimary (unique zero-filled for the
// low-range templates, empty for the high range).
PublicArea ek_template(EkProfile profile);
// The EK's full public area from its public key (what the device ID token's EK certificate
// holds): the template with the key in `unique`. This is what make_credential encrypts to.
Result<PublicArea> ek_public_from_key(EkProfile profile, EVP_PKEY* key);
// The same from the raw key: the RSA modulus (big-endian, y empty), or the ECC point's x and y
// coordinates (big-endian, shorter ones are left-padded to the curve's size). The key is
// checked (an ECC point must be on the profile's curve).
Result<PublicArea> ek_public_from_raw(EkProfile profile, ByteView modulus_or_x, ByteView y = {});

// The TCG storage root key template (TCG TPM v2.0 Provisioning Guidance): RSA-2048 or ECC
// P-256, restricted decryption, userWithAuth|noDA, AES-128-CFB.
PublicArea srk_template(uint16_t type);
// An attestation key template: restricted signing, RSA-2048 RSASSA-SHA256 or ECC P-256
// ECDSA-SHA256, fixedTPM|fixedParent|sensitiveDataOrigin|userWithAuth|restricted|sign.
PublicArea ak_template(uint16_t type);
// A non-restricted signing key for TLS (scheme NULL, so that the signer chooses RSA-PSS,
// PKCS#1 or ECDSA and the hash): fixedTPM|fixedParent|sensitiveDataOrigin|userWithAuth|sign.
PublicArea tls_key_template(uint16_t type);

// Refuses a public area that is not an attestation key whose private part cannot leave the
// TPM: it must be RSA (RSASSA or RSAPSS) or ECC (ECDSA) with SHA-256 or stronger, and have
// fixedTPM, fixedParent, sensitiveDataOrigin, restricted and sign set and decrypt clear.
Status check_ak_attributes(const PublicArea& p);

// Refuses a public area that is not a device identity (IDevID) signing key kept in its TPM: RSA
// (2048 bits or more) or ECC (P-256, P-384) with sign, fixedTPM, fixedParent and
// sensitiveDataOrigin set and decrypt clear; restricted or not, any scheme or none.
Status check_idevid_attributes(const PublicArea& p);

// The public key of an RSA or ECC public area as an OpenSSL key, and as DER
// SubjectPublicKeyInfo.
Result<PkeyPtr> public_key(const PublicArea& p);
Result<Bytes> public_key_der(const PublicArea& p);

// True when the public area holds the same key as `key` (e.g. an X.509 certificate's).
bool same_key(const PublicArea& p, EVP_PKEY* key);

// Big-endian readers over attacker-supplied bytes: every read checks the remaining length and
// names the field in its error.
class WireReader {
 public:
  explicit WireReader(ByteView data) : data_(data) {}
  Result<uint8_t> u8(const char* field);
  Result<uint16_t> u16(const char* field);
  Result<uint32_t> u32(const char* field);
  Result<uint64_t> u64(const char* field);
  // A TPM2B: 2-byte size then that many bytes, at most `max` of them.
  Result<Bytes> tpm2b(const char* field, size_t max);
  Result<Bytes> raw(const char* field, size_t n);
  size_t remaining() const { return data_.size() - pos_; }
  size_t position() const { return pos_; }
  Status expect_end(const char* what) const;

 private:
  ByteView data_;
  size_t pos_ = 0;
};

// A TPM2B: the 2-byte size (common/bytes.h put16) then the bytes.
void put_tpm2b(Bytes& out, ByteView data);

using sedge::from_hex;
using sedge::to_hex;

}  // namespace sedge::onboarding
