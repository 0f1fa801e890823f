// The cryptography of an IKE SA, through OpenSSL 3 EVP only: PRF and prf+ (RFC 7296 2.13),
// Diffie-Hellman, key derivation (2.14, 2.17, 2.18), the Encrypted payload with AES-GCM-16
// (RFC 5282) or AES-CBC with HMAC-SHA2 (RFC 7296 3.14, RFC 4868), and pre-shared-key AUTH
// (2.15). Keys are sedge::Secret.
#pragma once

#include <netinet/in.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/openssl.h"
#include "common/result.h"
#include "common/secret.h"
#include "ike/address.h"
#include "ike/message.h"
#include "ike/protocol.h"

namespace sedge::ike {

size_t prf_size(uint16_t prf);        // output and key size: 20, 32, 48, 64 (0: unknown)
size_t integ_key_size(uint16_t integ);  // HMAC-SHA2 key: the hash's size (RFC 4868 2.1.1)
size_t integ_icv_size(uint16_t integ);  // truncated: half of it (RFC 4868 2.1.2)

// PRF by IANA ID (HMAC-SHA1 or HMAC-SHA2-256/384/512); the two-argument form is HMAC-SHA2-256.
Bytes prf(uint16_t prf_id, std::span<const uint8_t> key, std::span<const uint8_t> data);
Bytes prf(std::span<const uint8_t> key, std::span<const uint8_t> data);
// prf+ (RFC 7296 2.13): T1 | T2 | ... with Tn = prf(K, Tn-1 | S | n), n up to 255.
Secret prf_plus(uint16_t prf_id, std::span<const uint8_t> key, std::span<const uint8_t> seed, size_t length);
Secret prf_plus(std::span<const uint8_t> key, std::span<const uint8_t> seed, size_t length);
// HMAC-SHA2 integrity, truncated as RFC 4868 says (the ICV of the SK payload and of ESP).
Bytes integ_icv(uint16_t integ, std::span<const uint8_t> key, std::span<const uint8_t> data);

// The algorithms of one tunnel, for its IKE SA and its CHILD_SAs (ESP), one of each kind.
//   IKE: AES-GCM-16 or AES-CBC (128, 192 or 256) with HMAC-SHA2-256-128/384-192/512-256; PRF
//        HMAC-SHA2-256/384/512; DH group 14, 15, 19, 20, 21 or 31.
//   ESP: AES-GCM-16, AES-CBC or ENCR_NULL (with HMAC-SHA2 unless AES-GCM); ESN or not.
struct Suite {
  uint16_t key_bits = 128;  // IKE SA encryption key size (AES)
  uint16_t dh_group = 14;
  uint16_t encr = kEncrAesGcm16;  // IKE SA encryption
  uint16_t integ = kIntegNone;    // IKE SA integrity (none with AES-GCM)
  uint16_t prf = kPrfHmacSha256;
  uint16_t esp_encr = kEncrAesGcm16;
  uint16_t esp_key_bits = 128;  // 0 with ENCR_NULL
  uint16_t esp_integ = kIntegNone;
  bool esn = false;  // 64-bit extended sequence numbers for ESP (RFC 4303)

  bool aead() const { return encr == kEncrAesGcm16; }
  bool esp_aead() const { return esp_encr == kEncrAesGcm16; }
  size_t key_and_salt() const { return key_bits / 8u + (aead() ? 4u : 0u); }  // SK_e* (RFC 5282: key + salt)
  size_t esp_key_size() const { return esp_key_bits / 8u + (esp_aead() ? 4u : 0u); }  // each ESP encryption key (RFC 4106)
  // strongSwan-style names, e.g. "aes256-sha384-prfsha384-modp3072" and "aes256-sha512-esn".
  std::string ike_name() const;
  std::string esp_name() const;
  friend bool operator==(const Suite&, const Suite&) = default;
};
// strongSwan proposal syntax, one algorithm of each kind, e.g. IKE "aes256-sha384-modp3072",
// "aes128-sha256-ecp256" (an integrity algorithm without a prf also names the PRF, as in
// strongSwan), "aes256gcm16-prfsha384-ecp384" (AES-GCM: a prf, no integrity), ESP "aes256-sha512-esn",
// "null-sha256", "aes128gcm16" (a DH group in the ESP proposal is the PFS group of rekeys, which
// parse_pfs_group reads). Unknown tokens and incomplete proposals are errors naming the token
// (ike/proposal.h parses both proposals).
Result<Suite> parse_suite(std::string_view ike_proposal, std::string_view esp_proposal);

// The transforms of the suite as a proposal carries them (RFC 7296 3.3): IKE ENCR (with its key
// length), PRF, INTEG (not with AES-GCM), DH; ESP ENCR (key length unless NULL), INTEG, ESN.
std::vector<Transform> ike_transforms(const Suite& suite);
std::vector<Transform> esp_transforms(const Suite& suite);
// Whether two transform lists are the same set (a responder may reorder them).
bool same_transforms(const std::vector<Transform>& a, const std::vector<Transform>& b);
// A responder's choice: the first offered proposal of `protocol` that contains every one of
// `ours` (an ESP offer without an ESN transform is taken as "no ESN"), reduced to `ours` with
// the offer's number and SPI.
std::optional<Proposal> choose_proposal(const std::vector<Proposal>& offered, uint8_t protocol, const std::vector<Transform>& ours);

// An ephemeral key exchange in the IKE KE payload's formats: MODP big-endian padded to the
// prime (RFC 7296; groups 14 and 15, RFC 3526), ECP x||y (RFC 5903; groups 19, 20, 21), X25519
// the 32-byte u-coordinate (RFC 8031; group 31). The peer's value is validated before use.
class KeyExchange {
 public:
  static Result<KeyExchange> generate(uint16_t group);
  // A fixed key pair, for known-answer tests: the private value (MODP exponent, ECP scalar,
  // X25519 scalar) and the public value in KE format; a pair that does not belong together is
  // refused (for X25519 the public value is computed, and must match if given).
  static Result<KeyExchange> from_private(uint16_t group, std::span<const uint8_t> private_value,
                                          std::span<const uint8_t> public_value);
  static bool supported(uint16_t group);
  static size_t public_size(uint16_t group);  // KE data length; 0 for an unsupported group
  KeyExchange(KeyExchange&&) noexcept;
  KeyExchange& operator=(KeyExchange&&) noexcept;
  ~KeyExchange();
  uint16_t group() const { return group_; }
  const Bytes& public_value() const { return public_; }
  // g^ir: MODP padded to the prime's length, ECP the x coordinate, X25519 32 bytes.
  Result<Secret> shared_secret(std::span<const uint8_t> peer_public) const;

 private:
  KeyExchange() = default;
  PkeyPtr key_;
  uint16_t group_ = 0;
  Bytes public_;
};

// A key that also knows its PRF (SK_d, SK_pi, SK_pr). It is a Secret, so code that only moves
// key bytes keeps working; a plain Secret converts to one for HMAC-SHA2-256.
class PrfKey : public Secret {
 public:
  PrfKey() = default;
  PrfKey(Secret key, uint16_t prf_id = kPrfHmacSha256) : Secret(std::move(key)), prf_(prf_id) {}  // NOLINT: implicit
  uint16_t prf_id() const { return prf_; }
  PrfKey clone() const { return {Secret::clone(), prf_}; }  // keeps the PRF

 private:
  uint16_t prf_ = kPrfHmacSha256;
};
Bytes prf(const PrfKey& key, std::span<const uint8_t> data);

// One direction's keys for the Encrypted payload: the Secret itself is SK_e (AES key, plus the
// 4-byte salt for AES-GCM), `integ_key` is SK_a (empty for AES-GCM). A plain Secret converts
// to an AES-GCM key.
class SkKey : public Secret {
 public:
  SkKey() = default;
  SkKey(Secret key_and_salt) : Secret(std::move(key_and_salt)) {}  // NOLINT: implicit, AES-GCM
  SkKey(uint16_t encr, Secret encryption_key, uint16_t integ, Secret integ_key)
      : Secret(std::move(encryption_key)), encr_(encr), integ_(integ), integ_key_(std::move(integ_key)) {}
  uint16_t encr() const { return encr_; }
  uint16_t integ() const { return integ_; }
  const Secret& integ_key() const { return integ_key_; }
  SkKey clone() const { return {encr_, Secret::clone(), integ_, integ_key_.clone()}; }  // keeps SK_a and the algorithms

 private:
  uint16_t encr_ = kEncrAesGcm16;
  uint16_t integ_ = kIntegNone;
  Secret integ_key_;
};

struct IkeKeys {
  PrfKey sk_d;
  SkKey sk_ei, sk_er;
  PrfKey sk_pi, sk_pr;
  IkeKeys clone() const { return {sk_d.clone(), sk_ei.clone(), sk_er.clone(), sk_pi.clone(), sk_pr.clone()}; }
};

// The steps of RFC 7296 2.14, 2.17 and 2.18 (what NIST's IKEv2 KDF tests name SKEYSEED, DKM,
// DKM(Child SA), DKM(Child SA D-H) and SKEYSEED(Rekey)).
Bytes skeyseed(uint16_t prf_id, std::span<const uint8_t> ni, std::span<const uint8_t> nr, std::span<const uint8_t> g_ir);
Bytes rekey_skeyseed(const PrfKey& old_sk_d, std::span<const uint8_t> g_ir_new, std::span<const uint8_t> ni,
                     std::span<const uint8_t> nr);  // prf(SK_d (old), g^ir (new) | Ni | Nr), the old SA's PRF
Secret ike_keymat(uint16_t prf_id, std::span<const uint8_t> skeyseed, std::span<const uint8_t> ni, std::span<const uint8_t> nr,
                  uint64_t spi_i, uint64_t spi_r, size_t length);  // prf+(SKEYSEED, Ni | Nr | SPIi | SPIr)
Secret child_keymat(const PrfKey& sk_d, std::span<const uint8_t> g_ir_new, std::span<const uint8_t> ni,
                    std::span<const uint8_t> nr, size_t length);  // prf+(SK_d, [g^ir (new) |] Ni | Nr)

// SK_d | SK_ai | SK_ar | SK_ei | SK_er | SK_pi | SK_pr from a new SA's SKEYSEED, sized by the
// suite (SK_a* absent with AES-GCM).
IkeKeys split_ike_keys(const Suite& suite, std::span<const uint8_t> skeyseed, std::span<const uint8_t> ni,
                       std::span<const uint8_t> nr, uint64_t spi_i, uint64_t spi_r);
IkeKeys derive_ike_keys(const Suite& suite, std::span<const uint8_t> g_ir, std::span<const uint8_t> ni,
                        std::span<const uint8_t> nr, uint64_t spi_i, uint64_t spi_r);

// KEYMAT of a CHILD_SA (RFC 7296 2.17): encryption key then integrity key for initiator ->
// responder, then both for responder -> initiator.
struct ChildKeys {
  Secret initiator_to_responder, responder_to_initiator;  // encryption (AES-GCM: key + salt, RFC 4106; empty for NULL)
  Secret integ_initiator_to_responder{}, integ_responder_to_initiator{};  // HMAC keys (empty with AES-GCM)
};
// `sk_d` is SK_d of the IKE SA (keyed with the suite's PRF); `g_ir` the new shared secret of a
// CREATE_CHILD_SA with PFS, empty otherwise.
ChildKeys derive_child_keys(const Suite& suite, const Secret& sk_d, std::span<const uint8_t> ni, std::span<const uint8_t> nr,
                            std::span<const uint8_t> g_ir = {});

// Encrypts `inner` (already serialised payloads) into a whole IKE message with one SK payload.
// AES-GCM-16: the 8-byte IV is `iv_counter`, which must never repeat for the key. AES-CBC: a
// random 16-byte IV, padding, then the truncated HMAC over the message (encrypt-then-MAC).
Bytes seal(const SkKey& key, Header header, uint8_t inner_first, std::span<const uint8_t> inner, uint64_t iv_counter);
// The same with a plain AES-GCM key + salt (20 or 36 bytes); any other size is an AES-CBC SK_e
// without its SK_a, and gives an empty message (logged).
Bytes seal(const Secret& key_and_salt, Header header, uint8_t inner_first, std::span<const uint8_t> inner, uint64_t iv_counter);
// Checks and decrypts the SK payload of a parsed message (its wire bytes give the AAD or the
// authenticated octets); CBC: the ICV is checked before anything is decrypted.
Result<std::vector<Payload>> open(const SkKey& key, const Message& message, std::span<const uint8_t> wire);
Result<std::vector<Payload>> open(const Secret& key_and_salt, const Message& message, std::span<const uint8_t> wire);
// One Encrypted Fragment (SKF) message (RFC 7383 2.5): `chunk` of the serialised inner
// payloads, sealed as seal() does with the fragment number and total authenticated too (in the
// AAD with AES-GCM, under the ICV with AES-CBC); `inner_first` is 0 except in fragment 1.
Bytes seal_fragment(const SkKey& key, Header header, uint8_t inner_first, uint16_t number, uint16_t total,
                    std::span<const uint8_t> chunk, uint64_t iv_counter);
// Checks and decrypts an SKF message's fragment: its content, not parsed.
Result<Bytes> open_fragment(const SkKey& key, const Message& message, std::span<const uint8_t> wire);

// AUTH for a pre-shared key: prf(prf(PSK, "Key Pad for IKEv2"), message | nonce | prf(SK_p, ID)),
// with SK_p's PRF.
Bytes psk_auth(const Secret& psk, std::span<const uint8_t> message, std::span<const uint8_t> nonce,
               const PrfKey& sk_p, std::span<const uint8_t> id_body);

Bytes random_bytes(size_t n);
// A new IKE SA SPI: random and never zero (RFC 7296 3.1).
uint64_t random_ike_spi();

// NAT_DETECTION_*_IP notify data: SHA-1(SPIi | SPIr | IP address | port) (RFC 7296 2.23).
Bytes nat_hash(uint64_t spi_i, uint64_t spi_r, const Address& address);

}  // namespace sedge::ike
