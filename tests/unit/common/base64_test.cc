#include "common/base64.h"

#include <gtest/gtest.h>

namespace sedge {
namespace {

std::vector<uint8_t> bytes(std::string_view s) { return {s.begin(), s.end()}; }

// RFC 4648 section 10 test vectors.
TEST(Base64, Rfc4648Vectors) {
  const std::pair<const char*, const char*> cases[] = {{"", ""},         {"f", "Zg=="},         {"fo", "Zm8="},
                                                        {"foo", "Zm9v"}, {"foob", "Zm9vYg=="}, {"fooba", "Zm9vYmE="},
                                                        {"foobar", "Zm9vYmFy"}};
  for (auto [plain, encoded] : cases) {
    EXPECT_EQ(base64_encode(bytes(plain)), encoded);
    auto back = base64_decode(encoded);
    ASSERT_TRUE(back.ok()) << encoded;
    EXPECT_EQ(*back, bytes(plain));
  }
}

TEST(Base64, UrlFormHasNoPaddingAndSafeAlphabet) {
  std::vector<uint8_t> data = {0xfb, 0xff, 0xbf, 0x01};
  EXPECT_EQ(base64_encode(data), "+/+/AQ==");
  EXPECT_EQ(base64url_encode(data), "-_-_AQ");
  auto back = base64url_decode("-_-_AQ");
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, data);
}

TEST(Base64, MalformedInputIsRefused) {
  for (const char* bad : {"Zg=", "Z===", "Zm9v\n", "Zm 9", "Zg==Zg==", "=Zg=", "Zm9*", "Zh==", "Zm9="}) {
    EXPECT_FALSE(base64_decode(bad).ok()) << bad;
  }
  for (const char* bad : {"a", "ab+c", "ab/c", "ab=="}) {
    EXPECT_FALSE(base64url_decode(bad).ok()) << bad;
  }
}

}  // namespace
}  // namespace sedge
