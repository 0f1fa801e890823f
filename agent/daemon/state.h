// What the daemon runs from: the configuration in force and when it was loaded. Describe()
// renders it as JSON for D-Bus clients (sedgectl), as networkd's Describe does.
#pragma once

#include <functional>

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "agent/config/config.h"

namespace sedge::agent {

struct AgentState {
  config::LoadedConfig loaded;
  uint64_t loaded_at_usec = 0;  // CLOCK_REALTIME
  std::string last_reload_error;
  // The running tunnel's live state (state, SPIs, CHILD_SAs...), null when it does not run;
  // unset when the daemon runs no connectors.
  std::function<nlohmann::json(const std::string& tunnel)> live;

  // One line for systemd's STATUS= and `sedgectl status`.
  std::string status_line() const;
  nlohmann::json describe() const;
  nlohmann::json describe_connector(const std::string& name) const;  // null if unknown
};

}  // namespace sedge::agent
