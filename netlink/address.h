// IPv4/IPv6 addresses and prefixes as the kernel's netlink messages carry them.
#pragma once

#include <sys/socket.h>

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/result.h"

namespace sedge::netlink {

// An IPv4 or IPv6 address in network byte order. IPv4 uses the first 4 bytes, as in
// xfrm_address_t. family == AF_UNSPEC means "not set".
struct IpAddress {
  int family = AF_UNSPEC;
  std::array<uint8_t, 16> bytes{};

  static Result<IpAddress> parse(std::string_view text);  // "10.0.0.1", "2001:db8::1"
  static IpAddress any(int family);                       // 0.0.0.0 or ::
  static IpAddress v4(uint32_t host_order);

  bool is_set() const { return family == AF_INET || family == AF_INET6; }
  bool is_v6() const { return family == AF_INET6; }
  size_t size() const { return family == AF_INET6 ? 16 : (family == AF_INET ? 4 : 0); }
  uint8_t max_prefix() const { return family == AF_INET6 ? 128 : 32; }
  std::string to_string() const;
  friend bool operator==(const IpAddress&, const IpAddress&) = default;
};

// address/length, e.g. "10.1.0.0/16" or "::/0". Host bits must be zero.
struct IpPrefix {
  IpAddress address{};
  uint8_t length = 0;

  static Result<IpPrefix> parse(std::string_view text);  // "a/len" or a bare address (host)
  // An interface address with its prefix ("192.0.2.10/24"): host bits allowed.
  static Result<IpPrefix> parse_interface(std::string_view text);
  static IpPrefix any(int family) { return {IpAddress::any(family), 0}; }
  std::string to_string() const;
  friend bool operator==(const IpPrefix&, const IpPrefix&) = default;
};

}  // namespace sedge::netlink
