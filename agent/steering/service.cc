#include "agent/steering/service.h"

#include <net/if.h>

#include <algorithm>

#include "common/log.h"
#include "common/message_ids.h"

namespace sedge::steering {

Result<std::unique_ptr<Service>> Service::open(netlink::RouteClient& routes, const std::string& pin_dir) {
  auto prog = bpf::SteerProgram::load(pin_dir);
  if (!prog) return prog.error().context("loading the steering classifier");
  return std::unique_ptr<Service>(new Service(routes, pin_dir, std::move(*prog)));
}

Status Service::configure_flow_cache(uint32_t size) {
  if (size != 0 && size != prog_->flow_cache_size()) {
    auto prog = bpf::SteerProgram::load(pin_dir_, size);
    if (!prog) return prog.error().context("reloading the steering classifier for SteeringFlowCacheSize=" + std::to_string(size));
    for (int ifindex : attached_) {
      if (auto st = (*prog)->attach(ifindex); !st) return st.error().context("reloading the steering classifier");
    }
    prog_ = std::move(*prog);
  }
  return prog_->set_flow_cache(size != 0);
}

bool Service::up(const std::string& path) const {
  if (path.rfind("breakout:", 0) == 0) return true;
  auto it = up_.find(path);
  return it != up_.end() && it->second;
}

Status Service::apply(const config::Config& cfg, const PathResolver& resolve, Time now) {
  std::vector<std::string> warnings;
  const auto set = from_config(cfg, [](const std::string& dev) { return if_nametoindex(dev.c_str()); }, warnings);
  auto compiled = compile(set);
  if (!compiled) return compiled.error();
  for (const auto& w : warnings) log::warning("steering: " + w);
  for (const auto& w : compiled->warnings) log::warning("steering: " + w);
  if (auto st = configure_flow_cache(cfg.steering_flow_cache_size); !st) return st;
  if (auto st = prog_->replace_rules(compiled->tables); !st) return st;
  for (const auto& net : set.networks) {
    if (auto st = prog_->attach(static_cast<int>(net.ifindex)); !st) return st.error().context("attaching to " + net.name);
    if (std::find(attached_.begin(), attached_.end(), static_cast<int>(net.ifindex)) == attached_.end()) {
      attached_.push_back(static_cast<int>(net.ifindex));
    }
  }
  compiled_ = std::move(*compiled);
  profile_names_.assign(compiled_.tables.profiles.size(), "");
  for (const auto& [name, id] : compiled_.profile_ids) profile_names_[id] = name;
  std::map<std::string, PathRoute> routes;
  for (uint32_t id = 1; id < compiled_.path_names.size(); ++id) {
    if (auto r = resolve(compiled_.path_names[id])) routes[compiled_.path_names[id]] = *r;
  }
  if (auto st = install_paths(routes_, compiled_, routes, true); !st) return st;
  // One selector per ordered profile; kept across a reload when nothing of it changed.
  std::map<std::string, Ordered> previous;
  for (auto& [pid, o] : ordered_) previous.emplace(o.name, std::move(o));
  ordered_.clear();
  for (uint32_t pid = 0; pid < compiled_.tables.profiles.size(); ++pid) {
    const auto& p = compiled_.tables.profiles[pid];
    if (p.npaths == 0 || p.strategy != SEDGE_STEER_ORDERED || profile_names_[pid].empty()) continue;
    std::vector<std::string> paths;
    std::vector<bool> states;
    for (uint32_t i = 0; i < p.npaths; ++i) {
      paths.push_back(compiled_.path_names[p.path_ids[i]]);
      states.push_back(up(paths.back()));
    }
    SelectorOptions options;
    if (auto c = cfg.profiles.find(profile_names_[pid]); c != cfg.profiles.end()) {
      options.preempt_delay = std::chrono::seconds(c->second.preempt_delay_sec);
    }
    auto old = previous.find(profile_names_[pid]);
    if (old != previous.end() && old->second.paths == paths && old->second.selector.options().preempt_delay == options.preempt_delay) {
      ordered_.emplace(pid, std::move(old->second));
    } else {
      ordered_.emplace(pid, Ordered{profile_names_[pid], paths, Selector(states, now, options), std::nullopt});
    }
    ordered_.at(pid).move.reset();
  }
  active_.clear();  // profile ids may have changed: every active path is written again
  write_active_paths();
  return {};
}

void Service::set_path_up(const std::string& path, bool is_up, const PathResolver& resolve, Time now) {
  up_[path] = is_up;
  auto id = compiled_.path_ids.find(path);
  if (id == compiled_.path_ids.end()) return;
  if (is_up) {
    if (auto r = resolve(path)) {
      if (auto st = install_path(routes_, id->second, *r); !st) log::error("steering path " + path + ": " + st.error().message);
    }
  }
  if (auto st = prog_->set_path_healthy(id->second, is_up); !st) log::error("steering path " + path + ": " + st.error().message);
  const bool effective = up(path);  // a breakout path stays up
  for (auto& [pid, o] : ordered_) {
    for (size_t i = 0; i < o.paths.size(); ++i) {
      if (o.paths[i] != path) continue;
      if (auto s = o.selector.set_up(i, effective, now)) o.move = s;
    }
  }
  write_active_paths();
}

void Service::tick(Time now) {
  for (auto& [pid, o] : ordered_) {
    if (auto s = o.selector.tick(now)) o.move = s;
  }
  write_active_paths();
}

std::optional<Time> Service::next_timer() const {
  std::optional<Time> next;
  for (const auto& [pid, o] : ordered_) {
    if (auto t = o.selector.next_timer(); t && (!next || *t < *next)) next = t;
  }
  return next;
}

// One map write per ordered profile whose selector moved (or that has not been written since
// the configuration was applied); a failed write is tried again at the next event.
void Service::write_active_paths() {
  for (const auto& [pid, o] : ordered_) {
    const auto index = static_cast<uint32_t>(o.selector.active());
    auto it = active_.find(pid);
    if (it != active_.end() && it->second == index) continue;
    const std::string from = it == active_.end() ? "" : o.paths[it->second];
    const std::string& to = o.paths[index];
    if (auto st = prog_->set_active_path(pid, index); !st) {
      log::error("steering profile " + o.name + ": " + st.error().message);
      continue;
    }
    active_[pid] = index;
    const char* reason = !o.move ? "configuration" : o.move->reason == Selector::Reason::failover ? "failover" : "preempt";
    if (o.move && o.move->reason == Selector::Reason::failover) ++failovers_[o.name];
    std::string why = reason;
    if (o.move && o.move->reason == Selector::Reason::failover && !from.empty()) why += ", " + from + " is down";
    if (o.move && o.move->reason == Selector::Reason::preempt) {
      why += " after a hold-down of " + std::to_string(o.move->hold_down.count()) + " s";
      if (o.move->hold_down > o.selector.options().preempt_delay) {
        why += " (damped: " + std::to_string(o.move->downs) + " downs in " + std::to_string(o.selector.options().flap_window.count()) + " s)";
      }
    }
    log::notice(log::kSteeringFailover, "steering profile " + o.name + ": active path " + to + (from.empty() ? "" : " (was " + from + ")") + ": " + why,
                {{"STEERING_PROFILE", o.name}, {"STEERING_PATH", to}, {"STEERING_PREVIOUS_PATH", from},
                 {"STEERING_REASON", reason}});
  }
}

nlohmann::json Service::describe() const {
  nlohmann::json profiles = nlohmann::json::array();
  for (uint32_t pid = 0; pid < compiled_.tables.profiles.size(); ++pid) {
    const auto& p = compiled_.tables.profiles[pid];
    if (profile_names_[pid].empty()) continue;
    nlohmann::json paths = nlohmann::json::array();
    for (uint32_t i = 0; i < p.npaths; ++i) {
      const std::string& name = compiled_.path_names[p.path_ids[i]];
      auto counter = prog_->path_counter(p.path_ids[i]);
      paths.push_back({{"name", name}, {"up", up(name)}, {"weight", p.weights[i]},
                       {"packets", counter ? counter->packets : 0}, {"bytes", counter ? counter->bytes : 0}});
    }
    auto a = active_.find(pid);
    const auto failovers = failovers_.find(profile_names_[pid]);
    nlohmann::json profile = {{"name", profile_names_[pid]}, {"paths", paths},
                              {"active", a == active_.end() ? "" : compiled_.path_names[p.path_ids[a->second]]},
                              {"failovers", failovers == failovers_.end() ? 0 : failovers->second}};
    if (auto o = ordered_.find(pid); o != ordered_.end()) {
      profile["preempt_delay_sec"] = o->second.selector.options().preempt_delay.count();
      for (size_t i = 0; i < o->second.paths.size() && i < paths.size(); ++i) {
        profile["paths"][i]["hold_down_sec"] = o->second.selector.hold_down(i).count();
      }
    }
    profiles.push_back(std::move(profile));
  }
  nlohmann::json rules = nlohmann::json::array();
  for (uint32_t id = 1; id < compiled_.rule_names.size(); ++id) {
    auto counter = prog_->rule_counter(id);
    rules.push_back({{"name", compiled_.rule_names[id]}, {"packets", counter ? counter->packets : 0},
                     {"bytes", counter ? counter->bytes : 0}});
  }
  const uint64_t size = prog_->flow_cache_size();
  nlohmann::json cache = {{"enabled", prog_->flow_cache()}, {"size", size}};
  if (auto f = prog_->flow_stats()) {
    // Each insert beyond the size evicted an entry (a lower bound: the LRU may evict earlier).
    const uint64_t evictions = f->inserts > size ? f->inserts - size : 0;
    cache.update({{"hits", f->hits}, {"misses", f->misses}, {"stale", f->stale}, {"inserts", f->inserts},
                  {"evictions_estimate", evictions}});
  }
  return {{"profiles", profiles}, {"rules", rules}, {"generation", prog_->generation()}, {"flow_cache", cache}};
}

void Service::shutdown() {
  for (int ifindex : attached_) (void)prog_->detach(ifindex);
  attached_.clear();
  for (uint32_t id = 1; id < compiled_.path_names.size(); ++id) {
    if (auto st = remove_path(routes_, id); !st) log::warning("steering path " + compiled_.path_names[id] + ": " + st.error().message);
  }
}

}  // namespace sedge::steering
