// IKEv2 messages (RFC 7296 section 3) as plain values: parse and serialise are pure, every
// length is checked, and a malformed message is an error value, never a crash.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "common/bytes.h"
#include "common/result.h"
#include "ike/protocol.h"

namespace sedge::ike {

using Bytes = std::vector<uint8_t>;

// Big-endian wire fields (common/bytes.h).
using sedge::get16;
using sedge::get32;
using sedge::get64;
using sedge::put16;
using sedge::put32;
using sedge::put64;

inline constexpr size_t kHeaderSize = 28;
inline constexpr size_t kMaxMessageSize = 65535;

struct Payload {
  uint8_t type = kNoNext;
  bool critical = false;
  Bytes body;  // without the 4-byte generic header
  uint8_t inner_first = kNoNext;  // SK only: the type of the first encrypted payload
};

struct Header {
  uint64_t spi_i = 0;
  uint64_t spi_r = 0;
  uint8_t first_payload = kNoNext;
  Exchange exchange = Exchange::ike_sa_init;
  uint8_t flags = 0;
  uint32_t message_id = 0;
  uint32_t length = 0;
};

struct Message {
  Header header;
  std::vector<Payload> payloads;  // an SK payload's body stays encrypted here
  const Payload* find(uint8_t type) const;
};

// Parses the header and the chain of payloads; rejects bad versions, lengths that disagree,
// truncated payloads, and unknown payloads marked critical (UNSUPPORTED_CRITICAL_PAYLOAD).
Result<Message> parse(std::span<const uint8_t> wire);
// Parses a chain of payloads starting with `first` (the inside of an SK payload).
Result<std::vector<Payload>> parse_payloads(uint8_t first, std::span<const uint8_t> data);
Bytes serialize_header(const Header& h);
Bytes serialize_payloads(const std::vector<Payload>& payloads);  // chained by their types
// A whole message; header.length and first_payload are computed.
Bytes serialize(Header header, const std::vector<Payload>& payloads);

// ---- Payload bodies ----

struct Transform {
  uint8_t type = 0;  // 1 ENCR, 2 PRF, 3 INTEG, 4 DH, 5 ESN
  uint16_t id = 0;
  std::optional<uint16_t> key_length;  // attribute 14
  friend bool operator==(const Transform&, const Transform&) = default;
};

struct Proposal {
  uint8_t number = 1;
  uint8_t protocol = 1;  // 1 IKE, 3 ESP
  Bytes spi;
  std::vector<Transform> transforms;
};

Bytes encode_sa(const std::vector<Proposal>& proposals);
Result<std::vector<Proposal>> decode_sa(std::span<const uint8_t> body);

struct Notify {
  uint8_t protocol = 0;
  Bytes spi;
  uint16_t type = 0;
  Bytes data;
};
Bytes encode_notify(const Notify& n);
Result<Notify> decode_notify(std::span<const uint8_t> body);

// One traffic selector (3.13.1): an IPv4 or IPv6 address range, an IP protocol (0: any) and a
// port range (0-65535: any).
struct TrafficSelector {
  uint8_t type = kTsIpv4AddrRange;
  uint8_t protocol = 0;
  uint16_t start_port = 0, end_port = 65535;
  uint8_t start[16] = {};  // IPv4: the first 4 bytes
  uint8_t end[16] = {};
  bool ipv6() const { return type == kTsIpv6AddrRange; }
  size_t address_size() const { return ipv6() ? 16 : 4; }
  // Every address, protocol and port of `inner` is in this selector.
  bool contains(const TrafficSelector& inner) const;
  friend bool operator==(const TrafficSelector&, const TrafficSelector&) = default;
};
// What `a` and `b` have in common (same family; protocol and ports too), if anything.
std::optional<TrafficSelector> intersect(const TrafficSelector& a, const TrafficSelector& b);
Bytes encode_ts(const std::vector<TrafficSelector>& selectors);
Result<std::vector<TrafficSelector>> decode_ts(std::span<const uint8_t> body);

// KE: group + reserved + public value; ID and AUTH: type + 3 reserved bytes + data.
Bytes encode_ke(uint16_t group, std::span<const uint8_t> public_value);
struct KePayload {
  uint16_t group = 0;
  Bytes public_value;
};
// Refuses a body without a public value, or for group 0 (which names no group).
Result<KePayload> decode_ke(std::span<const uint8_t> body);
Bytes encode_typed(uint8_t type, std::span<const uint8_t> data);

}  // namespace sedge::ike
