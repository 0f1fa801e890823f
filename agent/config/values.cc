#include "agent/config/values.h"

#include <arpa/inet.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cstring>

#include "ike/proposal.h"

namespace sedge::config {
namespace {

Error invalid(std::string_view text, std::string_view expected) {
  return Error{"'" + std::string(text) + "' is not valid: expected " + std::string(expected), EINVAL};
}

bool parse_address(std::string_view text, Prefix& out) {
  const std::string s(text);
  if (inet_pton(AF_INET, s.c_str(), out.bytes) == 1) {
    out.family = AF_INET;
    return true;
  }
  if (inet_pton(AF_INET6, s.c_str(), out.bytes) == 1) {
    out.family = AF_INET6;
    return true;
  }
  return false;
}

}  // namespace

std::string Prefix::str() const {
  char buf[INET6_ADDRSTRLEN] = {};
  inet_ntop(family, bytes, buf, sizeof buf);
  return std::string(buf) + "/" + std::to_string(length);
}

bool Prefix::contains(const Prefix& other) const {
  if (family != other.family || other.length < length) return false;
  const unsigned full = length / 8u, rest = length % 8u;
  if (std::memcmp(bytes, other.bytes, full) != 0) return false;
  if (rest == 0) return true;
  const auto mask = static_cast<uint8_t>(0xff << (8 - rest));
  return (bytes[full] & mask) == (other.bytes[full] & mask);
}

Result<Prefix> parse_prefix(std::string_view text) {
  Prefix p;
  const size_t slash = text.find('/');
  if (!parse_address(text.substr(0, slash), p)) {
    return invalid(text, "an IPv4 or IPv6 prefix such as 10.99.99.0/24 or 2001:db8::/32");
  }
  const uint32_t max = p.family == AF_INET ? 32 : 128;
  p.length = static_cast<uint8_t>(max);
  if (slash != std::string_view::npos) {
    auto len = parse_uint(text.substr(slash + 1), 0, max);
    if (!len) return invalid(text, "a prefix length from 0 to " + std::to_string(max));
    p.length = static_cast<uint8_t>(*len);
  }
  // Host bits must be zero, as iproute2 insists for routes: a typo here is a wrong network.
  Prefix masked = p;
  for (unsigned bit = p.length; bit < max; ++bit) masked.bytes[bit / 8] &= static_cast<uint8_t>(~(0x80u >> (bit % 8)));
  if (std::memcmp(masked.bytes, p.bytes, sizeof p.bytes) != 0) {
    return invalid(text, "a network address with its host bits zero (did you mean " + masked.str() + "?)");
  }
  return p;
}

Result<bool> parse_bool(std::string_view text) {
  static constexpr std::array<std::string_view, 4> kTrue = {"yes", "true", "on", "1"};
  static constexpr std::array<std::string_view, 4> kFalse = {"no", "false", "off", "0"};
  if (std::find(kTrue.begin(), kTrue.end(), text) != kTrue.end()) return true;
  if (std::find(kFalse.begin(), kFalse.end(), text) != kFalse.end()) return false;
  return invalid(text, "yes or no");
}

Result<uint32_t> parse_uint(std::string_view text, uint32_t min, uint32_t max) {
  uint64_t v = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size() || v < min || v > max) {
    return invalid(text, "a whole number from " + std::to_string(min) + " to " + std::to_string(max));
  }
  return static_cast<uint32_t>(v);
}

Result<PortRange> parse_port_range(std::string_view text) {
  const size_t dash = text.find('-');
  auto first = parse_uint(text.substr(0, dash), 1, 65535);
  auto last = dash == std::string_view::npos ? first : parse_uint(text.substr(dash + 1), 1, 65535);
  if (!first || !last || *last < *first) return invalid(text, "a port (1-65535) or a range such as 8000-8080");
  return PortRange{static_cast<uint16_t>(*first), static_cast<uint16_t>(*last)};
}

Result<uint8_t> parse_protocol(std::string_view text) {
  static constexpr std::pair<std::string_view, uint8_t> kNames[] = {
      {"any", 0}, {"icmp", 1}, {"tcp", 6}, {"udp", 17}, {"gre", 47}, {"esp", 50}, {"icmpv6", 58}, {"sctp", 132}};
  for (const auto& [name, number] : kNames) {
    if (name == text) return number;
  }
  auto n = parse_uint(text, 0, 255);
  if (!n) return invalid(text, "tcp, udp, icmp, icmpv6, gre, esp, sctp, any or a protocol number 0-255");
  return static_cast<uint8_t>(*n);
}

Result<Identity> parse_identity(std::string_view text) {
  if (text.empty()) return invalid(text, "an IKE identity (user@example.com, host.example.com, an address, keyid:..., dn:...)");
  if (text.rfind("keyid:", 0) == 0 && text.size() > 6) return Identity{IdType::key_id, std::string(text.substr(6))};
  if (text.rfind("dn:", 0) == 0) {  // a distinguished name, e.g. dn:CN=pop1.example.net, O=Example
    const std::string_view dn = text.substr(3);
    const bool rdns_ok = !dn.empty() && dn.find('=') != std::string_view::npos && dn.front() != ',' && dn.back() != ',' &&
                         dn.find(",,") == std::string_view::npos;
    if (!rdns_ok) return invalid(text, "a distinguished name such as dn:CN=pop1.example.net, O=Example");
    return Identity{IdType::der_asn1_dn, std::string(dn)};
  }
  Prefix p;
  if (parse_address(text, p)) return Identity{p.family == AF_INET ? IdType::ipv4 : IdType::ipv6, std::string(text)};
  const bool ok_chars = std::all_of(text.begin(), text.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || std::strchr("-._@+", c) != nullptr;
  });
  if (!ok_chars) return invalid(text, "an IKE identity (user@example.com, host.example.com, an address, keyid:...)");
  const size_t at = text.find('@');
  if (at != std::string_view::npos) {
    if (at == 0 || at + 1 == text.size() || text.find('@', at + 1) != std::string_view::npos) {
      return invalid(text, "an e-mail style identity such as site1@example.com");
    }
    return Identity{IdType::rfc822, std::string(text)};
  }
  return Identity{IdType::fqdn, std::string(text)};
}

Status validate_proposal(std::string_view proposal, ProposalKind kind) {
  // The IKE engine's own parser: what it accepts here, a tunnel can negotiate.
  auto parsed = ike::parse_proposal(proposal, kind == ProposalKind::ike ? ike::ProposalKind::ike : ike::ProposalKind::esp);
  if (!parsed) return parsed.error();
  return {};
}

}  // namespace sedge::config
