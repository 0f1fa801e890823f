#include "agent/daemon/state.h"

namespace sedge::agent {
namespace {

using nlohmann::json;

json prefixes(const std::vector<config::Prefix>& list) {
  json out = json::array();
  for (const auto& p : list) out.push_back(p.str());
  return out;
}

// A tunnel that no steering profile or remote network uses is not created (Secure Edge
// guides); others wait for the tunnel manager, which reports "up"/"down" once it runs them.
const char* tunnel_state(const config::Tunnel& t) { return t.referenced ? "configured" : "not-created"; }

json tunnel_json(const config::Config& c, const config::Tunnel& t) {
  return {{"name", t.name},
          {"role", config::to_string(t.role)},
          {"wan", t.wan},
          {"remote", t.remote},
          {"local_id", c.local_id_for(t).str()},
          {"remote_id", t.remote_id ? t.remote_id->str() : ""},
          {"psk", t.psk.empty() ? c.connectors.at(t.connector).psk_source.description : t.psk_source.description},
          {"ike_proposals", t.ike_proposals},
          {"esp_proposals", t.esp_proposals},
          {"ike_lifetime_sec", t.ike_lifetime_sec},
          {"child_lifetime_sec", t.child_lifetime_sec},
          {"routing", config::to_string(t.routing)},
          {"remote_networks", prefixes(t.remote_networks)},
          {"state", tunnel_state(t)},
          {"where", t.where.str()}};
}

}  // namespace

std::string AgentState::status_line() const {
  const auto& c = loaded.config;
  size_t active = 0, up = 0;
  for (const auto& [n, t] : c.tunnels) {
    active += t.referenced;
    if (live) {
      const json l = live(n);
      up += !l.is_null() && l.value("state", "") == "up";
    }
  }
  std::string s = std::to_string(c.connectors.size()) + " connector" + (c.connectors.size() == 1 ? "" : "s") + ", " +
                  (live ? std::to_string(up) + " of " + std::to_string(active) + " tunnels up, "
                        : std::to_string(active) + " of " + std::to_string(c.tunnels.size()) + " tunnels configured, ") +
                  std::to_string(c.policies.size()) + " steering polic" + (c.policies.size() == 1 ? "y" : "ies");
  if (!last_reload_error.empty()) s += "; last reload refused";
  return s;
}

json AgentState::describe_connector(const std::string& name) const {
  const auto& c = loaded.config;
  auto it = c.connectors.find(name);
  if (it == c.connectors.end()) return nullptr;
  const auto& k = it->second;
  json tunnels = json::array();
  for (const auto* t : c.tunnels_of(name)) {
    json tj = tunnel_json(c, *t);
    if (live) {
      if (json l = live(t->name); !l.is_null()) tj.update(l);
    }
    tunnels.push_back(std::move(tj));
  }
  return {{"name", name},
          {"provider", config::to_string(k.provider)},
          {"type", config::to_string(k.type)},
          {"mode", config::to_string(k.mode)},
          {"local_id", k.local_id ? k.local_id->str() : ""},
          {"protected_networks", prefixes(k.protected_networks)},
          {"tunnels", tunnels},
          {"where", k.where.str()}};
}

json AgentState::describe() const {
  const auto& c = loaded.config;
  json connectors = json::array();
  for (const auto& [name, k] : c.connectors) connectors.push_back(describe_connector(name));
  json interfaces = json::array();
  for (const auto& [name, i] : c.interfaces) {
    interfaces.push_back({{"name", name}, {"device", i.device}, {"role", config::to_string(i.role)},
                          {"networks", prefixes(i.networks)}});
  }
  json profiles = json::array();
  for (const auto& [name, p] : c.profiles) {
    json paths = json::array();
    for (const auto& path : p.paths) paths.push_back({{"target", path.target}, {"weight", path.weight}});
    profiles.push_back({{"name", name}, {"strategy", config::to_string(p.strategy)}, {"paths", paths}});
  }
  json policies = json::array();
  for (const auto* p : c.ordered_policies()) {
    policies.push_back({{"name", p->name}, {"order", p->order}, {"sources", p->sources},
                        {"applications", p->applications}, {"action", config::to_string(p->action)},
                        {"profile", p->profile}});
  }
  json applications = json::array();
  for (const auto& [name, a] : c.applications) {
    json ports = json::array();
    for (const auto& r : a.ports) ports.push_back(r.first == r.last ? std::to_string(r.first)
                                                                    : std::to_string(r.first) + "-" + std::to_string(r.last));
    applications.push_back({{"name", name}, {"destinations", prefixes(a.destinations)}, {"protocol", a.protocol},
                            {"ports", ports}});
  }
  json diagnostics = json::array();
  for (const auto& d : loaded.diagnostics) diagnostics.push_back(d.str());
  json out = {{"status", status_line()},
              {"config", {{"files", c.files}, {"loaded_at_usec", loaded_at_usec}, {"diagnostics", diagnostics},
                          {"last_reload_error", last_reload_error}}},
              {"interfaces", interfaces},
              {"connectors", connectors},
              {"applications", applications},
              {"steering_profiles", profiles},
              {"policies", policies}};
  if (c.onboarding) {
    out["onboarding"] = {{"conductor", c.onboarding->conductor}, {"port", c.onboarding->port},
                         {"management_port", c.onboarding->management_port}};
  }
  return out;
}

}  // namespace sedge::agent
