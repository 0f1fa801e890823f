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

// The suites sedge negotiates: AES-GCM-16 (128 or 256-bit keys) for IKE and ESP, PRF
// HMAC-SHA2-256, and one of DH groups 14 (MODP-2048), 19 (ECP-256) and 31 (Curve25519).
struct Suite {
  uint16_t key_bits = 128;  // AES-GCM-16 key size, for IKE and ESP alike
  uint16_t dh_group = 14;
  size_t key_and_salt() const { return key_bits / 8u + 4u; }  // SK_e*, and each ESP key (RFC 4106)
  friend bool operator==(const Suite&, const Suite&) = default;
};
// strongSwan proposal syntax, e.g. "aes256gcm16-prfsha256-curve25519" (IKE); an ESP proposal
// gives the key size ("aes128gcm16[-modp2048]").
Result<Suite> parse_suite(std::string_view ike_proposal, std::string_view esp_proposal);

// An ephemeral key exchange in the IKE KE payload's formats: MODP big-endian padded to the
// prime (RFC 7296), ECP x||y (RFC 5903), X25519 the 32-byte u-coordinate (RFC 8031). The peer's
// value is validated before use.
class KeyExchange {
 public:
  static Result<KeyExchange> generate(uint16_t group);
  KeyExchange(KeyExchange&&) noexcept;
  KeyExchange& operator=(KeyExchange&&) noexcept;
  ~KeyExchange();
  uint16_t group() const { return group_; }
  const Bytes& public_value() const { return public_; }
  Result<Secret> shared_secret(std::span<const uint8_t> peer_public) const;

 private:
  KeyExchange() = default;
  void* key_ = nullptr;  // EVP_PKEY
  uint16_t group_ = 0;
  Bytes public_;
};

struct IkeKeys {
  Secret sk_d, sk_ei, sk_er, sk_pi, sk_pr;  // AES-GCM-16: SK_e* are key + 4-byte salt
};
IkeKeys derive_ike_keys(const Suite& suite, std::span<const uint8_t> g_ir, std::span<const uint8_t> ni,
                        std::span<const uint8_t> nr, uint64_t spi_i, uint64_t spi_r);

// KEYMAT for an AES-GCM-16 CHILD_SA: initiator->responder key+salt, then responder->initiator.
struct ChildKeys {
  Secret initiator_to_responder, responder_to_initiator;  // key + salt each (rfc4106 key format)
};
ChildKeys derive_child_keys(const Suite& suite, const Secret& sk_d, std::span<const uint8_t> ni, std::span<const uint8_t> nr);

// AES-GCM-16 (the key size from the key's length, 20 or 36 bytes with the salt): encrypts `inner` (already serialised payloads) into a whole
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
