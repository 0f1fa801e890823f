// Parsers for single configuration values; each error says what form was expected.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "agent/config/model.h"
#include "common/result.h"

namespace sedge::config {

Result<Prefix> parse_prefix(std::string_view text);  // "10.99.99.0/24", "2001:db8::/32", bare address = host
Result<bool> parse_bool(std::string_view text);      // yes/no, true/false, on/off, 1/0
Result<uint32_t> parse_uint(std::string_view text, uint32_t min, uint32_t max);
Result<PortRange> parse_port_range(std::string_view text);  // "443" or "8000-8080"
Result<uint8_t> parse_protocol(std::string_view text);      // tcp, udp, icmp, icmpv6, any, 0..255
Result<Identity> parse_identity(std::string_view text);     // email, FQDN, IPv4/6, keyid:<hex or text>

enum class ProposalKind { ike, esp };
// Checks a strongSwan-syntax proposal against the algorithms sedge implements (ike/proposal.h).
Status validate_proposal(std::string_view proposal, ProposalKind kind);

}  // namespace sedge::config
