// CREATE_CHILD_SA (RFC 7296 sections 1.3, 2.8, 2.17, 2.18): the payloads of its requests and
// responses, the keys of a rekeyed IKE SA and of a rekeyed CHILD_SA (with or without PFS), the
// Delete payload that retires the old SAs, and the rule that settles simultaneous rekeys
// (section 2.8.1: the SA created with the lowest of the four nonces goes).
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "common/secret.h"
#include "ike/crypto.h"
#include "ike/message.h"
#include "ike/protocol.h"

namespace sedge::ike {

// The payloads of a CREATE_CHILD_SA request or response (section 1.3):
// request  SK { [N(REKEY_SA)], SA, Ni, [KEi], [TSi, TSr] }
// response SK { SA, Nr, [KEr], [TSi, TSr] }, or SK { N(error) }.
struct CreateChildSa {
  std::optional<uint32_t> rekey_spi;  // N(REKEY_SA): the ESP SPI of the CHILD_SA being rekeyed
  std::vector<Proposal> proposals;    // ESP (CHILD_SA) or IKE (rekey of the IKE SA, with its new SPI)
  Bytes nonce;
  uint16_t ke_group = 0;  // 0: no KE payload
  Bytes ke_value;
  std::vector<TrafficSelector> tsi, tsr;  // empty for an IKE SA rekey
  std::optional<Notify> error;            // an error notify (type below 16384) in a response
  bool rekeys_ike() const { return !proposals.empty() && proposals.front().protocol == kProtocolIke; }
};
std::vector<Payload> encode_create_child(const CreateChildSa& m);
// Checks what every CREATE_CHILD_SA carries (SA, a nonce of 16 to 256 bytes, a well-formed KE,
// both TS or neither) unless it is an error response.
Result<CreateChildSa> decode_create_child(const std::vector<Payload>& payloads);

// Delete payload (section 3.11): IKE SA (protocol 1, no SPIs) or ESP SAs (4-byte SPIs).
struct DeleteSa {
  uint8_t protocol = kProtocolEsp;
  std::vector<uint32_t> spis;
};
Bytes encode_delete(const DeleteSa& d);
Result<DeleteSa> decode_delete(std::span<const uint8_t> body);

Bytes spi_bytes(uint32_t spi);
Bytes spi_bytes64(uint64_t spi);
uint32_t spi_of(std::span<const uint8_t> four);
uint64_t spi64_of(std::span<const uint8_t> eight);

// The DH group a strongSwan-style ESP proposal asks for (PFS), 0 without one:
// "aes128gcm16-modp2048" -> 14, "aes256-sha512-ecp384" -> 20, "aes128gcm16" -> 0 (groups 14, 15,
// 19, 20, 21, 31). A proposal ike/proposal.h refuses is an error.
Result<uint16_t> parse_pfs_group(std::string_view esp_proposal);

// Section 2.18: SKEYSEED = prf(SK_d (old), g^ir (new) | Ni | Nr) with the old SA's PRF, then the
// SK_* of the new IKE SA from prf+(SKEYSEED, Ni | Nr | SPIi | SPIr) as for a new SA (sized by
// the suite; ike/crypto.h has the steps).
IkeKeys derive_rekeyed_ike_keys(const Suite& suite, const PrfKey& old_sk_d, std::span<const uint8_t> g_ir,
                                std::span<const uint8_t> ni, std::span<const uint8_t> nr, uint64_t spi_i, uint64_t spi_r);
// Section 2.17: KEYMAT = prf+(SK_d, [g^ir (new) |] Ni | Nr); "initiator" is the initiator of the
// CREATE_CHILD_SA exchange. `g_ir` empty: no PFS. (derive_child_keys, argument order of a rekey.)
ChildKeys derive_rekeyed_child_keys(const Suite& suite, const Secret& sk_d, std::span<const uint8_t> g_ir,
                                    std::span<const uint8_t> ni, std::span<const uint8_t> nr);

// Section 2.8.1: of two exchanges that rekeyed the same SA at once, is the lowest of the four
// nonces (compared as octet strings) in exchange `a`? Then the SA `a` created is the redundant
// one, and the side that initiated `a` deletes it.
bool lowest_nonce_in(std::span<const uint8_t> a_ni, std::span<const uint8_t> a_nr, std::span<const uint8_t> b_ni,
                     std::span<const uint8_t> b_nr);

}  // namespace sedge::ike
