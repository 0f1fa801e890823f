#include "common/result.h"

#include <gtest/gtest.h>

namespace sedge {
namespace {

Result<int> parse_positive(int v) {
  if (v <= 0) return Error{"value must be positive", EINVAL};
  return v;
}

TEST(Result, CarriesValueOrError) {
  auto good = parse_positive(3);
  ASSERT_TRUE(good.ok());
  EXPECT_EQ(*good, 3);
  auto bad = parse_positive(-1);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code, EINVAL);
  EXPECT_EQ(bad.error().context("tunnel pop1").message, "tunnel pop1: value must be positive");
}

TEST(Result, VoidStatus) {
  Status s;
  EXPECT_TRUE(s.ok());
  Status f = Error::sys("opening netlink socket", EPERM);
  EXPECT_FALSE(f.ok());
  EXPECT_EQ(f.error().code, EPERM);
}

}  // namespace
}  // namespace sedge
