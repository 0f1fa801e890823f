// Config -> PolicySet (header-only: the ifindex resolver is the caller's).
#pragma once

namespace sedge::steering {

template <typename Resolve>
PolicySet from_config(const config::Config& cfg, Resolve ifindex_of, std::vector<std::string>& warnings) {
  PolicySet set;
  for (const auto& [name, iface] : cfg.interfaces) {
    if (iface.role != config::InterfaceRole::lan) continue;
    const uint32_t ifindex = ifindex_of(iface.device);
    if (ifindex == 0) {
      warnings.push_back("Interface " + name + ": device " + iface.device + " does not exist; not steered");
      continue;
    }
    set.networks.push_back({name, ifindex, Action::breakout, ""});
  }
  for (const config::Policy* p : cfg.ordered_policies()) {
    const Action action = p->action == config::PolicyAction::steer      ? Action::steer
                          : p->action == config::PolicyAction::breakout ? Action::breakout
                                                                        : Action::deny;
    auto rule_for = [&](const std::string& name) {
      Rule r;
      r.name = name;
      r.networks = p->sources;
      r.sources = p->source_prefixes;
      r.action = action;
      r.profile = p->profile;
      return r;
    };
    if (p->applications.empty()) {
      set.rules.push_back(rule_for(p->name));
      continue;
    }
    for (const auto& app_name : p->applications) {  // one rule per application, in order
      const auto& app = cfg.applications.at(app_name);
      Rule r = rule_for(p->name + "/" + app_name);
      r.destinations = app.destinations;
      r.protocol = app.protocol;
      r.ports = app.ports;
      set.rules.push_back(std::move(r));
    }
  }
  for (const auto& [name, prof] : cfg.profiles) {
    Profile out{name, prof.strategy, {}};
    for (const auto& path : prof.paths) {
      // A connector is its tunnels, primary first: each is a path of its own, so that the
      // profile can move from one to the other.
      const auto tunnels = cfg.connectors.count(path.target) ? cfg.tunnels_of(path.target) : std::vector<const config::Tunnel*>{};
      if (tunnels.empty()) out.paths.push_back({path.target, path.weight});
      for (const config::Tunnel* t : tunnels) out.paths.push_back({t->name, path.weight});
    }
    set.profiles.push_back(std::move(out));
  }
  return set;
}

}  // namespace sedge::steering
