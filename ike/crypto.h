// The cryptography of an IKE SA, through OpenSSL 3 EVP only: PRF and prf+ (RFC 7296 2.13),
// Diffie-Hellman, key derivation (2.14, 2.17), the AES-GCM Encrypted payload (RFC 5282) and
// pre-shared-key AUTH (2.15). Keys are sedge::Secret.
#pragma once

#include <netinet/in.h>

#include <cstdint>
#include <memory>
#include <span>
#include <string_view>

#include "common/result.h"
#include "common/secret.h"
#include "ike/message.h"

namespace sedge::ike {

// HMAC-SHA2-256 (PRF_HMAC_SHA2_256, IANA 5).
Bytes prf(std::span<const uint8_t> key, std::span<const uint8_t> data);
Secret prf_plus(std::span<const uint8_t> key, std::span<const uint8_t> seed, size_t length);

// Ephemeral Diffie-Hellman for group 14 (2048-bit MODP, RFC 3526).
class DhGroup14 {
 public:
  static Result<DhGroup14> generate();
  DhGroup14(DhGroup14&&) noexcept;
  DhGroup14& operator=(DhGroup14&&) noexcept;
  ~DhGroup14();
  const Bytes& public_value() const { return public_; }  // 256 bytes, big-endian
  Result<Secret> shared_secret(std::span<const uint8_t> peer_public) const;

 private:
  DhGroup14() = default;
  void* key_ = nullptr;  // EVP_PKEY
  Bytes public_;
};

struct IkeKeys {
  Secret sk_d, sk_ei, sk_er, sk_pi, sk_pr;  // AES-GCM-16-128: SK_e* are key + 4-byte salt
};
IkeKeys derive_ike_keys(std::span<const uint8_t> g_ir, std::span<const uint8_t> ni, std::span<const uint8_t> nr,
                        uint64_t spi_i, uint64_t spi_r);

// KEYMAT for an AES-GCM-16-128 CHILD_SA: initiator->responder key+salt, then responder->initiator.
struct ChildKeys {
  Secret initiator_to_responder, responder_to_initiator;  // 20 bytes each (rfc4106 key format)
};
ChildKeys derive_child_keys(const Secret& sk_d, std::span<const uint8_t> ni, std::span<const uint8_t> nr);

// AES-GCM-16 with a 128-bit key: encrypts `inner` (already serialised payloads) into a whole
// IKE message with one SK payload; `iv_counter` must never repeat for the key.
Bytes seal(const Secret& key_and_salt, Header header, uint8_t inner_first, std::span<const uint8_t> inner, uint64_t iv_counter);
// Decrypts the SK payload of a parsed message (its wire bytes given for the AAD).
Result<std::vector<Payload>> open(const Secret& key_and_salt, const Message& message, std::span<const uint8_t> wire);

// AUTH for a pre-shared key: prf(prf(PSK, "Key Pad for IKEv2"), message | nonce | prf(SK_p, ID)).
Bytes psk_auth(const Secret& psk, std::span<const uint8_t> message, std::span<const uint8_t> nonce,
               const Secret& sk_p, std::span<const uint8_t> id_body);

Bytes random_bytes(size_t n);

// NAT_DETECTION_*_IP notify data: SHA-1(SPIi | SPIr | IPv4 address | port) (RFC 7296 2.23).
Bytes nat_hash(uint64_t spi_i, uint64_t spi_r, const struct sockaddr_in& address);

}  // namespace sedge::ike
