#include "common/secret.h"

#include <gtest/gtest.h>

namespace sedge {
namespace {

TEST(Secret, MoveLeavesSourceEmptyAndWipeClears) {
  Secret a(std::string_view("Juniper!1"));
  EXPECT_EQ(a.view(), "Juniper!1");
  Secret b(std::move(a));
  EXPECT_TRUE(a.empty());  // NOLINT(bugprone-use-after-move): checking the moved-from state
  EXPECT_EQ(b.size(), 9u);
  Secret c = b.clone();
  b.wipe();
  EXPECT_TRUE(b.empty());
  EXPECT_EQ(c.view(), "Juniper!1");
}

TEST(Secret, ConstantTimeEqual) {
  const uint8_t x[] = {1, 2, 3};
  const uint8_t y[] = {1, 2, 3};
  const uint8_t z[] = {1, 2, 4};
  EXPECT_TRUE(constant_time_equal(x, y));
  EXPECT_FALSE(constant_time_equal(x, z));
  EXPECT_FALSE(constant_time_equal(x, std::span<const uint8_t>(y, 2)));
}

}  // namespace
}  // namespace sedge
