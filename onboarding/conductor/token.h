// The onboarding token: the conductor's Ed25519-signed permission for one router to onboard
// once. Compact form: base64url(JSON claims) "." base64url(signature), no padding; the
// signature covers the first part exactly as sent. Claims (all required, no others):
//   v              token format version (kTokenVersion)
//   router_id      the router it is for
//   identity_kind  how the router proves who it is: "ek" (credential activation with its EK)
//                  or "idevid" (TPM2_Certify with its IDevID key)
//   identity_sha256  hex SHA-256 of that identity key's SubjectPublicKeyInfo DER (the EK's,
//                  or the IDevID certificate's), the binding to the registered router
//   mac            the router's management MAC, "aa:bb:cc:dd:ee:ff"
//   conductor_pin  hex SHA-256 of the conductor's TLS SubjectPublicKeyInfo DER
//   conductor      where to connect, "host:port"
//   jti            128-bit random, hex: the single-use nonce the registry records
//   iat, exp       issued at / expires at, Unix seconds
#pragma once

#include <openssl/types.h>

#include <cerrno>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/openssl.h"
#include "common/result.h"
#include "common/secret.h"

namespace sedge::conductor {

inline constexpr int kTokenVersion = 2;  // 2: identity_kind and identity_sha256 replace ek_sha256
inline constexpr size_t kMaxTokenLength = 2048;  // longer input is malformed before any decoding

// Error::code of a failed verify_token, one per reason.
inline constexpr int kTokenMalformed = EBADMSG;
inline constexpr int kTokenBadSignature = EKEYREJECTED;
inline constexpr int kTokenExpired = EKEYEXPIRED;
inline constexpr int kTokenNotYetValid = EAGAIN;
inline constexpr int kTokenWrongVersion = EPROTONOSUPPORT;

struct TokenClaims {
  int v = kTokenVersion;
  std::string router_id;
  std::string identity_kind = "ek";  // "ek" or "idevid"
  std::string identity_sha256;
  std::string mac;
  std::string conductor_pin;
  std::string conductor;
  std::string jti;
  int64_t iat = 0;
  int64_t exp = 0;

  bool operator==(const TokenClaims&) const = default;
};

// An Ed25519 key pair (signing) or public key (verifying), owned.
class Ed25519Key {
 public:
  static Result<Ed25519Key> generate();
  // PKCS#8 or traditional PEM private key.
  static Result<Ed25519Key> from_private_pem(const Secret& pem);
  // 32 raw public key bytes, or SubjectPublicKeyInfo PEM.
  static Result<Ed25519Key> from_public_raw(std::span<const uint8_t> raw);
  static Result<Ed25519Key> from_public_pem(std::string_view pem);

  bool has_private() const { return has_private_; }
  std::vector<uint8_t> public_raw() const;  // 32 bytes
  std::string public_pem() const;
  Result<Secret> private_pem() const;       // PKCS#8 PEM, for storing the conductor's key
  // A copy that can only verify.
  Ed25519Key public_only() const;

  EVP_PKEY* get() const { return key_.get(); }

 private:
  Ed25519Key(PkeyPtr key, bool has_private) : key_(std::move(key)), has_private_(has_private) {}
  PkeyPtr key_;
  bool has_private_ = false;
};

// A fresh jti: 16 random bytes, hex.
Result<std::string> new_jti();

// Hex SHA-256 of DER bytes: identity_sha256 of the identity key's SubjectPublicKeyInfo,
// conductor_pin of the TLS key's.
std::string sha256_hex(std::span<const uint8_t> der);

// The router's pin check: whether the SubjectPublicKeyInfo DER the TLS server presented is the
// one the token pins. Constant-time in the digest comparison.
bool pin_matches(std::string_view conductor_pin, std::span<const uint8_t> spki_der);

// Checks the claims' shapes (the same checks verify_token applies) and signs them.
Result<std::string> issue_token(const TokenClaims& claims, const Ed25519Key& key);

// Verifies a compact token with the conductor's public key at time `now` (Unix seconds): shape
// and length, then the signature, then the version, then iat <= now < exp. The error's code is
// one of the kToken* constants above and its message says which.
Result<TokenClaims> verify_token(std::string_view token, const Ed25519Key& key, int64_t now);

// The claims as a router reads them: it cannot check the conductor's signature (the conductor
// will), but it needs the pin and the address to connect safely.
Result<TokenClaims> read_claims_unverified(std::string_view token);

// The claims JSON parser on its own (no signature, no time check), for tests and the fuzzer.
Result<TokenClaims> parse_claims(std::string_view json);

}  // namespace sedge::conductor
