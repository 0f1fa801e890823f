// Steering as the daemon runs it: the configuration compiled (connector paths expanded to their
// tunnels), the classifier loaded and attached at every LAN, each path's rule and route table
// installed, and the paths' health turned into the active path of every profile by one map
// write: an ordered profile fails over at once and goes back to a better path after its
// hold-down (PreemptDelaySec=, flap damping: selector.h), a weighted one skips the paths that
// are down. sedge-steer is the same library without the health.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "agent/config/config.h"
#include "agent/steering/compiler.h"
#include "agent/steering/paths.h"
#include "agent/steering/selector.h"
#include "bpf/steer_loader.h"
#include "netlink/route.h"

namespace sedge::steering {

// Where a path's traffic goes: its device (and gateway), "" when it has none yet.
using PathResolver = std::function<std::optional<PathRoute>(const std::string& path)>;

class Service {
 public:
  static Result<std::unique_ptr<Service>> open(netlink::RouteClient& routes, const std::string& pin_dir);
  // Compiles and installs `config` (rules swapped atomically); paths whose device is not known
  // yet get their route when they come up. A new SteeringFlowCacheSize= reloads the
  // classifier with an empty cache of that size (rules, active paths and counters are pinned
  // and kept; the filter is replaced in place). Errors name the policy or path. An ordered profile
  // whose paths and PreemptDelaySec= are unchanged keeps its active path and hold-downs; a new
  // or changed one starts on its first up path.
  Status apply(const config::Config& config, const PathResolver& resolve, Time now);
  // A path came up or went down (a tunnel's CHILD_SA installed or gone) at `now`: its route is
  // installed again when up; an ordered profile whose active path went down fails over at once,
  // one that gets a better path back moves to it after its hold-down (tick). Reporting the same
  // state again changes nothing.
  void set_path_up(const std::string& path, bool up, const PathResolver& resolve, Time now);
  // Moves the ordered profiles whose hold-down has ended by `now`; call it at next_timer().
  void tick(Time now);
  // The daemon stops: the classifier leaves the LANs and every path's rule and table route go
  // (the pinned maps stay for the next start, which replaces their contents).
  void shutdown();
  // When the next preempt is due (nullopt: none pending); the caller arms a timer for it.
  std::optional<Time> next_timer() const;
  // Profiles with their paths (up/down, active, hold-down), rules, the flow cache's counters.
  nlohmann::json describe() const;

 private:
  Service(netlink::RouteClient& routes, std::string pin_dir, std::unique_ptr<bpf::SteerProgram> prog)
      : routes_(routes), pin_dir_(std::move(pin_dir)), prog_(std::move(prog)) {}
  Status configure_flow_cache(uint32_t size);
  struct Ordered {                 // an ordered profile's selector, by profile id
    std::string name;
    std::vector<std::string> paths;  // in the profile's order
    Selector selector;
    std::optional<Selector::Switch> move;  // its last move, for the log (none: the configuration)
  };
  void write_active_paths();  // writes every ordered profile's active path that changed
  bool up(const std::string& path) const;

  netlink::RouteClient& routes_;
  std::string pin_dir_;
  std::vector<int> attached_;  // LAN ifindexes the classifier is attached to
  std::unique_ptr<bpf::SteerProgram> prog_;
  Compiled compiled_;
  std::map<std::string, bool> up_;                  // tunnel paths; breakout paths are always up
  std::map<uint32_t, uint32_t> active_;             // profile id -> index of its active path (as written)
  std::map<uint32_t, Ordered> ordered_;             // profile id -> its selector
  std::vector<std::string> profile_names_;          // by profile id
  std::map<std::string, uint64_t> failovers_;       // profile name -> moves away from a path that went down
};

}  // namespace sedge::steering
