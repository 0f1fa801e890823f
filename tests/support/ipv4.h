// An IPv4 UDP endpoint from its text form, for tests that hand addresses to the IKE library.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cstdint>

namespace sedge::testing {

inline sockaddr_in ipv4_endpoint(const char* ip, uint16_t port = 500) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  inet_pton(AF_INET, ip, &a.sin_addr);
  return a;
}

}  // namespace sedge::testing
