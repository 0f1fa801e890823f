// The onboarding protocol's constants and the one computation both ends must agree on: what
// the router's quote signs. docs/onboarding.md describes the messages and their checks.
#pragma once

#include <openssl/evp.h>

#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

namespace sedge::onboarding::protocol {

inline constexpr std::string_view kOnboardPath = "/sedge/onboard";  // port 930
inline constexpr std::string_view kManagePath = "/sedge/manage";    // port 933
inline constexpr size_t kNonceBytes = 32;
inline constexpr size_t kExporterBytes = 32;
inline constexpr size_t kSecretBytes = 32;

// How a router proves who it is, as the device ID token ("identity"), the onboarding token
// ("identity_kind") and the hello ("identity") name it: credential activation with its EK, or
// TPM2_Certify of its AK by its IDevID key.
inline constexpr const char* kIdentityEk = "ek";
inline constexpr const char* kIdentityIdevid = "idevid";

// The quote's (and the IDevID path's certify's) qualifyingData: SHA-256(nonce || TLS exporter ||
// SHA-256(TLS key SPKI)). The conductor's fresh nonce stops replays, the exporter ties the quote to
// this TLS session, and the key hash ties the certificate about to be issued to the attested TPM.
inline std::vector<uint8_t> quote_qualifying_data(std::span<const uint8_t> nonce, std::span<const uint8_t> exporter,
                                                  std::span<const uint8_t> tls_spki) {
  uint8_t key_hash[32];
  EVP_Digest(tls_spki.data(), tls_spki.size(), key_hash, nullptr, EVP_sha256(), nullptr);
  std::vector<uint8_t> input(nonce.begin(), nonce.end());
  input.insert(input.end(), exporter.begin(), exporter.end());
  input.insert(input.end(), key_hash, key_hash + sizeof key_hash);
  std::vector<uint8_t> out(32);
  EVP_Digest(input.data(), input.size(), out.data(), nullptr, EVP_sha256(), nullptr);
  return out;
}

}  // namespace sedge::onboarding::protocol
