// Steering as the daemon runs it: the configuration compiled (connector paths expanded to their
// tunnels), the classifier loaded and attached at every LAN, each path's rule and route table
// installed, and the paths' health turned into the active path of every profile by one map
// write: an ordered profile uses its first path that is up, a weighted one skips the paths that
// are down. sedge-steer is the same library without the health.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "agent/config/config.h"
#include "agent/steering/compiler.h"
#include "agent/steering/paths.h"
#include "bpf/steer_loader.h"
#include "netlink/route.h"

namespace sedge::steering {

// Where a path's traffic goes: its device (and gateway), "" when it has none yet.
using PathResolver = std::function<std::optional<PathRoute>(const std::string& path)>;

class Service {
 public:
  static Result<std::unique_ptr<Service>> open(netlink::RouteClient& routes, const std::string& pin_dir);
  // Compiles and installs `config` (rules swapped atomically); paths whose device is not known
  // yet get their route when they come up. Errors name the policy or path.
  Status apply(const config::Config& config, const PathResolver& resolve);
  // A path came up or went down (a tunnel's CHILD_SA installed or gone): its route is
  // installed again when up, and each profile that uses it moves to its first up path.
  void set_path_up(const std::string& path, bool up, const PathResolver& resolve);
  nlohmann::json describe() const;  // profiles with their paths (up/down, active), rules

 private:
  Service(netlink::RouteClient& routes, std::unique_ptr<bpf::SteerProgram> prog) : routes_(routes), prog_(std::move(prog)) {}
  void choose_active_paths();
  bool up(const std::string& path) const;

  netlink::RouteClient& routes_;
  std::unique_ptr<bpf::SteerProgram> prog_;
  Compiled compiled_;
  std::map<std::string, bool> up_;                  // tunnel paths; breakout paths are always up
  std::map<uint32_t, uint32_t> active_;             // profile id -> index of its active path
  std::vector<std::string> profile_names_;          // by profile id
};

}  // namespace sedge::steering
