// An IP address with a UDP port, IPv4 or IPv6, as a plain value: what the engine keeps of its
// own and its peers' endpoints, and what the socket layer hands it with each datagram.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace sedge::ike {

struct Address {
  sa_family_t family = AF_INET;  // AF_INET or AF_INET6
  std::array<uint8_t, 16> ip{};  // IPv4: the first 4 bytes
  uint16_t port = 0;             // host order

  static std::optional<Address> parse(std::string_view ip, uint16_t port = 0);  // "192.0.2.1", "2001:db8::1"
  static std::optional<Address> from_sockaddr(const sockaddr* sa, socklen_t len);
  static Address any(sa_family_t family, uint16_t port);  // 0.0.0.0 or ::
  bool ipv6() const { return family == AF_INET6; }
  std::span<const uint8_t> ip_bytes() const { return {ip.data(), ipv6() ? 16u : 4u}; }
  bool is_any() const;
  Address with_port(uint16_t p) const {
    Address a = *this;
    a.port = p;
    return a;
  }
  bool same_ip(const Address& o) const { return family == o.family && ip == o.ip; }
  socklen_t to_sockaddr(sockaddr_storage& out) const;
  std::string ip_string() const;  // "192.0.2.1", "2001:db8::1"
  std::string to_string() const;  // strongSwan's form: "192.0.2.1[500]", "2001:db8::1[4500]"
  friend bool operator==(const Address&, const Address&) = default;
  friend auto operator<=>(const Address&, const Address&) = default;
};

}  // namespace sedge::ike
