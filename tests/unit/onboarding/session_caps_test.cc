// The conductor's admission of a new connection (session_refusal): within both caps it is
// served; at the total cap or at its address's cap it is refused, with a reason that names the
// cap and the option that sets it.
#include <gtest/gtest.h>

#include "onboarding/conductor/conductor.h"

namespace sedge::conductor {
namespace {

ConductorOptions caps(size_t total, size_t per_address) {
  ConductorOptions o;
  o.max_sessions = total;
  o.max_sessions_per_address = per_address;
  return o;
}

TEST(SessionCaps, WithinBothCapsIsServed) {
  EXPECT_EQ(session_refusal(caps(12, 4), 0, 0), "");
  EXPECT_EQ(session_refusal(caps(12, 4), 11, 3), "");
}

TEST(SessionCaps, TheAddressCapRefuses) {
  const std::string why = session_refusal(caps(12, 4), 4, 4);
  EXPECT_EQ(why, "4 sessions from this address, the cap (--max-sessions-per-address 4)");
}

TEST(SessionCaps, TheTotalCapRefusesWhateverTheAddress) {
  EXPECT_EQ(session_refusal(caps(12, 4), 12, 0), "12 sessions at once, the cap (--max-sessions 12)");
  // Both reached: the total cap is the reason given.
  EXPECT_EQ(session_refusal(caps(12, 4), 12, 4), "12 sessions at once, the cap (--max-sessions 12)");
}

TEST(SessionCaps, DefaultsAreBounded) {
  const ConductorOptions o;
  EXPECT_GT(o.max_sessions, o.max_sessions_per_address);
  EXPECT_EQ(session_refusal(o, o.max_sessions - 1, o.max_sessions_per_address - 1), "");
  EXPECT_NE(session_refusal(o, o.max_sessions, 0), "");
  EXPECT_NE(session_refusal(o, 0, o.max_sessions_per_address), "");
  EXPECT_GT(o.handshake_timeout_seconds, 0);
}

}  // namespace
}  // namespace sedge::conductor
