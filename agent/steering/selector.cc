#include "agent/steering/selector.h"

#include <algorithm>

namespace sedge::steering {

const char* to_string(Selector::Reason reason) {
  switch (reason) {
    case Selector::Reason::failover: return "failover";
    case Selector::Reason::preempt: return "preempt after hold-down";
  }
  return "?";
}

Selector::Selector(const std::vector<bool>& up, Time now, SelectorOptions options) : options_(options), last_(now) {
  paths_.resize(up.size());
  for (size_t i = 0; i < up.size(); ++i) {
    if (!up[i]) continue;
    paths_[i].up = true;
    paths_[i].up_since = now;
    paths_[i].hold = hold_for(0);
  }
  for (size_t i = 0; i < paths_.size(); ++i) {
    if (paths_[i].up) {
      active_ = i;
      break;
    }
  }
}

std::chrono::seconds Selector::hold_for(unsigned downs) const {
  const auto base = options_.preempt_delay;
  if (base.count() <= 0) return std::chrono::seconds{0};
  const auto cap = std::max(options_.max_hold_down, base);
  const unsigned extra = downs > options_.flap_threshold ? downs - options_.flap_threshold : 0;
  auto hold = base;
  for (unsigned i = 0; i < extra && hold < cap; ++i) hold *= 2;
  return std::min(hold, cap);
}

bool Selector::settled(size_t path, Time now) const {
  const Path& p = paths_.at(path);
  return p.up && now - p.up_since >= p.hold;
}

std::chrono::seconds Selector::hold_down(size_t path) const {
  const Path& p = paths_.at(path);
  return p.up ? p.hold : std::chrono::seconds{0};
}

std::optional<Selector::Switch> Selector::set_up(size_t path, bool up, Time now) {
  if (path >= paths_.size()) return std::nullopt;
  now = std::max(now, last_);
  last_ = now;
  Path& p = paths_[path];
  if (p.up != up) {
    p.up = up;
    if (up) {
      while (!p.downs.empty() && now - p.downs.front() > options_.flap_window) p.downs.pop_front();
      p.up_since = now;
      p.downs_at_up = static_cast<unsigned>(p.downs.size());
      p.hold = hold_for(p.downs_at_up);
    } else {
      p.downs.push_back(now);
      while (!p.downs.empty() && now - p.downs.front() > options_.flap_window) p.downs.pop_front();
    }
  }
  return evaluate(now);
}

std::optional<Selector::Switch> Selector::tick(Time now) {
  now = std::max(now, last_);
  last_ = now;
  return evaluate(now);
}

std::optional<Selector::Switch> Selector::evaluate(Time now) {
  size_t to = active_;
  Reason reason = Reason::preempt;
  if (paths_.empty()) return std::nullopt;
  if (paths_[active_].up) {
    for (size_t i = 0; i < active_; ++i) {
      if (settled(i, now)) {
        to = i;
        break;
      }
    }
  } else {
    reason = Reason::failover;
    std::optional<size_t> first_up, first_settled;
    for (size_t i = 0; i < paths_.size(); ++i) {
      if (!first_up && paths_[i].up) first_up = i;
      if (!first_settled && settled(i, now)) first_settled = i;
    }
    if (first_settled) {
      to = *first_settled;
    } else if (first_up) {
      to = *first_up;
    }
  }
  if (to == active_) return std::nullopt;
  Switch s{active_, to, reason, {}, paths_[to].downs_at_up};
  if (reason == Reason::preempt) s.hold_down = paths_[to].hold;
  active_ = to;
  return s;
}

std::optional<Time> Selector::next_timer() const {
  if (paths_.empty() || !paths_[active_].up) return std::nullopt;  // down active: every path is down
  std::optional<Time> next;
  for (size_t i = 0; i < active_; ++i) {
    const Path& p = paths_[i];
    if (!p.up) continue;
    const Time due = p.up_since + p.hold;
    if (!next || due < *next) next = due;
  }
  return next;
}

}  // namespace sedge::steering
