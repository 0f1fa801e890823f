// AUTH payloads (RFC 7296 2.15, 3.8) with a pre-shared key or with certificates: digital
// signatures of RFC 7427 (auth method 14: an AlgorithmIdentifier of appendix A, then the
// signature) with RSASSA-PSS, RSA PKCS#1 v1.5 or ECDSA, and the classic methods 1 (RSA PKCS#1
// with SHA-1) and 9/10/11 (ECDSA, RFC 4754) accepted from peers; the SIGNATURE_HASH_ALGORITHMS
// notify (RFC 7427 4); CERT and CERTREQ payloads (X.509 signature, encoding 4).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "common/result.h"
#include "ike/certs.h"
#include "ike/crypto.h"
#include "ike/tunnel.h"
#include "ike/message.h"
#include "ike/protocol.h"

namespace sedge::ike {

enum class SignatureScheme : uint8_t { rsa_pkcs1, rsa_pss, ecdsa };

struct SignatureAlgorithm {
  SignatureScheme scheme = SignatureScheme::ecdsa;
  uint16_t hash = kHashSha256;
  uint16_t mgf1_hash = 0;  // PSS only
  size_t salt_length = 0;  // PSS only
  friend bool operator==(const SignatureAlgorithm&, const SignatureAlgorithm&) = default;
};

// The AlgorithmIdentifier of RFC 7427 appendix A (DER): sha{256,384,512}WithRSAEncryption with
// NULL parameters, ecdsa-with-SHA{256,384,512} without, RSASSA-PSS with the hash, MGF1 with the
// same hash and a salt as long as the hash.
Bytes algorithm_identifier(SignatureScheme scheme, uint16_t hash);
// Any DER AlgorithmIdentifier of those kinds (PSS with any of its parameters); SHA-1 and other
// algorithms are refused with a message naming them.
Result<SignatureAlgorithm> parse_algorithm_identifier(std::span<const uint8_t> der);

// SIGNATURE_HASH_ALGORITHMS data: the 16-bit IDs we verify with (SHA2-256, -384, -512).
Bytes signature_hashes_notify_data();
// The peer's list from the payloads of its IKE_SA_INIT message; empty when it sent none (then
// only the classic methods may be used towards it).
std::vector<uint16_t> peer_signature_hashes(const std::vector<Payload>& payloads);

// The octets AUTH signs (2.15): the sender's IKE_SA_INIT message | the other side's nonce |
// prf(SK_p, the sender's ID payload body), SK_pi for the initiator, SK_pr for the responder.
Bytes signed_octets(std::span<const uint8_t> message, std::span<const uint8_t> nonce, const PrfKey& sk_p,
                    std::span<const uint8_t> id_body);

// An AUTH payload body (method, 3 reserved bytes, data) signing `octets` with `key`: method 14
// when `peer_hashes` is not empty (ECDSA with the curve's hash; RSA with RSASSA-PSS or PKCS#1
// v1.5 and the first of SHA2-256/384/512 the peer takes), else method 1 (RSA, SHA-1) or 9/10/11.
Result<Bytes> sign_auth(const PrivateKey& key, std::span<const uint8_t> octets, const std::vector<uint16_t>& peer_hashes,
                        bool rsa_pss = true);
// Checks an AUTH payload body against the peer's public key (from its certificate).
Status verify_auth(EVP_PKEY* peer_key, std::span<const uint8_t> auth_body, std::span<const uint8_t> octets);

// CERTREQ body: encoding 4 and the SHA-1 SPKI hashes of our CAs.
Payload certreq_payload(const TrustStore& trust);

// This side's CERT payloads (certificate authentication only) and AUTH payload for IKE_AUTH.
struct LocalAuth {
  std::vector<Payload> certs;
  Payload auth;
};
Result<LocalAuth> build_auth(const TunnelSpec& tunnel, std::span<const uint8_t> message, std::span<const uint8_t> nonce,
                             const PrfKey& sk_p, std::span<const uint8_t> id_body, const std::vector<uint16_t>& peer_hashes);
// Verifies the peer's AUTH (and, with certificates, its CERT chain to our CAs, the ID against
// the certificate, then the signature) from the decrypted IKE_AUTH payloads. The error says
// why, in words for a log line.
Status verify_peer_auth(const TunnelSpec& tunnel, const std::vector<Payload>& inner, std::span<const uint8_t> message,
                        std::span<const uint8_t> nonce, const PrfKey& sk_p, std::span<const uint8_t> id_body);

}  // namespace sedge::ike
