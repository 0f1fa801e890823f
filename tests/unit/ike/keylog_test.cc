// The key log's lines, in the layout Wireshark's IKEv2 and ESP decryption tables read (the lab
// test sedge_to_strongswan has tshark decrypt a real exchange with them).
#include "ike/keylog.h"

#include <gtest/gtest.h>

#include <vector>

namespace sedge::ike {
namespace {

Secret bytes(size_t n, uint8_t first) {
  std::vector<uint8_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = static_cast<uint8_t>(first + i);
  return Secret(v);
}

TEST(KeyLog, IkeLineForAesGcm) {
  IkeKeys k;
  k.sk_ei = SkKey(bytes(20, 0x10));
  k.sk_er = SkKey(bytes(20, 0x40));
  EXPECT_EQ(KeyLog::ike_line(0x0123456789abcdefULL, 0xfedcba9876543210ULL, k),
            "0123456789abcdef,fedcba9876543210,101112131415161718191a1b1c1d1e1f20212223,"
            "404142434445464748494a4b4c4d4e4f50515253,\"AES-GCM-128 with 16 octet ICV [RFC5282]\",,,\"NONE [RFC4306]\"\n");
}

TEST(KeyLog, IkeLineForAesCbcWithHmac) {
  IkeKeys k;
  k.sk_ei = SkKey(kEncrAesCbc, bytes(32, 0), kIntegHmacSha384_192, bytes(48, 0x80));
  k.sk_er = SkKey(kEncrAesCbc, bytes(32, 0x20), kIntegHmacSha384_192, bytes(48, 0xb0));
  const std::string line = KeyLog::ike_line(1, 2, k);
  EXPECT_EQ(line.rfind("0000000000000001,0000000000000002,", 0), 0u);
  EXPECT_NE(line.find(",\"AES-CBC-256 [RFC3602]\",808182"), std::string::npos) << line;
  EXPECT_NE(line.find(",\"HMAC_SHA2_384_192 [RFC4868]\"\n"), std::string::npos) << line;
}

TEST(KeyLog, EspLines) {
  Suite gcm;  // the seed profile: AES-GCM-16-128
  EXPECT_EQ(KeyLog::esp_line("198.51.100.2", "192.0.2.2", 0xc0000001, gcm, bytes(20, 1), Secret()),
            "\"IPv4\",\"198.51.100.2\",\"192.0.2.2\",\"0xc0000001\",\"AES-GCM [RFC4106]\","
            "\"0x0102030405060708090a0b0c0d0e0f1011121314\",\"NULL\",\"0x\"\n");
  Suite cbc;
  cbc.esp_encr = kEncrAesCbc;
  cbc.esp_key_bits = 256;
  cbc.esp_integ = kIntegHmacSha512_256;
  const std::string line = KeyLog::esp_line("2001:db8::1", "2001:db8::2", 0x10, cbc, bytes(32, 0), bytes(64, 0));
  EXPECT_EQ(line.rfind("\"IPv6\",\"2001:db8::1\",\"2001:db8::2\",\"0x00000010\",\"AES-CBC [RFC3602]\",\"0x0001", 0), 0u) << line;
  EXPECT_NE(line.find("\"HMAC-SHA-512-256 [RFC4868]\""), std::string::npos) << line;
}

}  // namespace
}  // namespace sedge::ike
