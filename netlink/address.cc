#include "netlink/address.h"

#include <arpa/inet.h>

#include <charconv>
#include <cstring>

namespace sedge::netlink {

Result<IpAddress> IpAddress::parse(std::string_view text) {
  std::string s(text);
  IpAddress a;
  if (inet_pton(AF_INET, s.c_str(), a.bytes.data()) == 1) {
    a.family = AF_INET;
    return a;
  }
  if (inet_pton(AF_INET6, s.c_str(), a.bytes.data()) == 1) {
    a.family = AF_INET6;
    return a;
  }
  return Error{"'" + s + "' is not an IPv4 or IPv6 address", EINVAL};
}

IpAddress IpAddress::any(int family) {
  IpAddress a;
  a.family = family;
  return a;
}

IpAddress IpAddress::v4(uint32_t host_order) {
  IpAddress a;
  a.family = AF_INET;
  uint32_t n = htonl(host_order);
  std::memcpy(a.bytes.data(), &n, 4);
  return a;
}

std::string IpAddress::to_string() const {
  if (!is_set()) return "(unset)";
  char buf[INET6_ADDRSTRLEN] = {};
  inet_ntop(family, bytes.data(), buf, sizeof buf);
  return buf;
}

namespace {

Result<IpPrefix> parse_prefix(std::string_view text, bool allow_host_bits) {
  auto slash = text.find('/');
  auto address = IpAddress::parse(text.substr(0, slash));
  if (!address) return address.error();
  IpPrefix p{*address, address->max_prefix()};
  if (slash != std::string_view::npos) {
    auto len_text = text.substr(slash + 1);
    unsigned len = 0;
    auto [end, ec] = std::from_chars(len_text.data(), len_text.data() + len_text.size(), len);
    if (ec != std::errc() || end != len_text.data() + len_text.size() || len_text.empty() ||
        len > p.address.max_prefix()) {
      return Error{"'" + std::string(text) + "': bad prefix length", EINVAL};
    }
    p.length = static_cast<uint8_t>(len);
  }
  // Host bits must be zero: the kernel would silently mask them, hiding a config mistake.
  for (size_t bit = p.length; !allow_host_bits && bit < p.address.size() * 8; ++bit) {
    if (p.address.bytes[bit / 8] & (0x80 >> (bit % 8))) {
      return Error{"'" + std::string(text) + "': host bits set beyond /" +
                       std::to_string(p.length),
                   EINVAL};
    }
  }
  return p;
}

}  // namespace

Result<IpPrefix> IpPrefix::parse(std::string_view text) { return parse_prefix(text, false); }

Result<IpPrefix> IpPrefix::parse_interface(std::string_view text) {
  return parse_prefix(text, true);
}

std::string IpPrefix::to_string() const {
  return address.to_string() + "/" + std::to_string(length);
}

}  // namespace sedge::netlink
