// The active path of one ordered steering profile, from its paths' up/down events: failover at
// once, preemption back to a better path only after a hold-down, and flap damping. Pure: the
// caller passes the time of every event (steady clock) and arms a timer for next_timer(); no
// clock is read here. Weighted profiles have no active path and no selector.
//
// The rule, for paths 0..n-1 in the profile's order (0 is the best):
//
//   Settled: a path is settled when it is up and has been up, without going down, for its
//   hold-down. The hold-down is fixed when the path comes up:
//     hold = preempt_delay * 2^max(0, downs - flap_threshold), at most max_hold_down
//   where `downs` counts the path's up->down transitions in the flap_window before it came up.
//   With the defaults (30 s, 3 downs, 300 s, 10 min): a path that went down 3 times in 5
//   minutes waits 30 s, 4 times 60 s, 5 times 120 s, ... up to 600 s. preempt_delay 0 turns
//   both the hold-down and the damping off (0 doubled is 0). A path that goes down during its
//   hold-down starts over when it comes back (with one more down counted).
//
//   Failover: when the active path goes down, the selector moves at once to the first settled
//   path, or, when no up path has served its hold-down yet, to the first path that is up: any
//   up path is better than a down one.
//
//   Preemption: while the active path is up, the selector moves to an earlier path as soon as
//   that path is settled (next_timer() says when the first one will be); a later path is never
//   preferred to an up active path.
//
//   All paths down: the active path stays where it was (no map write, nothing to move to); the
//   first path that comes up is taken at once (failover). Before any event the active path is
//   path 0.
//
// Repeated reports of the same state are not transitions (the daemon reports a tunnel on every
// state change, up or not); reports at earlier times than the last one are taken as "now".
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <vector>

namespace sedge::steering {

using Clock = std::chrono::steady_clock;
using Time = Clock::time_point;

struct SelectorOptions {
  std::chrono::seconds preempt_delay{30};   // PreemptDelaySec=
  unsigned flap_threshold = 3;              // downs in the window before the hold-down doubles
  std::chrono::seconds flap_window{300};
  std::chrono::seconds max_hold_down{600};  // the doubling stops here (never below preempt_delay)
};

class Selector {
 public:
  enum class Reason { failover, preempt };

  // A move of the active path.
  struct Switch {
    size_t from = 0;
    size_t to = 0;
    Reason reason = Reason::failover;
    std::chrono::seconds hold_down{0};  // the hold-down `to` served (preempt), 0 for failover
    unsigned downs = 0;                 // `to`'s downs in the flap window when it came up
  };

  // `up[i]`: path i's state at `now` (a path up at the start counts as having come up at
  // `now`, so a preempt to it waits for its hold-down too). The active path is the first up
  // path, or path 0 when none is.
  Selector(const std::vector<bool>& up, Time now, SelectorOptions options = {});

  // Path `path` is up or down at `now`; returns the move it causes, if any.
  std::optional<Switch> set_up(size_t path, bool up, Time now);
  // A preempt that has become due at `now` (the caller's timer for next_timer() fired).
  std::optional<Switch> tick(Time now);
  // When the next preempt is due if nothing else happens (nullopt: none pending).
  std::optional<Time> next_timer() const;

  size_t active() const { return active_; }
  size_t size() const { return paths_.size(); }
  bool up(size_t path) const { return paths_.at(path).up; }
  // Whether `path` is up and has served its hold-down at `now`.
  bool settled(size_t path, Time now) const;
  // The hold-down `path` serves for its current up period (0 when down).
  std::chrono::seconds hold_down(size_t path) const;
  const SelectorOptions& options() const { return options_; }

 private:
  struct Path {
    bool up = false;
    Time up_since{};
    std::chrono::seconds hold{0};
    unsigned downs_at_up = 0;
    std::deque<Time> downs;  // up->down transitions, oldest first, within the flap window
  };

  std::optional<Switch> evaluate(Time now);
  std::chrono::seconds hold_for(unsigned downs) const;

  SelectorOptions options_;
  std::vector<Path> paths_;
  size_t active_ = 0;
  Time last_{};
};

const char* to_string(Selector::Reason reason);

}  // namespace sedge::steering
