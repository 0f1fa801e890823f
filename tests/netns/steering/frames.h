// Crafted Ethernet frames for BPF_PROG_TEST_RUN: just the headers the classifier reads.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

namespace sedge::steering::testing {

struct FrameSpec {
  std::string src, dst;  // IPv4 or IPv6 literals
  uint8_t proto = IPPROTO_TCP;
  uint16_t dport = 0;
  uint16_t vlan = 0;        // 802.1Q tag when non-zero
  uint16_t frag_offset = 0; // IPv4 fragment offset (8-byte units); IPv6 adds a fragment header
  bool ipv6_frag_header = false;
};

inline void put16(std::vector<uint8_t>& f, uint16_t v) {
  f.push_back(static_cast<uint8_t>(v >> 8));
  f.push_back(static_cast<uint8_t>(v));
}

inline std::vector<uint8_t> frame(const FrameSpec& s) {
  std::vector<uint8_t> f(12, 0x02);  // destination and source MAC
  const bool v6 = s.src.find(':') != std::string::npos;
  if (s.vlan) {
    put16(f, 0x8100);
    put16(f, s.vlan);
  }
  put16(f, v6 ? 0x86dd : 0x0800);
  const size_t l4_len = 20;
  if (!v6) {
    f.insert(f.end(), {0x45, 0, 0, static_cast<uint8_t>(20 + l4_len), 0, 1});
    put16(f, s.frag_offset);
    f.insert(f.end(), {64, s.proto, 0, 0});
    uint8_t a[4];
    inet_pton(AF_INET, s.src.c_str(), a);
    f.insert(f.end(), a, a + 4);
    inet_pton(AF_INET, s.dst.c_str(), a);
    f.insert(f.end(), a, a + 4);
  } else {
    f.insert(f.end(), {0x60, 0, 0, 0});
    put16(f, static_cast<uint16_t>(l4_len + (s.ipv6_frag_header ? 8 : 0)));
    f.push_back(s.ipv6_frag_header ? static_cast<uint8_t>(IPPROTO_FRAGMENT) : s.proto);
    f.push_back(64);
    uint8_t a[16];
    inet_pton(AF_INET6, s.src.c_str(), a);
    f.insert(f.end(), a, a + 16);
    inet_pton(AF_INET6, s.dst.c_str(), a);
    f.insert(f.end(), a, a + 16);
    if (s.ipv6_frag_header) {
      f.insert(f.end(), {s.proto, 0});
      put16(f, static_cast<uint16_t>(s.frag_offset << 3));
      f.insert(f.end(), {0, 0, 0, 1});
    }
  }
  put16(f, 40000);  // source port
  put16(f, s.dport);
  f.resize(f.size() + l4_len - 4, 0);
  return f;
}

}  // namespace sedge::steering::testing
