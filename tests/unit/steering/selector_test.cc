// The ordered profile's path selector on a fake clock: failover at once, preemption after the
// hold-down, a flap restarting it, damping of a flapping path, and all paths down.
#include "agent/steering/selector.h"

#include <gtest/gtest.h>

namespace sedge::steering {
namespace {

using std::chrono::seconds;

class FakeClock {
 public:
  Time now() const { return t_; }
  void advance(seconds s) { t_ += s; }

 private:
  Time t_ = Time{} + std::chrono::hours(1);
};

// Three paths (primary, secondary, breakout), all up at the start.
struct SelectorTest : ::testing::Test {
  FakeClock clock;
  Selector sel{{true, true, true}, clock.now()};

  std::optional<Selector::Switch> down(size_t p) { return sel.set_up(p, false, clock.now()); }
  std::optional<Selector::Switch> up(size_t p) { return sel.set_up(p, true, clock.now()); }
  std::optional<Selector::Switch> after(seconds s) {
    clock.advance(s);
    return sel.tick(clock.now());
  }
};

TEST_F(SelectorTest, StartsOnTheFirstUpPath) {
  EXPECT_EQ(sel.active(), 0u);
  EXPECT_EQ(sel.next_timer(), std::nullopt);
  Selector later({false, true, true}, clock.now());
  EXPECT_EQ(later.active(), 1u);
  Selector none({false, false}, clock.now());
  EXPECT_EQ(none.active(), 0u);
  EXPECT_EQ(none.next_timer(), std::nullopt);
}

TEST_F(SelectorTest, FailoverIsImmediate) {
  auto s = down(0);
  ASSERT_TRUE(s);
  EXPECT_EQ(s->from, 0u);
  EXPECT_EQ(s->to, 1u);
  EXPECT_EQ(s->reason, Selector::Reason::failover);
  EXPECT_EQ(sel.active(), 1u);
  s = down(1);
  ASSERT_TRUE(s);
  EXPECT_EQ(s->to, 2u);
  EXPECT_EQ(s->reason, Selector::Reason::failover);
}

TEST_F(SelectorTest, DownOfAnInactivePathMovesNothing) {
  EXPECT_FALSE(down(1));
  EXPECT_EQ(sel.active(), 0u);
  EXPECT_FALSE(up(1));
  EXPECT_EQ(sel.active(), 0u);
  EXPECT_EQ(sel.next_timer(), std::nullopt) << "a later path is never preempted to";
}

TEST_F(SelectorTest, RepeatedReportsAreNotTransitions) {
  EXPECT_FALSE(up(0));
  ASSERT_TRUE(down(0));
  EXPECT_FALSE(down(0));
  clock.advance(seconds(10));
  EXPECT_FALSE(up(0));
  const Time due = *sel.next_timer();
  clock.advance(seconds(10));
  EXPECT_FALSE(up(0)) << "still up: the hold-down does not restart";
  EXPECT_EQ(*sel.next_timer(), due);
}

TEST_F(SelectorTest, NoPreemptBeforeTheHoldDownThenPreemptAfterIt) {
  ASSERT_TRUE(down(0));
  clock.advance(seconds(5));
  EXPECT_FALSE(up(0));
  EXPECT_EQ(sel.active(), 1u);
  EXPECT_EQ(sel.next_timer(), clock.now() + seconds(30));
  EXPECT_FALSE(after(seconds(29)));
  EXPECT_EQ(sel.active(), 1u);
  auto s = after(seconds(1));
  ASSERT_TRUE(s);
  EXPECT_EQ(s->from, 1u);
  EXPECT_EQ(s->to, 0u);
  EXPECT_EQ(s->reason, Selector::Reason::preempt);
  EXPECT_EQ(s->hold_down, seconds(30));
  EXPECT_EQ(sel.active(), 0u);
  EXPECT_EQ(sel.next_timer(), std::nullopt);
}

TEST_F(SelectorTest, AFlapDuringTheHoldDownRestartsIt) {
  ASSERT_TRUE(down(0));
  EXPECT_FALSE(up(0));
  EXPECT_FALSE(after(seconds(20)));
  EXPECT_FALSE(down(0));
  EXPECT_EQ(sel.next_timer(), std::nullopt) << "nothing pending while the better path is down";
  EXPECT_FALSE(after(seconds(5)));
  EXPECT_FALSE(up(0));
  EXPECT_EQ(sel.next_timer(), clock.now() + seconds(30));
  EXPECT_FALSE(after(seconds(29))) << "54 s after it first came back, but only 29 s of its second up";
  auto s = after(seconds(1));
  ASSERT_TRUE(s);
  EXPECT_EQ(s->to, 0u);
  EXPECT_EQ(s->hold_down, seconds(30)) << "two downs: not damped yet";
  EXPECT_EQ(s->downs, 2u);
}

TEST_F(SelectorTest, ZeroDelayPreemptsAtOnce) {
  SelectorOptions immediate;
  immediate.preempt_delay = seconds(0);
  Selector z({true, true}, clock.now(), immediate);
  ASSERT_TRUE(z.set_up(0, false, clock.now()));
  auto s = z.set_up(0, true, clock.now());
  ASSERT_TRUE(s);
  EXPECT_EQ(s->to, 0u);
  EXPECT_EQ(s->reason, Selector::Reason::preempt);
  for (int i = 0; i < 10; ++i) {  // no damping with no hold-down to double
    ASSERT_TRUE(z.set_up(0, false, clock.now()));
    ASSERT_TRUE(z.set_up(0, true, clock.now()));
  }
}

TEST_F(SelectorTest, RepeatedFlapsDoubleTheHoldDown) {
  // Downs 1..3 within the window: 30 s; the 4th: 60 s, 5th: 120 s, 6th: 240 s, 7th: 480 s,
  // 8th and later: the 600 s cap.
  const seconds expected[] = {seconds(30), seconds(30), seconds(30), seconds(60), seconds(120),
                              seconds(240), seconds(480), seconds(600), seconds(600)};
  for (size_t n = 0; n < std::size(expected); ++n) {
    clock.advance(seconds(1));
    down(0);
    clock.advance(seconds(1));
    up(0);
    EXPECT_EQ(sel.hold_down(0), expected[n]) << "after " << n + 1 << " downs";
    EXPECT_EQ(sel.next_timer(), clock.now() + expected[n]);
  }
  EXPECT_EQ(sel.active(), 1u);
  EXPECT_FALSE(after(seconds(599)));
  auto s = after(seconds(1));
  ASSERT_TRUE(s);
  EXPECT_EQ(s->to, 0u);
  EXPECT_EQ(s->hold_down, seconds(600));
  EXPECT_EQ(s->downs, 9u);
}

TEST_F(SelectorTest, DampingWearsOffOutsideTheWindow) {
  for (int n = 0; n < 5; ++n) {
    down(0);
    clock.advance(seconds(1));
    up(0);
    clock.advance(seconds(1));
  }
  EXPECT_EQ(sel.hold_down(0), seconds(120));
  ASSERT_TRUE(after(seconds(120)));
  EXPECT_EQ(sel.active(), 0u);
  clock.advance(seconds(300));  // the five downs leave the window
  ASSERT_TRUE(down(0));
  clock.advance(seconds(1));
  up(0);
  EXPECT_EQ(sel.hold_down(0), seconds(30)) << "one down in the window";
}

TEST_F(SelectorTest, FailoverPrefersASettledPathToAFlappingOne) {
  // Path 1 flaps while 0 is active; then 0 fails: 2 (up for long) is taken rather than 1,
  // which came back 1 s ago; 1 is preempted to once it has served its hold-down.
  ASSERT_FALSE(after(seconds(100)));
  EXPECT_FALSE(down(1));
  clock.advance(seconds(1));
  EXPECT_FALSE(up(1));
  clock.advance(seconds(1));
  auto s = down(0);
  ASSERT_TRUE(s);
  EXPECT_EQ(s->to, 2u);
  EXPECT_EQ(s->reason, Selector::Reason::failover);
  EXPECT_EQ(sel.next_timer(), clock.now() + seconds(29));
  s = after(seconds(29));
  ASSERT_TRUE(s);
  EXPECT_EQ(s->to, 1u);
  EXPECT_EQ(s->reason, Selector::Reason::preempt);
}

TEST_F(SelectorTest, FailoverTakesAnUnsettledPathWhenNoneIsSettled) {
  Selector two({true, false}, clock.now());
  clock.advance(seconds(100));
  EXPECT_FALSE(two.set_up(1, true, clock.now()));
  clock.advance(seconds(1));
  auto s = two.set_up(0, false, clock.now());
  ASSERT_TRUE(s);
  EXPECT_EQ(s->to, 1u) << "an up path in its hold-down is better than a down one";
}

TEST_F(SelectorTest, AllPathsDownKeepTheLastActivePath) {
  ASSERT_TRUE(down(0));
  ASSERT_TRUE(down(1));
  EXPECT_FALSE(down(2));
  EXPECT_EQ(sel.active(), 2u) << "nothing to move to: no map write";
  EXPECT_EQ(sel.next_timer(), std::nullopt);
  clock.advance(seconds(10));
  auto s = up(1);
  ASSERT_TRUE(s) << "the first path back is taken at once";
  EXPECT_EQ(s->to, 1u);
  EXPECT_EQ(s->reason, Selector::Reason::failover);
  EXPECT_FALSE(up(0));
  EXPECT_FALSE(after(seconds(29)));
  s = after(seconds(1));
  ASSERT_TRUE(s);
  EXPECT_EQ(s->to, 0u);
}

TEST_F(SelectorTest, PreemptGoesToTheFirstSettledPath) {
  ASSERT_TRUE(down(0));
  ASSERT_TRUE(down(1));
  EXPECT_EQ(sel.active(), 2u);
  EXPECT_FALSE(up(1));
  clock.advance(seconds(10));
  EXPECT_FALSE(up(0));
  EXPECT_EQ(sel.next_timer(), clock.now() + seconds(20)) << "path 1 is due first";
  auto s = after(seconds(20));
  ASSERT_TRUE(s);
  EXPECT_EQ(s->to, 1u);
  EXPECT_EQ(sel.next_timer(), clock.now() + seconds(10));
  s = after(seconds(10));
  ASSERT_TRUE(s);
  EXPECT_EQ(s->from, 1u);
  EXPECT_EQ(s->to, 0u);
}

TEST_F(SelectorTest, ALateTickPreemptsAtOnce) {
  ASSERT_TRUE(down(0));
  EXPECT_FALSE(up(0));
  auto s = after(seconds(3600));
  ASSERT_TRUE(s);
  EXPECT_EQ(s->to, 0u);
}

TEST_F(SelectorTest, AnEarlierTimeIsTakenAsTheLatest) {
  const Time before = clock.now();
  clock.advance(seconds(100));
  ASSERT_TRUE(down(0));
  EXPECT_FALSE(sel.set_up(0, true, before));
  EXPECT_EQ(sel.next_timer(), clock.now() + seconds(30)) << "up since the latest time seen, not before it";
  EXPECT_FALSE(sel.tick(before + seconds(100)));
}

TEST_F(SelectorTest, OutOfRangePathIsIgnored) {
  EXPECT_FALSE(sel.set_up(7, false, clock.now()));
  EXPECT_EQ(sel.active(), 0u);
}

}  // namespace
}  // namespace sedge::steering
