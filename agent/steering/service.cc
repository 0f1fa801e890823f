#include "agent/steering/service.h"

#include <net/if.h>

#include "common/log.h"

namespace sedge::steering {

Result<std::unique_ptr<Service>> Service::open(netlink::RouteClient& routes, const std::string& pin_dir) {
  auto prog = bpf::SteerProgram::load(pin_dir);
  if (!prog) return prog.error().context("loading the steering classifier");
  return std::unique_ptr<Service>(new Service(routes, std::move(*prog)));
}

bool Service::up(const std::string& path) const {
  if (path.rfind("breakout:", 0) == 0) return true;
  auto it = up_.find(path);
  return it != up_.end() && it->second;
}

Status Service::apply(const config::Config& cfg, const PathResolver& resolve) {
  std::vector<std::string> warnings;
  const auto set = from_config(cfg, [](const std::string& dev) { return if_nametoindex(dev.c_str()); }, warnings);
  auto compiled = compile(set);
  if (!compiled) return compiled.error();
  for (const auto& w : warnings) log::warning("steering: " + w);
  for (const auto& w : compiled->warnings) log::warning("steering: " + w);
  if (auto st = prog_->replace_rules(compiled->tables); !st) return st;
  for (const auto& net : set.networks) {
    if (auto st = prog_->attach(static_cast<int>(net.ifindex)); !st) return st.error().context("attaching to " + net.name);
  }
  compiled_ = std::move(*compiled);
  profile_names_.assign(compiled_.tables.profiles.size(), "");
  for (const auto& [name, id] : compiled_.profile_ids) profile_names_[id] = name;
  std::map<std::string, PathRoute> routes;
  for (uint32_t id = 1; id < compiled_.path_names.size(); ++id) {
    if (auto r = resolve(compiled_.path_names[id])) routes[compiled_.path_names[id]] = *r;
  }
  if (auto st = install_paths(routes_, compiled_, routes, true); !st) return st;
  active_.clear();
  choose_active_paths();
  return {};
}

void Service::set_path_up(const std::string& path, bool is_up, const PathResolver& resolve) {
  const bool was = up(path);
  up_[path] = is_up;
  auto id = compiled_.path_ids.find(path);
  if (id == compiled_.path_ids.end()) return;
  if (is_up) {
    if (auto r = resolve(path)) {
      if (auto st = install_path(routes_, id->second, *r); !st) log::error("steering path " + path + ": " + st.error().message);
    }
  }
  if (auto st = prog_->set_path_healthy(id->second, is_up); !st) log::error("steering path " + path + ": " + st.error().message);
  if (was != is_up) choose_active_paths();
}

// Ordered profiles: the first path that is up (the first path when none is).
void Service::choose_active_paths() {
  for (uint32_t pid = 0; pid < compiled_.tables.profiles.size(); ++pid) {
    const auto& p = compiled_.tables.profiles[pid];
    if (p.npaths == 0 || p.strategy != SEDGE_STEER_ORDERED) continue;
    uint32_t index = 0;
    for (uint32_t i = 0; i < p.npaths; ++i) {
      if (up(compiled_.path_names[p.path_ids[i]])) {
        index = i;
        break;
      }
    }
    auto it = active_.find(pid);
    if (it != active_.end() && it->second == index) continue;
    const std::string from = it == active_.end() ? "" : compiled_.path_names[p.path_ids[it->second]];
    const std::string to = compiled_.path_names[p.path_ids[index]];
    if (auto st = prog_->set_active_path(pid, index); !st) {
      log::error("steering profile " + profile_names_[pid] + ": " + st.error().message);
      continue;
    }
    active_[pid] = index;
    log::notice("steering profile " + profile_names_[pid] + ": active path " + to + (from.empty() ? "" : " (was " + from + ")"),
                {{"STEERING_PROFILE", profile_names_[pid]}, {"STEERING_PATH", to}, {"STEERING_PREVIOUS_PATH", from}});
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
    profiles.push_back({{"name", profile_names_[pid]}, {"paths", paths},
                        {"active", a == active_.end() ? "" : compiled_.path_names[p.path_ids[a->second]]}});
  }
  nlohmann::json rules = nlohmann::json::array();
  for (uint32_t id = 1; id < compiled_.rule_names.size(); ++id) {
    auto counter = prog_->rule_counter(id);
    rules.push_back({{"name", compiled_.rule_names[id]}, {"packets", counter ? counter->packets : 0},
                     {"bytes", counter ? counter->bytes : 0}});
  }
  return {{"profiles", profiles}, {"rules", rules}, {"generation", prog_->generation()}};
}

}  // namespace sedge::steering
