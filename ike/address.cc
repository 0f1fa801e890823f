#include "ike/address.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cstring>

namespace sedge::ike {

std::optional<Address> Address::parse(std::string_view text, uint16_t port) {
  const std::string s(text);
  Address a;
  a.port = port;
  if (inet_pton(AF_INET, s.c_str(), a.ip.data()) == 1) return a;
  a.family = AF_INET6;
  if (inet_pton(AF_INET6, s.c_str(), a.ip.data()) == 1) return a;
  return std::nullopt;
}

std::optional<Address> Address::from_sockaddr(const sockaddr* sa, socklen_t len) {
  Address a;
  if (sa->sa_family == AF_INET && len >= sizeof(sockaddr_in)) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(sa);
    std::memcpy(a.ip.data(), &in->sin_addr, 4);
    a.port = ntohs(in->sin_port);
    return a;
  }
  if (sa->sa_family == AF_INET6 && len >= sizeof(sockaddr_in6)) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(sa);
    a.family = AF_INET6;
    std::memcpy(a.ip.data(), &in6->sin6_addr, 16);
    a.port = ntohs(in6->sin6_port);
    return a;
  }
  return std::nullopt;
}

Address Address::any(sa_family_t family, uint16_t port) {
  Address a;
  a.family = family;
  a.port = port;
  return a;
}

bool Address::is_any() const {
  const auto b = ip_bytes();
  return std::all_of(b.begin(), b.end(), [](uint8_t x) { return x == 0; });
}

socklen_t Address::to_sockaddr(sockaddr_storage& out) const {
  out = {};
  if (ipv6()) {
    auto* in6 = reinterpret_cast<sockaddr_in6*>(&out);
    in6->sin6_family = AF_INET6;
    std::memcpy(&in6->sin6_addr, ip.data(), 16);
    in6->sin6_port = htons(port);
    return sizeof(sockaddr_in6);
  }
  auto* in = reinterpret_cast<sockaddr_in*>(&out);
  in->sin_family = AF_INET;
  std::memcpy(&in->sin_addr, ip.data(), 4);
  in->sin_port = htons(port);
  return sizeof(sockaddr_in);
}

std::string Address::ip_string() const {
  char b[INET6_ADDRSTRLEN] = {};
  inet_ntop(family, ip.data(), b, sizeof b);
  return b;
}

std::string Address::to_string() const { return ip_string() + "[" + std::to_string(port) + "]"; }

}  // namespace sedge::ike
